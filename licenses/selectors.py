"""Reads of pro accounts and licenses, and the plans of the scheduled jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from licenses.errors import PlanNotConfigured, ProAccountNotFound
from licenses.grouped_dates import next_grouped_date, previous_grouped_date, prorated_amount_cents
from licenses.models import (
    ENDING,
    Invitation,
    InvitationStatus,
    License,
    LicenseKind,
    LicenseStatus,
    Membership,
    PendingAssignment,
    ProAccount,
    ProAccountStatus,
)
from subscriptions.models import Access, PlanAudience
from subscriptions.selectors import (
    access_for_user,
    access_is_premium,
    plan_for,
    type_after_license_revoked,
)


def pro_account_for_owner(owner) -> ProAccount:
    account = ProAccount.objects.filter(owner=owner).first()
    if account is None:
        raise ProAccountNotFound()
    return account


def pro_account_for_stripe_subscription(stripe_subscription_id: str) -> ProAccount | None:
    """For billing: the account whose monthly seats a Stripe subscription bills."""
    if not stripe_subscription_id:
        return None
    return ProAccount.objects.filter(stripe_subscription_id=stripe_subscription_id).first()


# Monthly seats the grouped subscription bills at its next renewal: canceled/unlinked
# ones stop being billed from the next grouped date (they are deleted then).
BILLABLE_MONTHLY_STATUSES = (LicenseStatus.AVAILABLE, LicenseStatus.ACTIVE, LicenseStatus.SUSPENDED)


def billable_monthly_seat_count(*, pro_account: ProAccount) -> int:
    """The single source of truth for the grouped Stripe subscription's quantity: the
    account's monthly seats not canceled/unlinked (lifetime seats are never in it)."""
    return License.objects.filter(
        pro_account=pro_account, kind=LicenseKind.MONTHLY, status__in=BILLABLE_MONTHLY_STATUSES
    ).count()


def seat_quantity_overview() -> list[dict[str, Any]]:
    """For billing's reconciliation, one query: every account with a grouped subscription,
    its last known Stripe quantity and its billable monthly seats."""
    billable = Count("licenses", filter=Q(licenses__kind=LicenseKind.MONTHLY,
                                          licenses__status__in=BILLABLE_MONTHLY_STATUSES))
    return list(
        ProAccount.objects.exclude(stripe_subscription_id="").annotate(billable=billable)
        .values("id", "stripe_subscription_id", "stripe_seat_quantity", "stripe_seat_quantity_at", "billable")
        .order_by("id")
    )


def license_pool(*, pro_account: ProAccount) -> dict[str, Any]:
    """Every license of the account, and counts by status (all statuses, zeros included)."""
    licenses = list(
        License.objects.filter(pro_account=pro_account)
        .select_related("assignee", "pending_assignment__collaborator").order_by("id")
    )
    counts = dict.fromkeys(LicenseStatus.values, 0)
    for row in License.objects.filter(pro_account=pro_account).values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return {"counts": counts, "total": sum(counts.values()), "licenses": licenses}


def collaborators_for(*, pro_account: ProAccount, now: datetime | None = None) -> list[dict[str, Any]]:
    """Linked collaborators: the profile always; activity only when they have premium access.

    The activity itself is wallet's (``GET /pro/collaborators/<id>/activity``, the rule of
    ``licenses.visibility``): ``activity_url`` is its path when visible, None when hidden.
    """
    now = now or timezone.now()
    memberships = Membership.objects.filter(pro_account=pro_account).select_related("collaborator").order_by("id")
    held = {
        lic.assignee_id: lic
        for lic in License.objects.filter(pro_account=pro_account, assignee__isnull=False)
    }
    rows = []
    for membership in memberships:
        user = membership.collaborator
        access = access_for_user(user)
        premium = access_is_premium(access, now=now)
        license = held.get(user.pk)
        rows.append({
            "user": user,
            "linked_at": membership.created_at,
            "access_type": access.type,
            "premium": premium,
            "license": license,
            "activity_visible": premium,
            "activity_url": reverse("pro-collaborator-activity", args=[user.public_id]) if premium else None,
        })
    return rows


# --- purchase quote -----------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseQuote:
    """What buying ``quantity`` seats costs now (all amounts integer cents).

    Lifetime: ``amount_cents`` is due at once. Monthly, first purchase: the full price is
    due at once and starts the cycle (``sets_anchor_day``). Monthly, later purchase:
    ``prorated_unit_cents`` per seat until the grouped date, billed on that date.
    """

    kind: str
    quantity: int
    currency: str
    unit_price_cents: int
    prorated_unit_cents: int
    amount_cents: int
    billed: str  # "now" | "next_grouped_date"
    sets_anchor_day: int | None
    next_billing_at: datetime | None
    plan_code: str


def license_purchase_quote(
    *, pro_account: ProAccount, kind: str, quantity: int, now: datetime | None = None
) -> PurchaseQuote:
    now = now or timezone.now()
    plan = plan_for(audience=PlanAudience.PRO, kind=kind)
    if plan is None:
        raise PlanNotConfigured()
    price = plan.price_cents
    if kind == LicenseKind.LIFETIME:
        return PurchaseQuote(kind, quantity, plan.currency, price, price, price * quantity, "now",
                             None, pro_account.next_billing_at, plan.code)
    if pro_account.billing_anchor_day is None:
        anchor = now.day
        return PurchaseQuote(kind, quantity, plan.currency, price, price, price * quantity, "now",
                             anchor, next_grouped_date(anchor_day=anchor, after=now), plan.code)
    cycle_end = pro_account.next_billing_at
    if cycle_end <= now:  # the job has not advanced the date yet
        cycle_end = next_grouped_date(anchor_day=pro_account.billing_anchor_day, after=now)
    cycle_start = previous_grouped_date(anchor_day=pro_account.billing_anchor_day, before=cycle_end)
    unit = prorated_amount_cents(price_cents=price, cycle_start=cycle_start, cycle_end=cycle_end, at=now)
    return PurchaseQuote(kind, quantity, plan.currency, price, unit, unit * quantity,
                         "next_grouped_date", None, cycle_end, plan.code)


