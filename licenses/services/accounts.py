"""Pro accounts: opening one (with its trial) and the Stripe facts billing records on it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from licenses.errors import ProAccountExists
from licenses.models import ProAccount, ProAccountStatus
from licenses.services.common import license_event, lock_account

PRO_TRIAL_DAYS = 7


@transaction.atomic
def pro_account_open(*, owner, now: datetime | None = None) -> ProAccount:
    """Open a pro account with a 7-day trial."""
    now = now or timezone.now()
    if ProAccount.objects.filter(owner=owner).exists():
        raise ProAccountExists()
    try:
        with transaction.atomic():
            account = ProAccount.objects.create(
                owner=owner, status=ProAccountStatus.TRIAL,
                trial_ends_at=now + timedelta(days=PRO_TRIAL_DAYS),
            )
    except IntegrityError:  # a concurrent open won
        raise ProAccountExists() from None
    license_event(account, "account_opened", now=now, to_status=account.status, actor=owner,
                  trial_ends_at=account.trial_ends_at.isoformat())
    return account


@transaction.atomic
def pro_account_set_stripe_subscription(*, pro_account: ProAccount, stripe_subscription_id: str) -> ProAccount:
    """Billing records which Stripe subscription bills the monthly seats."""
    account = lock_account(pro_account.pk)
    account.stripe_subscription_id = stripe_subscription_id
    account.save(update_fields=["stripe_subscription_id", "updated_at"])
    return account


@transaction.atomic
def pro_account_record_stripe_seat_quantity(*, pro_account: ProAccount, quantity: int,
                                            observed_at: datetime) -> bool:
    """Billing records the grouped subscription's quantity as Stripe last reported it (it
    set it, or a subscription event carried it). An observation older than the one kept
    changes nothing. Returns whether it was recorded."""
    account = lock_account(pro_account.pk)
    if account.stripe_seat_quantity_at is not None and observed_at < account.stripe_seat_quantity_at:
        return False
    account.stripe_seat_quantity = quantity
    account.stripe_seat_quantity_at = observed_at
    account.save(update_fields=["stripe_seat_quantity", "stripe_seat_quantity_at", "updated_at"])
    return True
