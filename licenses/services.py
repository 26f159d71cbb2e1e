"""Every write on pro accounts and licenses: the rules of DESIGN.md §5.

- One transaction per service. Rows are locked in one order everywhere:
  ProAccount -> License (id order) -> PendingAssignment -> the collaborator's Access
  (through `subscriptions.services`). Two assignments racing for one license serialize
  on the license row; two licenses racing for one collaborator serialize on their Access
  row, and the partial UNIQUE on ``License.assignee`` backs both.
- A collaborator's access changes only through `subscriptions.services`.
- Every change writes a ``LicenseEvent`` (append-only). Billing-driven services
  (purchase, renewal paid/failed, finalize) take the Stripe ``event_time`` and an optional
  ``reference`` (event / checkout id): a replayed reference or an event older than the
  newest one applied changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from licenses.grouped_dates import next_grouped_date
from licenses.models import (
    ENDING,
    License,
    LicenseEvent,
    LicenseKind,
    LicenseStatus,
    Membership,
    PendingAssignment,
    ProAccount,
    ProAccountStatus,
)
from licenses.selectors import (
    JobStep,
    PurchaseQuote,
    grouped_billing_plan,
    license_purchase_quote,
    pro_trial_expiry_plan,
)
from licenses.signals import billable_seats_changed, license_assignment_pending
from phoenix.core.errors import ConflictError, NotFoundError, PhoenixError
from subscriptions import services as access_services
from phoenix.core.jobs import advisory_lock
from subscriptions.models import AccessType, LicenseOverlay
from subscriptions.services import AlreadyLicensed, AlreadyLifetime, JobAlreadyRunning

PRO_TRIAL_DAYS = 7


class ProAccountExists(ConflictError):
    code = "pro_account_exists"
    default_detail = "This user already has a pro account."


class ProAccountNotActive(ConflictError):
    code = "pro_account_not_active"
    default_detail = "The pro account must be active (buy a license, or regularize the payment)."


class LicenseNotFound(NotFoundError):
    code = "license_not_found"
    default_detail = "No such license in this pro account."


class LicenseNotAvailable(ConflictError):
    code = "license_not_available"
    default_detail = "The license is not available for assignment."


class NotACollaborator(ConflictError):
    code = "not_a_collaborator"
    default_detail = "The user is not linked to this pro account."


class AlreadyLinked(ConflictError):
    code = "already_linked"
    default_detail = "The user is already linked to this pro account."


class CannotLinkOwner(PhoenixError):
    code = "cannot_link_owner"
    default_detail = "The owner of a pro account is not one of its collaborators."


class AssignmentPending(ConflictError):
    code = "assignment_pending"
    default_detail = "A license assignment to this user already waits for Stripe."


class LicenseNotCancelable(ConflictError):
    code = "license_not_cancelable"
    default_detail = "This license cannot be canceled in its current state."


class LicenseNotUnlinkable(ConflictError):
    code = "license_not_unlinkable"
    default_detail = "This license is not assigned to anybody."


class InvalidQuantity(PhoenixError):
    code = "invalid_quantity"
    default_detail = "Quantity must be between 1 and 1000."


@dataclass(frozen=True)
class AssignResult:
    license: License
    outcome: str  # "assigned" | "needs_cancel_existing"
    pending: PendingAssignment | None = None


@dataclass(frozen=True)
class PurchaseResult:
    licenses: list[License]
    quote: PurchaseQuote | None
    applied: bool = True
    reason: str = "applied"  # applied | duplicate


@dataclass(frozen=True)
class BillingResult:
    pro_account: ProAccount
    applied: bool
    reason: str = "applied"  # applied | duplicate | stale | unchanged


# --- helpers ------------------------------------------------------------------------


def _lock_account(pro_account_id: int) -> ProAccount:
    return ProAccount.objects.select_for_update(of=("self",)).get(pk=pro_account_id)


def _lock_license(license_id: int, *, pro_account: ProAccount) -> License:
    lic = License.objects.select_for_update(of=("self",)).filter(pk=license_id, pro_account=pro_account).first()
    if lic is None:
        raise LicenseNotFound()
    return lic


def _event(account: ProAccount, kind: str, *, now: datetime, lic: License | None = None,
           from_status: str = "", to_status: str = "", collaborator=None, actor=None,
           reference: str = "", **detail) -> LicenseEvent:
    return LicenseEvent.objects.create(
        pro_account=account, license_pk=lic.pk if lic is not None else None, kind=kind,
        from_status=from_status, to_status=to_status, collaborator=collaborator, actor=actor,
        event_time=now, reference=reference, detail=detail,
    )


def _billing_guard(account: ProAccount, *, kind: str, event_time: datetime, reference: str) -> str | None:
    if reference and LicenseEvent.objects.filter(pro_account=account, kind=kind, reference=reference).exists():
        return "duplicate"
    if account.billing_event_at is not None and event_time < account.billing_event_at:
        return "stale"
    return None


def _effective_date(account: ProAccount, *, now: datetime) -> datetime:
    """Cancel/unlink take effect on the grouped billing date; an account without one
    (lifetime seats only) has no cycle to wait for: at once."""
    if account.next_billing_at is not None and account.next_billing_at > now:
        return account.next_billing_at
    return now


def _end_license(lic: License, *, account: ProAccount, now: datetime, actor=None) -> str:
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
    _event(account, "license_deleted" if action == "delete_license" else "license_returned_to_pool",
           now=now, lic=lic, from_status=from_status, to_status=to_status,
           collaborator=collaborator, actor=actor, kind_of_license=lic.kind)
    if collaborator is not None:
        access_services.access_revoke_license(user=collaborator, now=now)
    return action


def _notify_billable_seats_changed(account: ProAccount, *, reason: str) -> None:
    """After commit, tell billing the monthly seats this account pays for changed (it
    re-aligns the grouped Stripe subscription's quantity; licenses never imports billing)."""
    pk = account.pk
    transaction.on_commit(lambda: billable_seats_changed.send(sender=ProAccount, pro_account_id=pk, reason=reason))


def _abort_pending(pending: PendingAssignment, *, account: ProAccount, now: datetime, reason: str,
                   actor=None) -> None:
    _event(account, "assignment_aborted", now=now, lic=pending.license,
           collaborator=pending.collaborator, actor=actor, reason=reason)
    pending.delete()


# --- account and collaborators ------------------------------------------------------


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
    _event(account, "account_opened", now=now, to_status=account.status, actor=owner,
           trial_ends_at=account.trial_ends_at.isoformat())
    return account


@transaction.atomic
def collaborator_link(*, pro_account: ProAccount, collaborator, actor=None,
                      now: datetime | None = None) -> Membership:
    """Link a collaborator (allowed during the trial: the pro sees their profile)."""
    now = now or timezone.now()
    account = _lock_account(pro_account.pk)
    if collaborator.pk == account.owner_id:
        raise CannotLinkOwner()
    if Membership.objects.filter(pro_account=account, collaborator=collaborator).exists():
        raise AlreadyLinked()
    membership = Membership.objects.create(pro_account=account, collaborator=collaborator)
    _event(account, "collaborator_linked", now=now, collaborator=collaborator, actor=actor)
    return membership


@transaction.atomic
def collaborator_unlink(*, pro_account: ProAccount, collaborator, actor=None,
                        now: datetime | None = None) -> License | None:
    """Unlink a collaborator (by the pro, or the collaborator leaving).

    Their license of this account becomes ``unlinked``: they keep access until the
    grouped billing date. A pending assignment to them is dropped. Returns the license.
    """
    now = now or timezone.now()
    account = _lock_account(pro_account.pk)
    membership = Membership.objects.filter(pro_account=account, collaborator=collaborator).first()
    lic = License.objects.select_for_update(of=("self",)).filter(pro_account=account, assignee=collaborator).first()
    if membership is None and lic is None:
        raise NotACollaborator()
    pending = PendingAssignment.objects.select_for_update(of=("self",)).filter(
        license__pro_account=account, collaborator=collaborator).first()
    if pending is not None:
        _abort_pending(pending, account=account, now=now, reason="collaborator_unlinked", actor=actor)
    if membership is not None:
        membership.delete()
        _event(account, "collaborator_unlinked", now=now, collaborator=collaborator, actor=actor)
    if lic is not None and lic.status in (LicenseStatus.ACTIVE, LicenseStatus.SUSPENDED):
        _mark_ending(lic, account=account, status=LicenseStatus.UNLINKED, now=now, actor=actor)
    return lic


def _mark_ending(lic: License, *, account: ProAccount, status: str, now: datetime, actor) -> None:
    from_status = lic.status
    lic.status = status
    lic.effective_at = _effective_date(account, now=now)
    lic.save()
    _event(account, f"license_{status}", now=now, lic=lic, from_status=from_status, to_status=status,
           collaborator=lic.assignee, actor=actor, effective_at=lic.effective_at.isoformat())
    if lic.effective_at <= now:
        _end_license(lic, account=account, now=now, actor=actor)
    if lic.kind == LicenseKind.MONTHLY:
        # No longer billed from the next grouped date: Stripe's quantity goes down now
        # (without proration: this cycle is paid, the seat is kept until its end).
        _notify_billable_seats_changed(account, reason=f"license_{status}")


# --- licenses -------------------------------------------------------------------------


@transaction.atomic
def license_assign(*, license: License, collaborator, actor=None,
                   now: datetime | None = None) -> AssignResult:
    """Assign an available license to the owner or a linked collaborator.

    Collaborator LIFETIME: ``already_lifetime``; holding a license: ``already_licensed``;
    PREMIUM: a ``PendingAssignment`` is recorded (outcome ``needs_cancel_existing``) and
    billing, told by the ``license_assignment_pending`` signal, cancels the personal
    subscription through Stripe, then calls ``license_assignment_finalize``;
    TRIAL/EXPIRED: LICENSED now.
    """
    now = now or timezone.now()
    account = _lock_account(license.pro_account_id)
    if account.status != ProAccountStatus.ACTIVE:
        raise ProAccountNotActive(status=account.status)
    lic = _lock_license(license.pk, pro_account=account)
    if lic.status != LicenseStatus.AVAILABLE or PendingAssignment.objects.filter(license=lic).exists():
        raise LicenseNotAvailable(status=lic.status)
    is_owner = collaborator.pk == account.owner_id
    if not is_owner and not Membership.objects.filter(pro_account=account, collaborator=collaborator).exists():
        raise NotACollaborator()

    # Decide under the collaborator's Access lock: a concurrent assignment of another
    # license to them waits here and then sees LICENSED.
    access = access_services.access_lock(user=collaborator)
    if access.type == AccessType.LIFETIME:
        raise AlreadyLifetime()
    if (access.type == AccessType.LICENSED or access.license_status != LicenseOverlay.NONE
            or License.objects.filter(assignee=collaborator).exists()):
        raise AlreadyLicensed()
    if PendingAssignment.objects.filter(collaborator=collaborator).exists():
        raise AssignmentPending()

    if access.type == AccessType.PREMIUM:
        pending = PendingAssignment.objects.create(
            license=lic, collaborator=collaborator, stripe_subscription_id=access.stripe_subscription_id,
        )
        _event(account, "assignment_pending", now=now, lic=lic, from_status=lic.status,
               to_status=lic.status, collaborator=collaborator, actor=actor,
               stripe_subscription_id=access.stripe_subscription_id)
        transaction.on_commit(lambda: license_assignment_pending.send(sender=PendingAssignment, pending=pending))
        return AssignResult(lic, "needs_cancel_existing", pending)

    _activate(lic, account=account, collaborator=collaborator, now=now, actor=actor)
    return AssignResult(lic, "assigned")


def _activate(lic: License, *, account: ProAccount, collaborator, now: datetime, actor,
              personal_subscription_canceled: bool = False, reference: str = "") -> None:
    access_services.access_grant_license(
        user=collaborator, now=now, personal_subscription_canceled=personal_subscription_canceled,
    )
    from_status = lic.status
    lic.status = LicenseStatus.ACTIVE
    lic.assignee = collaborator
    lic.assigned_at = now
    lic.is_owner_license = collaborator.pk == account.owner_id
    try:
        with transaction.atomic():
            lic.save()
    except IntegrityError:  # the partial UNIQUE on assignee: they got a license meanwhile
        raise AlreadyLicensed() from None
    _event(account, "license_assigned", now=now, lic=lic, from_status=from_status,
           to_status=lic.status, collaborator=collaborator, actor=actor, reference=reference)


@transaction.atomic
def license_assignment_finalize(*, collaborator, event_time: datetime, reference: str = "") -> License | None:
    """Billing calls this when Stripe confirms the collaborator's personal subscription is
    canceled: the pending assignment becomes an active license (LICENSED once billing
    reports the subscription ended through ``access_end_premium``; either order works).

    Idempotent: nothing pending (already finalized, aborted) returns None. If the
    collaborator meanwhile got lifetime access or another license, the pending
    assignment is aborted and the license stays available.
    """
    pending = PendingAssignment.objects.filter(collaborator=collaborator).select_related("license").first()
    if pending is None:
        return None
    account = _lock_account(pending.license.pro_account_id)
    lic = _lock_license(pending.license_id, pro_account=account)
    pending = PendingAssignment.objects.select_for_update(of=("self",)).filter(pk=pending.pk).first()
    if pending is None:
        return None
    access = access_services.access_lock(user=collaborator)
    if (access.type in (AccessType.LIFETIME, AccessType.LICENSED)
            or access.license_status != LicenseOverlay.NONE or lic.status != LicenseStatus.AVAILABLE):
        _abort_pending(pending, account=account, now=event_time, reason="no_longer_assignable")
        return None
    pending.delete()
    _activate(lic, account=account, collaborator=collaborator, now=event_time, actor=None,
              personal_subscription_canceled=True, reference=reference)
    return lic


@transaction.atomic
def license_assignment_abort(*, collaborator, reason: str, now: datetime | None = None) -> bool:
    """Billing calls this when the personal subscription could not be canceled: the
    license stays available. Returns whether something was pending."""
    now = now or timezone.now()
    pending = PendingAssignment.objects.filter(collaborator=collaborator).select_related("license").first()
    if pending is None:
        return False
    account = _lock_account(pending.license.pro_account_id)
    pending = PendingAssignment.objects.select_for_update(of=("self",)).filter(pk=pending.pk).first()
    if pending is None:
        return False
    _abort_pending(pending, account=account, now=now, reason=reason)
    return True


@transaction.atomic
def license_cancel(*, license: License, actor=None, now: datetime | None = None) -> License:
    """Cancel a seat: ``canceled`` until the grouped billing date (the collaborator keeps
    access until then), then monthly deleted, lifetime back to the pool.

    An unassigned monthly seat can be canceled (stop paying for it); an unassigned lifetime
    seat cannot (``license_not_cancelable``). Already canceled/unlinked: unchanged.
    """
    now = now or timezone.now()
    account = _lock_account(license.pro_account_id)
    lic = _lock_license(license.pk, pro_account=account)
    if lic.status in ENDING:
        return lic
    if lic.assignee_id is None and lic.kind == LicenseKind.LIFETIME:
        raise LicenseNotCancelable(status=lic.status)
    pending = PendingAssignment.objects.select_for_update(of=("self",)).filter(license=lic).first()
    if pending is not None:
        _abort_pending(pending, account=account, now=now, reason="license_canceled", actor=actor)
    _mark_ending(lic, account=account, status=LicenseStatus.CANCELED, now=now, actor=actor)
    return lic


def license_unlink(*, license: License, actor=None, now: datetime | None = None) -> License | None:
    """Unlink the collaborator holding this license (same as unlinking the collaborator)."""
    if license.assignee_id is None or license.status not in (LicenseStatus.ACTIVE, LicenseStatus.SUSPENDED, LicenseStatus.UNLINKED):
        raise LicenseNotUnlinkable(status=license.status)
    return collaborator_unlink(pro_account=license.pro_account, collaborator=license.assignee, actor=actor, now=now)


@transaction.atomic
def license_purchase(
    *, pro_account: ProAccount, kind: str, quantity: int, event_time: datetime, reference: str = "",
) -> PurchaseResult:
    """Billing calls this once a purchase is paid (lifetime) or added to the grouped
    invoice (monthly). Creates ``quantity`` available seats; the account becomes active;
    the first monthly purchase sets ``billing_anchor_day`` and the grouped date.
    Idempotent by ``reference`` (checkout session id)."""
    if not 1 <= quantity <= 1000:
        raise InvalidQuantity()
    if kind not in LicenseKind.values:
        raise PhoenixError(code="invalid_kind", detail="kind must be monthly or lifetime.")
    account = _lock_account(pro_account.pk)
    if reference and LicenseEvent.objects.filter(pro_account=account, kind="licenses_purchased",
                                                 reference=reference).exists():
        return PurchaseResult([], None, False, "duplicate")
    quote = license_purchase_quote(pro_account=account, kind=kind, quantity=quantity, now=event_time)
    from_status = account.status
    if quote.sets_anchor_day is not None:
        account.billing_anchor_day = quote.sets_anchor_day
        account.next_billing_at = quote.next_billing_at
    if account.status in (ProAccountStatus.TRIAL, ProAccountStatus.EXPIRED):
        account.status = ProAccountStatus.ACTIVE  # a suspended account stays suspended: it must pay
    account.save()
    licenses = License.objects.bulk_create([License(pro_account=account, kind=kind) for _ in range(quantity)])
    _event(account, "licenses_purchased", now=event_time, from_status=from_status, to_status=account.status,
           reference=reference, kind_of_license=kind, quantity=quantity, license_ids=[lic.pk for lic in licenses],
           amount_cents=quote.amount_cents, prorated_unit_cents=quote.prorated_unit_cents, billed=quote.billed,
           billing_anchor_day=account.billing_anchor_day)
    return PurchaseResult(licenses, quote)


@transaction.atomic
def pro_account_set_stripe_subscription(*, pro_account: ProAccount, stripe_subscription_id: str) -> ProAccount:
    """Billing records which Stripe subscription bills the monthly seats."""
    account = _lock_account(pro_account.pk)
    account.stripe_subscription_id = stripe_subscription_id
    account.save(update_fields=["stripe_subscription_id", "updated_at"])
    return account


@transaction.atomic
def pro_account_record_stripe_seat_quantity(*, pro_account: ProAccount, quantity: int,
                                            observed_at: datetime) -> bool:
    """Billing records the grouped subscription's quantity as Stripe last reported it (it
    set it, or a subscription event carried it). An observation older than the one kept
    changes nothing. Returns whether it was recorded."""
    account = _lock_account(pro_account.pk)
    if account.stripe_seat_quantity_at is not None and observed_at < account.stripe_seat_quantity_at:
        return False
    account.stripe_seat_quantity = quantity
    account.stripe_seat_quantity_at = observed_at
    account.save(update_fields=["stripe_seat_quantity", "stripe_seat_quantity_at", "updated_at"])
    return True


# --- renewal on the grouped date (billing-driven) ----------------------------------


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
        _event(account, "license_suspended", now=now, lic=lic, from_status=from_status,
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
        _event(account, "license_reactivated", now=now, lic=lic, from_status=LicenseStatus.SUSPENDED,
               to_status=lic.status, collaborator=lic.assignee, actor=actor)
        if lic.assignee_id:
            access_services.access_reactivate_license(user=lic.assignee, now=now)




@transaction.atomic
def pro_renewal_paid(*, pro_account: ProAccount, event_time: datetime, reference: str = "") -> BillingResult:
    """The grouped invoice is paid: due canceled/unlinked seats are processed, suspended
    seats become active again (or available when unassigned), the account is active."""
    account = _lock_account(pro_account.pk)
    if ignored := _billing_guard(account, kind="renewal_paid", event_time=event_time, reference=reference):
        return BillingResult(account, False, ignored)
    account.billing_event_at = event_time
    monthly_ended = False
    for lic in License.objects.select_for_update(of=("self",)).filter(
        pro_account=account, status__in=ENDING, effective_at__lte=event_time
    ).select_related("assignee").order_by("id"):
        monthly_ended |= lic.kind == LicenseKind.MONTHLY
        _end_license(lic, account=account, now=event_time)
    if monthly_ended:
        _notify_billable_seats_changed(account, reason="renewal_paid")
    _reactivate_suspended_seats(account, now=event_time)
    from_status = account.status
    if account.status == ProAccountStatus.SUSPENDED:
        account.status = ProAccountStatus.ACTIVE
    if account.next_billing_at is not None and account.next_billing_at <= event_time:
        account.next_billing_at = next_grouped_date(anchor_day=account.billing_anchor_day, after=event_time)
    account.save()
    _event(account, "renewal_paid", now=event_time, from_status=from_status, to_status=account.status,
           reference=reference)
    return BillingResult(account, True)


@transaction.atomic
def pro_renewal_failed(*, pro_account: ProAccount, event_time: datetime, reference: str = "") -> BillingResult:
    """First failed grouped renewal: monthly seats suspended (their holders lose access
    meanwhile), lifetime seats untouched, account suspended (the pro must regularize)."""
    account = _lock_account(pro_account.pk)
    if ignored := _billing_guard(account, kind="renewal_failed", event_time=event_time, reference=reference):
        return BillingResult(account, False, ignored)
    account.billing_event_at = event_time
    _suspend_monthly_seats(account, now=event_time)
    from_status = account.status
    account.status = ProAccountStatus.SUSPENDED
    account.save()
    _event(account, "renewal_failed", now=event_time, from_status=from_status, to_status=account.status,
           reference=reference)
    return BillingResult(account, True)


# --- suspension by an operator (back office) --------------------------------------


class ProAccountNotSuspendable(ConflictError):
    code = "pro_account_not_suspendable"
    default_detail = "Only an active pro account can be suspended."


class ProAccountNotSuspended(ConflictError):
    code = "pro_account_not_suspended"
    default_detail = "Only a suspended pro account can be reactivated."


@transaction.atomic
def pro_account_suspend(*, pro_account: ProAccount, actor, reason: str,
                        now: datetime | None = None) -> ProAccount:
    """An operator suspends an active account (fraud, unpaid outside Stripe, ...): the same
    effect as a failed renewal (monthly seats suspended, lifetime seats kept)."""
    now = now or timezone.now()
    account = _lock_account(pro_account.pk)
    if account.status != ProAccountStatus.ACTIVE:
        raise ProAccountNotSuspendable(status=account.status)
    _suspend_monthly_seats(account, now=now, actor=actor)
    account.status = ProAccountStatus.SUSPENDED
    account.save()
    _event(account, "account_suspended", now=now, from_status=ProAccountStatus.ACTIVE,
           to_status=account.status, actor=actor, reason=reason)
    return account


@transaction.atomic
def pro_account_reactivate(*, pro_account: ProAccount, actor, reason: str,
                           now: datetime | None = None) -> ProAccount:
    """Lift a suspension (operator's or a failed renewal's, once settled): suspended seats
    back to active/available, the account active. Canceled/unlinked seats keep their date."""
    now = now or timezone.now()
    account = _lock_account(pro_account.pk)
    if account.status != ProAccountStatus.SUSPENDED:
        raise ProAccountNotSuspended(status=account.status)
    _reactivate_suspended_seats(account, now=now, actor=actor)
    account.status = ProAccountStatus.ACTIVE
    account.save()
    _event(account, "account_reactivated", now=now, from_status=ProAccountStatus.SUSPENDED,
           to_status=account.status, actor=actor, reason=reason)
    return account


# --- scheduled jobs -------------------------------------------------------------------

GROUPED_JOB_LOCK = "licenses.grouped_billing_run"
TRIAL_JOB_LOCK = "licenses.pro_trial_expiry_run"


def grouped_billing_run(*, now: datetime, dry_run: bool = False) -> list[JobStep]:
    """The hourly grouped billing date processing. Returns the steps done (dry run: the
    steps that would be done; one planning function feeds both). Each step runs in its
    own transaction and is re-checked under lock; a step no longer due is skipped."""
    if dry_run:
        return grouped_billing_plan(now=now)
    with advisory_lock(GROUPED_JOB_LOCK) as acquired:
        if not acquired:
            raise JobAlreadyRunning()
        done = [step for step in grouped_billing_plan(now=now) if _apply_grouped_step(step=step, now=now)]
    # Each step committed on its own: one notice per account whose monthly seats were
    # deleted, so billing re-aligns the Stripe quantity once (it skips when Stripe agrees).
    for pro_account_id in dict.fromkeys(s.pro_account_id for s in done if s.action == "delete_license"):
        billable_seats_changed.send(sender=ProAccount, pro_account_id=pro_account_id, reason="grouped_date")
    return done


@transaction.atomic
def _apply_grouped_step(*, step: JobStep, now: datetime) -> bool:
    account = _lock_account(step.pro_account_id)
    if step.action == "advance_grouped_date":
        if account.next_billing_at is None or account.next_billing_at > now:
            return False
        old = account.next_billing_at
        account.next_billing_at = next_grouped_date(anchor_day=account.billing_anchor_day, after=now)
        account.save(update_fields=["next_billing_at", "updated_at"])
        _event(account, "grouped_date_advanced", now=now, **{"from": old.isoformat(),
                                                            "to": account.next_billing_at.isoformat()})
        return True
    lic = License.objects.select_for_update(of=("self",)).filter(
        pk=step.license_id, pro_account=account, status__in=ENDING, effective_at__lte=now
    ).select_related("assignee").first()
    if lic is None:
        return False
    _end_license(lic, account=account, now=now)
    return True


def pro_trial_expiry_run(*, now: datetime, dry_run: bool = False) -> list[JobStep]:
    """The hourly pro trial expiry: trial accounts past ``trial_ends_at`` -> expired."""
    if dry_run:
        return pro_trial_expiry_plan(now=now)
    with advisory_lock(TRIAL_JOB_LOCK) as acquired:
        if not acquired:
            raise JobAlreadyRunning()
        return [step for step in pro_trial_expiry_plan(now=now) if _apply_trial_expiry(step=step, now=now)]


@transaction.atomic
def _apply_trial_expiry(*, step: JobStep, now: datetime) -> bool:
    account = _lock_account(step.pro_account_id)
    if account.status != ProAccountStatus.TRIAL or account.trial_ends_at > now:
        return False
    account.status = ProAccountStatus.EXPIRED
    account.save(update_fields=["status", "updated_at"])
    _event(account, "trial_expired", now=now, from_status=ProAccountStatus.TRIAL, to_status=account.status)
    return True
