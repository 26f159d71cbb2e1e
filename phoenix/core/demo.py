"""Demo data for `make run`: each app may ship a ``demo.py`` with ``seed(out)``.

`manage.py seed_demo` imports every installed app's ``demo`` module and runs their
``seed`` functions in INSTALLED_APPS order. Seeds must be idempotent.
"""

from __future__ import annotations

import secrets
from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.conf import settings

DEMO_EMAILS = ("ada@demo.phoenix.local", "grace@demo.phoenix.local", "linus@demo.phoenix.local")


def random_password() -> str:
    return secrets.token_urlsafe(12)


def credentials_file():
    path = settings.PHOENIX_DATA_DIR / "credentials.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def remember_credentials(email: str, password: str) -> None:
    """Development only (embedded services): keep printed passwords for later lookup."""
    if not settings.EMBEDDED_SERVICES:
        return
    path = credentials_file()
    with open(path, "a") as handle:
        handle.write(f"{email}\t{password}\n")
    path.chmod(0o600)


def seed_all(out) -> None:
    for config in apps.get_app_configs():
        module_name = f"{config.name}.demo"
        if find_spec(module_name) is None:
            continue
        module = import_module(module_name)
        if hasattr(module, "seed"):
            module.seed(out)
