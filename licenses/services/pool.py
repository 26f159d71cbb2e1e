"""The license pool: buying seats, assigning them (with the Stripe-confirmed pending
assignment for PREMIUM collaborators), canceling and unlinking them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from licenses.errors import (
    AssignmentPending,
    InvalidLicenseKind,
    InvalidQuantity,
    LicenseNotAvailable,
    LicenseNotCancelable,
    LicenseNotUnlinkable,
    NotACollaborator,
    PremiumCancelConsentRequired,
    ProAccountNotActive,
)
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
from licenses.selectors import PurchaseQuote, license_purchase_quote
from licenses.services.common import abort_pending, license_event, lock_account, lock_license, mark_ending
from licenses.services.memberships import collaborator_unlink
from licenses.signals import license_assignment_pending
from subscriptions import services as access_services
from subscriptions.errors import AlreadyLicensed, AlreadyLifetime
from subscriptions.models import AccessType, LicenseOverlay


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


@transaction.atomic
def license_assign(*, license: License, collaborator, actor=None,
                   now: datetime | None = None) -> AssignResult:
    """Assign an available license to the owner or a linked collaborator.

    Collaborator LIFETIME: ``already_lifetime``; holding a license: ``already_licensed``;
    PREMIUM without the consent given in their acceptance: ``consent_required``; PREMIUM:
    a ``PendingAssignment`` is recorded (outcome ``needs_cancel_existing``) and
    billing, told by the ``license_assignment_pending`` signal, cancels the personal
    subscription through Stripe, then calls ``license_assignment_finalize``;
    TRIAL/EXPIRED: LICENSED now.
    """
    now = now or timezone.now()
    account = lock_account(license.pro_account_id)
    if account.status != ProAccountStatus.ACTIVE:
        raise ProAccountNotActive(status=account.status)
    lic = lock_license(license.pk, pro_account=account)
    if lic.status != LicenseStatus.AVAILABLE or PendingAssignment.objects.filter(license=lic).exists():
        raise LicenseNotAvailable(status=lic.status)
    is_owner = collaborator.pk == account.owner_id
    membership = Membership.objects.filter(pro_account=account, collaborator=collaborator).first()
    if not is_owner and membership is None:
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
        # Their own paid plan is canceled only with the consent they gave when accepting
        # the invitation (the owner assigning themselves consents by doing it).
        if not is_owner and not membership.premium_cancel_consent:
            raise PremiumCancelConsentRequired()
        pending = PendingAssignment.objects.create(
            license=lic, collaborator=collaborator, stripe_subscription_id=access.stripe_subscription_id,
        )
        license_event(account, "assignment_pending", now=now, lic=lic, from_status=lic.status,
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
    license_event(account, "license_assigned", now=now, lic=lic, from_status=from_status,
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
    account = lock_account(pending.license.pro_account_id)
    lic = lock_license(pending.license_id, pro_account=account)
    pending = PendingAssignment.objects.select_for_update(of=("self",)).filter(pk=pending.pk).first()
    if pending is None:
        return None
    access = access_services.access_lock(user=collaborator)
    if (access.type in (AccessType.LIFETIME, AccessType.LICENSED)
            or access.license_status != LicenseOverlay.NONE or lic.status != LicenseStatus.AVAILABLE):
        abort_pending(pending, account=account, now=event_time, reason="no_longer_assignable")
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
    account = lock_account(pending.license.pro_account_id)
    pending = PendingAssignment.objects.select_for_update(of=("self",)).filter(pk=pending.pk).first()
    if pending is None:
        return False
    abort_pending(pending, account=account, now=now, reason=reason)
    return True


@transaction.atomic
def license_cancel(*, license: License, actor=None, now: datetime | None = None) -> License:
    """Cancel a seat: ``canceled`` until the grouped billing date (the collaborator keeps
    access until then), then monthly deleted, lifetime back to the pool.

    An unassigned monthly seat can be canceled (stop paying for it); an unassigned lifetime
    seat cannot (``license_not_cancelable``). Already canceled/unlinked: unchanged.
    """
    now = now or timezone.now()
    account = lock_account(license.pro_account_id)
    lic = lock_license(license.pk, pro_account=account)
    if lic.status in ENDING:
        return lic
    if lic.assignee_id is None and lic.kind == LicenseKind.LIFETIME:
        raise LicenseNotCancelable(status=lic.status)
    pending = PendingAssignment.objects.select_for_update(of=("self",)).filter(license=lic).first()
    if pending is not None:
        abort_pending(pending, account=account, now=now, reason="license_canceled", actor=actor)
    mark_ending(lic, account=account, status=LicenseStatus.CANCELED, now=now, actor=actor)
    return lic


def license_unlink(*, license: License, actor=None, now: datetime | None = None) -> License | None:
    """Unlink the collaborator holding this license (same as unlinking the collaborator)."""
    unlinkable = (LicenseStatus.ACTIVE, LicenseStatus.SUSPENDED, LicenseStatus.UNLINKED)
    if license.assignee_id is None or license.status not in unlinkable:
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
        raise InvalidLicenseKind()
    account = lock_account(pro_account.pk)
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
    license_event(account, "licenses_purchased", now=event_time, from_status=from_status,
                  to_status=account.status, reference=reference, kind_of_license=kind, quantity=quantity,
                  license_ids=[lic.pk for lic in licenses], amount_cents=quote.amount_cents,
                  prorated_unit_cents=quote.prorated_unit_cents, billed=quote.billed,
                  billing_anchor_day=account.billing_anchor_day)
    return PurchaseResult(licenses, quote)
