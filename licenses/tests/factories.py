"""Builders for license tests: real services, explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime

from licenses import services
from licenses.models import LicenseKind, ProAccount
from subscriptions.tests.factories import trial_user

__all__ = ["T0", "linked_collaborator", "pro_account", "pro_account_with_seats", "trial_user"]

# The license tests' clock: the last day of a month, so grouped billing dates clamp.
T0 = datetime(2027, 1, 31, 10, tzinfo=UTC)


def pro_account(*, now: datetime) -> ProAccount:
    return services.pro_account_open(owner=trial_user(now=now), now=now)


def pro_account_with_seats(*, now: datetime, monthly: int = 0, lifetime: int = 0) -> ProAccount:
    """An account opened at ``now`` that bought its seats at ``now`` (so it is active)."""
    account = pro_account(now=now)
    for kind, quantity in ((LicenseKind.MONTHLY, monthly), (LicenseKind.LIFETIME, lifetime)):
        if quantity:
            services.license_purchase(pro_account=account, kind=kind, quantity=quantity, event_time=now)
    account.refresh_from_db()
    return account


def linked_collaborator(account: ProAccount, *, now: datetime, premium_cancel_consent: bool = False):
    """A new user invited by the pro who accepted (with or without consent to the
    cancellation of their own paid plan)."""
    user = trial_user(now=now)
    invitation = services.invitation_send(pro_account=account, email=user.email, actor=account.owner, now=now)
    services.invitation_accept(invitation=invitation, user=user, premium_cancel_consent=premium_cancel_consent,
                               now=now)
    return user
