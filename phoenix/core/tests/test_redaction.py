"""Log redaction: fed every kind of secret, the written line holds none of them."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import subprocess
import sys

import pytest
import structlog
from django.conf import settings

from phoenix.core.logging import REDACTED, redact_sentry_event, redact_value

CARD = "4242 4242 4242 4242"
SECRETS = {
    "email": "alice.martin+luna@example.com",
    "password": "correct horse battery staple",
    "token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
    "api_key": "AbCdEfGh.0123456789abcdefghijklmnopqrstuv",
    "card": CARD,
    "card_compact": "4000056655665556",
    "amex": "3782 822463 10005",
    "stripe_secret": "sk_live_51HqLyjWDarjtT1zdp7dc",
    "stripe_test_secret": "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "restricted": "rk_live_51HqLyjWDarjtT1zdp7dcXX",
    "webhook_secret": "whsec_5f8a0c3e9d2b4a6f8e1c3b5d7a9f",
    "client_secret": "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
}


def _fed_event() -> dict:
    """Each secret under a telling key, under a neutral key, inside text and nested."""
    return {
        "event": (f"login failed for {SECRETS['email']} with password={SECRETS['password']!r}; "
                  f"card {SECRETS['card']} / {SECRETS['amex']}; key {SECRETS['stripe_secret']}"),
        "email": SECRETS["email"],
        "password": SECRETS["password"],
        "new_password1": SECRETS["password"],
        "token": SECRETS["token"],
        "api_key": SECRETS["api_key"],
        "authorization": f"Token {SECRETS['token']}",
        "headers": {"Authorization": f"Api-Key {SECRETS['api_key']}", "Cookie": "sessionid=abc123def456",
                    "Stripe-Signature": "t=1,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"},
        "detail": f"Bearer {SECRETS['token']} for {SECRETS['email']}",
        "note": [f"paid with {SECRETS['card_compact']}", {"secret": SECRETS["webhook_secret"]}],
        "stripe": {"client_secret": SECRETS["client_secret"], "key": SECRETS["restricted"],
                   "message": f"Invalid API Key provided: {SECRETS['stripe_test_secret']}"},
        "url": f"/auth/reset?token={SECRETS['token']}&email={SECRETS['email']}",
        "payment_card": {"number": SECRETS["card_compact"], "cvc": "123", "exp_month": 12},
        # What must stay: ids, amounts, timestamps, request ids, idempotency keys.
        "wallet_id": 42, "payment_id": 7, "amount": 1500, "timestamp": "2026-12-02T05:22:02.123456Z",
        "request_id": "1d2a6c4e-1234-4567-8901-123456789012", "idempotency_key": "consume-2026-12-02-0001",
        "stripe_event_id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
    }


def _assert_clean(text: str) -> None:
    for name, secret in SECRETS.items():
        assert secret not in text, f"{name} leaked: {text}"
    assert "correct horse" not in text and "9944b091" not in text
    assert "5257a869" not in text and "abc123def456" not in text


def test_redact_value_removes_every_secret_and_keeps_ids():
    redacted = redact_value(_fed_event())
    text = json.dumps(redacted)
    _assert_clean(text)
    assert redacted["password"] == REDACTED and redacted["headers"]["Authorization"] == REDACTED
    assert redacted["payment_card"] == REDACTED
    assert (redacted["wallet_id"], redacted["payment_id"], redacted["amount"]) == (42, 7, 1500)
    for kept in ("timestamp", "request_id", "idempotency_key", "stripe_event_id"):
        assert redacted[kept] == _fed_event()[kept]
    assert "login failed for [REDACTED] with password=[REDACTED]" in redacted["event"]


@pytest.mark.parametrize("not_a_card", ["4242 4242 4242 4241", "1234567890123", "2026-12-02 05:22:02"])
def test_numbers_that_are_not_cards_are_kept(not_a_card):
    assert redact_value(f"ref {not_a_card}") == f"ref {not_a_card}"


@pytest.mark.parametrize("formatter", ["json", "console"])
def test_the_configured_log_formatters_write_no_secret(formatter):
    """Through the real LOGGING formatters, for structlog and for a plain stdlib logger,
    including an exception whose message carries secrets."""
    stream = io.StringIO()
    config = {**settings.LOGGING, "handlers": {"capture": {
        "class": "logging.StreamHandler", "formatter": formatter, "stream": stream}},
        "root": {"handlers": ["capture"], "level": "INFO"}, "loggers": {}}
    logging.config.dictConfig(config)
    try:
        fed = _fed_event()
        structlog.get_logger("phoenix.test").info(fed.pop("event"), **fed)
        logging.getLogger("phoenix.test.stdlib").warning("Forbidden: %s by %s", "/admin/", SECRETS["email"])
        try:
            raise ValueError(f"Stripe refused {SECRETS['stripe_secret']} for {SECRETS['email']}")
        except ValueError:
            structlog.get_logger("phoenix.test").exception("stripe_failed", payment_id=7)
    finally:
        logging.config.dictConfig(settings.LOGGING)
    written = stream.getvalue()
    assert "stripe_failed" in written and "ValueError" in written and "Forbidden" in written
    _assert_clean(written)
    assert "wallet_id" in written and "42" in written


def test_sentry_events_get_the_same_redaction():
    event = {"request": {"headers": {"Authorization": f"Token {SECRETS['token']}"},
                         "data": {"email": SECRETS["email"], "password": SECRETS["password"]},
                         "query_string": f"token={SECRETS['token']}"},
             "user": {"id": 3, "email": SECRETS["email"]},
             "exception": {"values": [{"type": "CardError", "value": f"card {SECRETS['card']} declined"}]},
             "breadcrumbs": {"values": [{"message": f"stripe key {SECRETS['stripe_secret']}"}]},
             "extra": {"client_secret": SECRETS["client_secret"]}}
    redacted = redact_sentry_event(event, {})
    _assert_clean(json.dumps(redacted))
    assert redacted["user"]["id"] == 3


SENTRY_PROBE = """
import json, django, sentry_sdk
from sentry_sdk.transport import Transport
django.setup()
from phoenix.core.logging import redact_sentry_event
client = sentry_sdk.get_client()
assert client.is_active() and client.options["before_send"] is redact_sentry_event
assert client.options["send_default_pii"] is False
sent = []
class Capture(Transport):
    def capture_envelope(self, envelope):
        sent.extend(item.payload.json for item in envelope.items if item.payload.json)
client.transport = Capture(client.options)
sentry_sdk.set_user({"id": 3, "email": "alice.martin+luna@example.com"})
try:
    raise RuntimeError("Stripe refused sk_live_51HqLyjWDarjtT1zdp7dc for alice.martin+luna@example.com")
except RuntimeError as exc:
    sentry_sdk.capture_exception(exc)
sentry_sdk.flush()
print(json.dumps(sent))
"""


def test_sentry_is_on_by_its_dsn_and_sends_redacted_events():
    """The real settings with SENTRY_DSN set (a fresh process: Sentry is set up at settings
    import), the event caught at the transport, before any network."""
    env = {**os.environ, "SENTRY_DSN": "https://public@sentry.invalid/1",
           "DJANGO_SETTINGS_MODULE": "phoenix.settings_test"}
    done = subprocess.run([sys.executable, "-c", SENTRY_PROBE], env=env, cwd=settings.BASE_DIR,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    events = json.loads(done.stdout.strip().splitlines()[-1])
    assert events and events[0]["exception"]["values"][0]["type"] == "RuntimeError"
    text = json.dumps(events)
    assert "sk_live_51HqLyjWDarjtT1zdp7dc" not in text and "alice.martin" not in text
    assert events[0]["user"]["id"] == 3
