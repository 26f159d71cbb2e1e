"""The development environment that `make run`, `manage.py` and `make shell` share.

On a machine without ``DATABASE_URL`` (development: the settings start embedded PostgreSQL
and Redis under the data folder), the secrets a developer never sets by hand are generated
once into that folder and reused by every entry point, so a by-hand ``manage.py`` command
talks to the same stack with the same keys as ``make run``. Where ``DATABASE_URL`` is set
(production, CI's external run) nothing is generated: the settings refuse to start without a
real ``SECRET_KEY``, as they should.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("PHOENIX_DATA_DIR", BASE_DIR / ".devdata"))


def _generated_secret(path: Path, make) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def development_environment_prepare(*, always: bool = False) -> dict[str, str]:
    """Set the development defaults in ``os.environ``; return the ones it generated.
    ``always``: `make run`, which is development even against an external DATABASE_URL."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phoenix.settings")
    if os.environ.get("DATABASE_URL") and not always:
        return {}
    os.environ.setdefault("LOG_FORMAT", "console")  # a person reads a by-hand command's output
    # Development is plain HTTP on localhost: no HTTPS redirect, HSTS or secure-only cookies
    # (settings' defaults with DEBUG off are the production ones).
    for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        os.environ.setdefault(name, "off")
    os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
    folder = data_dir()
    generated = {}
    if not os.environ.get("SECRET_KEY"):
        generated["SECRET_KEY"] = _generated_secret(folder / "secret_key", lambda: secrets.token_urlsafe(64))
    if not os.environ.get("STRIPE_WEBHOOK_SECRET"):
        # Standard Stripe form (whsec_...): `manage.py stripe_demo_events` signs with it.
        generated["STRIPE_WEBHOOK_SECRET"] = _generated_secret(
            folder / "stripe_webhook_secret", lambda: "whsec_" + secrets.token_urlsafe(32))
    os.environ.update(generated)
    return generated
