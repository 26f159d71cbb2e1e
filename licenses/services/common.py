"""What every licenses service shares: the rows locked in order, the event row, the end of
a license on its date, and the after-commit notices to billing.

Lock order everywhere: ProAccount -> License (id order) -> PendingAssignment -> the
collaborator's Access (through `subscriptions.services`).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from licenses.errors import LicenseNotFound
from licenses.events import license_event_emit
from licenses.models import License, LicenseEvent, LicenseKind, LicenseStatus, PendingAssignment, ProAccount
from licenses.signals import billable_seats_changed
from subscriptions import services as access_services


def lock_account(pro_account_id: int) -> ProAccount:
    return ProAccount.objects.select_for_update(of=("self",)).get(pk=pro_account_id)


def lock_license(license_id: int, *, pro_account: ProAccount) -> License:
    lic = License.objects.select_for_update(of=("self",)).filter(pk=license_id, pro_account=pro_account).first()
    if lic is None:
        raise LicenseNotFound()
    return lic


def license_event(account: ProAccount, kind: str, *, now: datetime, lic: License | None = None,
                  from_status: str = "", to_status: str = "", collaborator=None, actor=None,
                  reference: str = "", **detail) -> LicenseEvent:
    event = LicenseEvent.objects.create(
        pro_account=account, license_pk=lic.pk if lic is not None else None, kind=kind,
        from_status=from_status, to_status=to_status, collaborator=collaborator, actor=actor,
        event_time=now, reference=reference, detail=detail,
    )
    license_event_emit(event, account=account, lic=lic)
    return event


def billing_guard(account: ProAccount, *, kind: str, event_time: datetime, reference: str) -> str | None:
    if reference and LicenseEvent.objects.filter(pro_account=account, kind=kind, reference=reference).exists():
        return "duplicate"
    if account.billing_event_at is not None and event_time < account.billing_event_at:
        return "stale"
    return None


def effective_date(account: ProAccount, *, now: datetime) -> datetime:
    """Cancel/unlink take effect on the grouped billing date; an account without one
    (lifetime seats only) has no cycle to wait for: at once."""
    if account.next_billing_at is not None and account.next_billing_at > now:
        return account.next_billing_at
    return now


def end_license(lic: License, *, account: ProAccount, now: datetime, actor=None) -> str:
    """A canceled/unlinked license reached its date: monthly deleted, lifetime back to the
    pool; the collaborator loses licensed access (keeping access of their own)."""
    collaborator = lic.assignee
    from_status = lic.status
    if lic.kind == LicenseKind.MONTHLY:
        action, to_status = "delete_license", ""
        pk = lic.pk
        lic.delete()
        lic.pk = pk  # for the event row
    else:
        action, to_status = "return_to_pool", LicenseStatus.AVAILABLE
        lic.status = LicenseStatus.AVAILABLE
        lic.assignee = None
        lic.assigned_at = None
        lic.effective_at = None
        lic.is_owner_license = False
        lic.save()
    license_event(account, "license_deleted" if action == "delete_license" else "license_returned_to_pool",
                  now=now, lic=lic, from_status=from_status, to_status=to_status,
                  collaborator=collaborator, actor=actor, kind_of_license=lic.kind)
    if collaborator is not None:
        access_services.access_revoke_license(user=collaborator, now=now)
    return action


def notify_billable_seats_changed(account: ProAccount, *, reason: str) -> None:
    """After commit, tell billing the monthly seats this account pays for changed (it
    re-aligns the grouped Stripe subscription's quantity; licenses never imports billing)."""
    pk = account.pk
    transaction.on_commit(lambda: billable_seats_changed.send(sender=ProAccount, pro_account_id=pk, reason=reason))


def abort_pending(pending: PendingAssignment, *, account: ProAccount, now: datetime, reason: str,
                  actor=None) -> None:
    license_event(account, "assignment_aborted", now=now, lic=pending.license,
                  collaborator=pending.collaborator, actor=actor, reason=reason)
    pending.delete()


def mark_ending(lic: License, *, account: ProAccount, status: str, now: datetime, actor) -> None:
    from_status = lic.status
    lic.status = status
    lic.effective_at = effective_date(account, now=now)
    lic.save()
    license_event(account, f"license_{status}", now=now, lic=lic, from_status=from_status, to_status=status,
                  collaborator=lic.assignee, actor=actor, effective_at=lic.effective_at.isoformat())
    if lic.effective_at <= now:
        end_license(lic, account=account, now=now, actor=actor)
    if lic.kind == LicenseKind.MONTHLY:
        # No longer billed from the next grouped date: Stripe's quantity goes down now
        # (without proration: this cycle is paid, the seat is kept until its end).
        notify_billable_seats_changed(account, reason=f"license_{status}")
