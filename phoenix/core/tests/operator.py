"""Helpers for every app's operator-action tests (the admin pages of phoenix.core.admin)."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

_numbers = itertools.count(1)


def new_user(**fields):
    """A bare user (core sits below accounts: its tests do not use accounts' factories)."""
    return get_user_model().objects.create_user(email=f"core-user{next(_numbers)}@example.com",
                                                password="a-Long-test-passphrase-42", **fields)


def staff(role: str | None):
    """A staff user in the given role group (None: staff without a role)."""
    user = new_user(is_staff=True)
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
