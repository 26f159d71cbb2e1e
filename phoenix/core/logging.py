"""Log redaction: no e-mail, password, token, API key, card number or Stripe secret is written.

``redact_processor`` is the last structlog processor before rendering (after the exception
is formatted, so a traceback's text is scrubbed too); ``redact_sentry_event`` applies the
same rules to what the Sentry SDK would send. Two rules, applied to every nested value:

- a key that names a secret (``password``, ``token``, ``api_key``, ``email``, ``card``,
  ``authorization``, ``cookie``, ``secret``, ``signature``, ...) has its value replaced;
- every string is scrubbed of what looks like one wherever it appears (an e-mail address,
  a Stripe key or client secret, a bearer/Token/Api-Key credential, a ``password=...``
  pair, a card number passing the Luhn check).
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

# Key words (split on anything not a letter) that make a key's value secret.
_SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "secret", "token", "authorization", "cookie", "cookies", "csrftoken",
    "sessionid", "card", "cvc", "cvv", "pan", "iban", "email", "mail", "signature", "dsn", "credentials",
})
_SECRET_PAIRS = frozenset({("api", "key"), ("apikey",), ("private", "key"), ("secret", "key"),
                           ("client", "secret"), ("access", "key"), ("set", "cookie")})
_WORD = re.compile(r"[a-z]+")  # digits split words too: new_password1, password2

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# Stripe: secret/restricted keys, webhook secrets, PaymentIntent/SetupIntent client secrets.
_STRIPE_SECRET = re.compile(
    r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9]+|\b(?:pi|seti)_[A-Za-z0-9]+_secret_[A-Za-z0-9]+"
)
_AUTH_CREDENTIAL = re.compile(r"\b(Bearer|Token|Api-Key|Basic)\s+[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE)
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(password|passwd|secret|token|api[_-]?key|client_secret|authorization)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&,;]+)"
)
# 13-19 digits in one run, or in groups of 4 (4-4-4-4, 4-6-5 Amex) separated by a space or a dash.
_CARD_CANDIDATE = re.compile(
    r"(?<![\w-])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{5})(?![\w-])"
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return REDACTED if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def redact_text(text: str) -> str:
    text = _STRIPE_SECRET.sub(REDACTED, text)
    text = _AUTH_CREDENTIAL.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _EMAIL.sub(REDACTED, text)
    return _CARD_CANDIDATE.sub(_card, text)


def is_secret_key(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    words = _WORD.findall(key.lower())
    if _SECRET_WORDS.intersection(words):
        return True
    pairs = set(zip(words, words[1:], strict=False)) | {(word,) for word in words}
    return bool(_SECRET_PAIRS & pairs)


def redact_value(value: Any, *, depth: int = 0) -> Any:
    if depth > 12:  # a pathological structure: drop it rather than write it unread
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_key(k) and v not in (None, "") else redact_value(v, depth=depth + 1))
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item, depth=depth + 1) for item in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


def redact_processor(logger, method_name: str, event_dict: dict) -> dict:
    """structlog processor: the event dict with every secret replaced (see the module doc)."""
    return redact_value(event_dict)


def redact_sentry_event(event: dict, hint: dict | None = None) -> dict:
    """Sentry ``before_send`` / ``before_send_transaction`` / ``before_breadcrumb``."""
    return redact_value(event)
