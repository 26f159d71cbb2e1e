"""Helpers for every app's operator-action tests (the admin pages of phoenix.core.admin)."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.urls import reverse

from phoenix.accounts.tests.factories import UserFactory


def staff(role: str | None):
    """A staff user in the given role group (None: staff without a role)."""
    user = UserFactory(is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def spy(monkeypatch, module, name):
    """Wrap module.name so the test sees that the operator action called that service."""
    calls = []
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def op_url(model_label: str, name: str, *args) -> str:
    return reverse(f"admin:{model_label}_operator_{name}", args=args)
