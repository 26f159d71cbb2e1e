"""Monthly seats suspended and reactivated: by the grouped renewal (billing-driven, paid or
failed) and by an operator (back office)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from licenses.errors import ProAccountNotSuspendable, ProAccountNotSuspended
from licenses.grouped_dates import next_grouped_date
from licenses.models import ENDING, License, LicenseKind, LicenseStatus, ProAccount, ProAccountStatus
from licenses.services.common import (
    billing_guard,
    end_license,
    license_event,
    lock_account,
    notify_billable_seats_changed,
)
from subscriptions import services as access_services


@dataclass(frozen=True)
class BillingResult:
    pro_account: ProAccount
    applied: bool
    reason: str = "applied"  # applied | duplicate | stale | unchanged


def _suspend_monthly_seats(account: ProAccount, *, now: datetime, actor=None) -> None:
    """Monthly seats (active or in the pool) suspended, their holders lose access meanwhile;
    lifetime seats are paid for good and stay untouched."""
    for lic in License.objects.select_for_update(of=("self",)).filter(
        pro_account=account, kind=LicenseKind.MONTHLY,
        status__in=(LicenseStatus.ACTIVE, LicenseStatus.AVAILABLE),
    ).select_related("assignee").order_by("id"):
        from_status = lic.status
        lic.status = LicenseStatus.SUSPENDED
        lic.save()
        license_event(account, "license_suspended", now=now, lic=lic, from_status=from_status,
                      to_status=lic.status, collaborator=lic.assignee, actor=actor)
        if lic.assignee_id:
            access_services.access_suspend_license(user=lic.assignee, now=now)


def _reactivate_suspended_seats(account: ProAccount, *, now: datetime, actor=None) -> None:
    """Suspended seats become active again (or available when unassigned)."""
    for lic in License.objects.select_for_update(of=("self",)).filter(
        pro_account=account, status=LicenseStatus.SUSPENDED
    ).select_related("assignee").order_by("id"):
        lic.status = LicenseStatus.ACTIVE if lic.assignee_id else LicenseStatus.AVAILABLE
        lic.save()
        license_event(account, "license_reactivated", now=now, lic=lic, from_status=LicenseStatus.SUSPENDED,
                      to_status=lic.status, collaborator=lic.assignee, actor=actor)
        if lic.assignee_id:
            access_services.access_reactivate_license(user=lic.assignee, now=now)


@transaction.atomic
def pro_renewal_paid(*, pro_account: ProAccount, event_time: datetime, reference: str = "") -> BillingResult:
    """The grouped invoice is paid: due canceled/unlinked seats are processed, suspended
    seats become active again (or available when unassigned), the account is active."""
    account = lock_account(pro_account.pk)
    if ignored := billing_guard(account, kind="renewal_paid", event_time=event_time, reference=reference):
        return BillingResult(account, False, ignored)
    account.billing_event_at = event_time
    monthly_ended = False
    for lic in License.objects.select_for_update(of=("self",)).filter(
        pro_account=account, status__in=ENDING, effective_at__lte=event_time
    ).select_related("assignee").order_by("id"):
        monthly_ended |= lic.kind == LicenseKind.MONTHLY
        end_license(lic, account=account, now=event_time)
    if monthly_ended:
        notify_billable_seats_changed(account, reason="renewal_paid")
    _reactivate_suspended_seats(account, now=event_time)
    from_status = account.status
    if account.status == ProAccountStatus.SUSPENDED:
        account.status = ProAccountStatus.ACTIVE
    if account.next_billing_at is not None and account.next_billing_at <= event_time:
        account.next_billing_at = next_grouped_date(anchor_day=account.billing_anchor_day, after=event_time)
    account.save()
    license_event(account, "renewal_paid", now=event_time, from_status=from_status, to_status=account.status,
                  reference=reference)
    return BillingResult(account, True)


@transaction.atomic
def pro_renewal_failed(*, pro_account: ProAccount, event_time: datetime, reference: str = "") -> BillingResult:
    """First failed grouped renewal: monthly seats suspended (their holders lose access
    meanwhile), lifetime seats untouched, account suspended (the pro must regularize)."""
    account = lock_account(pro_account.pk)
    if ignored := billing_guard(account, kind="renewal_failed", event_time=event_time, reference=reference):
        return BillingResult(account, False, ignored)
    account.billing_event_at = event_time
    _suspend_monthly_seats(account, now=event_time)
    from_status = account.status
    account.status = ProAccountStatus.SUSPENDED
    account.save()
    license_event(account, "renewal_failed", now=event_time, from_status=from_status, to_status=account.status,
                  reference=reference)
    return BillingResult(account, True)


@transaction.atomic
def pro_account_suspend(*, pro_account: ProAccount, actor, reason: str,
                        now: datetime | None = None) -> ProAccount:
    """An operator suspends an active account (fraud, unpaid outside Stripe, ...): the same
    effect as a failed renewal (monthly seats suspended, lifetime seats kept)."""
    now = now or timezone.now()
    account = lock_account(pro_account.pk)
    if account.status != ProAccountStatus.ACTIVE:
        raise ProAccountNotSuspendable(status=account.status)
    _suspend_monthly_seats(account, now=now, actor=actor)
    account.status = ProAccountStatus.SUSPENDED
    account.save()
    license_event(account, "account_suspended", now=now, from_status=ProAccountStatus.ACTIVE,
                  to_status=account.status, actor=actor, reason=reason)
    return account


@transaction.atomic
def pro_account_reactivate(*, pro_account: ProAccount, actor, reason: str,
                           now: datetime | None = None) -> ProAccount:
    """Lift a suspension (operator's or a failed renewal's, once settled): suspended seats
    back to active/available, the account active. Canceled/unlinked seats keep their date."""
    now = now or timezone.now()
    account = lock_account(pro_account.pk)
    if account.status != ProAccountStatus.SUSPENDED:
        raise ProAccountNotSuspended(status=account.status)
    _reactivate_suspended_seats(account, now=now, actor=actor)
    account.status = ProAccountStatus.ACTIVE
    account.save()
    license_event(account, "account_reactivated", now=now, from_status=ProAccountStatus.SUSPENDED,
                  to_status=account.status, actor=actor, reason=reason)
    return account
