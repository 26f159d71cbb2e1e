"""Settings for the test suite: the real settings, with a test secret and test data dir.

Tests run on real PostgreSQL and Redis: the servers named by DATABASE_URL / REDIS_URL,
or embedded ones under .devdata/test (kept apart from the development servers).
"""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x9Kq2vLm" * 8)
os.environ.setdefault(
    "PHOENIX_DATA_DIR", str(Path(__file__).resolve().parent.parent / ".devdata" / "test")
)
os.environ.setdefault("LOG_FORMAT", "console")
# The tests' webhook receivers listen on loopback over plain http.
os.environ.setdefault("WEBHOOK_ALLOW_HTTP", "true")
os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "true")
# The test client speaks plain HTTP: the production defaults (HTTPS redirect, HSTS, secure
# cookies) are tested by a production-mode start (phoenix/core/tests/test_production.py).
for _name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
    os.environ.setdefault(_name, "off")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")

from phoenix.settings import *  # noqa: E402, F403

# Fast password hashing: the hasher is Django's business, not what these tests check.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CACHES["default"]["KEY_PREFIX"] = "phoenix-test"  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
