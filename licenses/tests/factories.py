"""Builders for license tests: real services, explicit clock."""

from __future__ import annotations

from datetime import datetime

from licenses import services
from licenses.models import ProAccount
from phoenix.accounts.tests.factories import UserFactory
from subscriptions.services import access_open_trial


def trial_user(*, now: datetime):
    user = UserFactory()
    access_open_trial(user=user, now=now)
    return user


def pro_account(*, now: datetime) -> ProAccount:
    return services.pro_account_open(owner=trial_user(now=now), now=now)


def linked_collaborator(account: ProAccount, *, now: datetime):
    user = trial_user(now=now)
    services.collaborator_link(pro_account=account, collaborator=user, now=now)
    return user