# --- job plans (shared by --dry-run and the real run) ---------------------------------


@dataclass(frozen=True)
class JobStep:
    action: str  # delete_license | return_to_pool | advance_grouped_date | expire_trial | expire_invitation
    pro_account_id: int
    license_id: int | None = None
    info: dict = field(default_factory=dict, compare=True, hash=False)

    def describe(self) -> str:
        parts = [f"pro account {self.pro_account_id}"]
        if self.license_id is not None:
            parts.append(f"license {self.license_id}")
        details = " ".join(f"{key}={value}" for key, value in self.info.items())
        return f"{self.action}: {', '.join(parts)} {details}".rstrip()


def grouped_billing_plan(*, now: datetime) -> list[JobStep]:
    """What the grouped billing date processing does at ``now``, in order: per account
    (id order), each canceled/unlinked license due (monthly deleted, lifetime back to
    the pool, the collaborator's resulting access), then the move to the next date."""
    due_licenses = Q(licenses__status__in=ENDING, licenses__effective_at__lte=now)
    accounts = (
        ProAccount.objects.filter(Q(next_billing_at__lte=now) | due_licenses).distinct().order_by("id")
    )
    steps: list[JobStep] = []
    for account in accounts:
        ending = (
            License.objects.filter(pro_account=account, status__in=ENDING, effective_at__lte=now)
            .select_related("assignee").order_by("id")
        )
        accesses = {
            a.user_id: a for a in Access.objects.filter(user__in=[lic.assignee_id for lic in ending if lic.assignee_id])
        }
        for lic in ending:
            info = {"kind": lic.kind, "status": lic.status}
            if lic.assignee_id:
                access = accesses.get(lic.assignee_id) or access_for_user(lic.assignee)
                info["collaborator"] = lic.assignee.email
                info["access"] = f"{access.type}->{type_after_license_revoked(access, now=now)}"
            action = "delete_license" if lic.kind == LicenseKind.MONTHLY else "return_to_pool"
            steps.append(JobStep(action, account.pk, lic.pk, info))
        if account.next_billing_at is not None and account.next_billing_at <= now:
            new = next_grouped_date(anchor_day=account.billing_anchor_day, after=now)
            steps.append(JobStep("advance_grouped_date", account.pk, None, {
                "from": account.next_billing_at.isoformat(), "to": new.isoformat(),
            }))
    return steps


def pro_trial_expiry_plan(*, now: datetime) -> list[JobStep]:
    """Pro accounts whose 7-day trial ended without a purchase, then the pending invitations
    past their date."""
    trials = [
        JobStep("expire_trial", account.pk, None, {"trial_ends_at": account.trial_ends_at.isoformat()})
        for account in ProAccount.objects.filter(
            status=ProAccountStatus.TRIAL, trial_ends_at__lte=now
        ).order_by("id")
    ]
    invitations = [
        JobStep("expire_invitation", invitation.pro_account_id, None,
                {"invitation": str(invitation.public_id), "expires_at": invitation.expires_at.isoformat()})
        for invitation in Invitation.objects.filter(status=InvitationStatus.PENDING, expires_at__lte=now)
        .order_by("id")
    ]
    return trials + invitations


def pending_assignment_for(*, collaborator) -> PendingAssignment | None:
    """For billing: the assignment waiting for the collaborator's personal subscription
    to be canceled through Stripe (``needs_cancel_existing``), if any."""
    return PendingAssignment.objects.filter(collaborator=collaborator).select_related("license").first()


# --- Admin dashboard ------------------------------------------------------


def pro_status_counts() -> dict[str, dict[str, int]]:
    """Pro accounts by status and licenses by status and kind: two GROUP BYs, zeros listed."""
    accounts = dict.fromkeys(ProAccountStatus.values, 0)
    accounts.update({row["status"]: row["n"] for row in
                     ProAccount.objects.values("status").annotate(n=Count("id")).order_by()})
    licenses = {status: dict.fromkeys(LicenseKind.values, 0) for status in LicenseStatus.values}
    for row in License.objects.values("status", "kind").annotate(n=Count("id")).order_by():
        licenses[row["status"]][row["kind"]] = row["n"]
    return {"accounts": accounts, "licenses": licenses}


def invitation_status(invitation, *, now: datetime | None = None) -> str:
    """The status the API shows: a pending invitation past its date is ``expired``."""
    now = now or timezone.now()
    if invitation.status == InvitationStatus.PENDING and invitation.expires_at <= now:
        return "expired"
    return invitation.status


def invitations_sent(*, pro_account: ProAccount):
    return Invitation.objects.filter(pro_account=pro_account).order_by("-created_at", "-id")


def invitations_received(*, user, now: datetime | None = None):
    """The open invitations to the user's address (not expired)."""
    now = now or timezone.now()
    return (Invitation.objects.filter(email=user.email.lower(), status=InvitationStatus.PENDING, expires_at__gt=now)
            .select_related("pro_account__owner").order_by("created_at", "id"))
