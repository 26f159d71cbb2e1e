"""Builders for access tests: real services, explicit clock."""

from __future__ import annotations

from datetime import datetime

from phoenix.accounts.tests.factories import UserFactory
from subscriptions.models import Access
from subscriptions.services import access_open_trial


def trial_user(*, now: datetime):
    """A user whose TRIAL opened at ``now`` (as registration opens it)."""
    user = UserFactory()
    access_open_trial(user=user, now=now)
    return user


def trial_access(*, now: datetime) -> Access:
    return access_open_trial(user=UserFactory(), now=now)
