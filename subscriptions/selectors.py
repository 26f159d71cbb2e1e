"""Reads of individual access. The names and signatures of the first three
are an interface other apps code against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from subscriptions.models import Access, AccessType, LicenseOverlay, Plan, PlanAudience, PlanKind

# A monthly subscription whose renewal was never reported (lost webhook) still counts this
# long after its period end; a reported failure expires it at once.
PREMIUM_RENEWAL_GRACE = timedelta(days=2)


def access_for_user(user) -> Access:
    """The user's access. A user without a row (created outside registration) is shown as
    an unsaved EXPIRED access: no access of their own."""
    access = Access.objects.filter(user=user).first()
    return access if access is not None else Access(user=user, type=AccessType.EXPIRED)


def _premium_lapsed(access: Access, now: datetime) -> bool:
    end = access.current_period_end
    if access.cancel_at_period_end:
        return end <= now
    return end + PREMIUM_RENEWAL_GRACE <= now


def access_is_premium(access: Access, *, now: datetime) -> bool:
    if access.type == AccessType.TRIAL:
        return access.trial_ends_at > now
    if access.type == AccessType.PREMIUM:
        # Until the hourly job runs, a lapsed period already reads as no access.
        return not _premium_lapsed(access, now) or access.license_status == LicenseOverlay.ACTIVE
    if access.type == AccessType.LIFETIME:
        return True
    if access.type == AccessType.LICENSED:
        return access.license_status == LicenseOverlay.ACTIVE
    return False


def access_is_unlimited(access: Access, *, now: datetime) -> bool:
    # Unlimited energy: PREMIUM, LIFETIME, active LICENSED; not TRIAL.
    return access.type != AccessType.TRIAL and access_is_premium(access, now=now)


def check_premium_access(user, *, now: datetime | None = None) -> bool:
    return access_is_premium(access_for_user(user), now=now or timezone.now())


def has_unlimited_energy(user, *, now: datetime | None = None) -> bool:
    return access_is_unlimited(_access_of_request(user), now=now or timezone.now())


def _access_of_request(user) -> Access:
    """The access read with the request's token (phoenix.accounts.authentication: no statement
    of its own on the /luna spending path), else from the database."""
    if "access" not in getattr(user, "relations_read_at_authentication", ()):
        return access_for_user(user)
    try:
        return user.access
    except Access.DoesNotExist:
        return Access(user=user, type=AccessType.EXPIRED)


def access_summary(user, *, now: datetime | None = None) -> dict[str, Any]:
    """The ``access`` section of GET /auth/profile and GET /subscriptions/access/{id}."""
    now = now or timezone.now()
    access = access_for_user(user)
    return {
        "type": access.type,
        "premium": access_is_premium(access, now=now),
        "unlimited": access_is_unlimited(access, now=now),
        "trial_ends_at": access.trial_ends_at,
        "current_period_end": access.current_period_end if access.type == AccessType.PREMIUM else None,
        "cancel_at_period_end": access.cancel_at_period_end,
        "license_status": access.license_status,
    }


def access_profile_section(user) -> dict[str, Any]:
    summary = access_summary(user)
    return {key: summary[key] for key in ("type", "premium", "unlimited", "trial_ends_at")}


def fallback_type(access: Access, *, now: datetime) -> str:
    """Where a user lands when the access they had ends: a held license, a still running
    trial, else EXPIRED."""
    if access.license_status != LicenseOverlay.NONE:
        return AccessType.LICENSED
    if access.trial_ends_at is not None and access.trial_ends_at > now:
        return AccessType.TRIAL
    return AccessType.EXPIRED


def type_after_license_revoked(access: Access, *, now: datetime) -> str:
    """The type a user has once the license they hold ends: unchanged when they have
    access of their own (PREMIUM, LIFETIME), else the fallback without the license."""
    if access.type != AccessType.LICENSED:
        return access.type
    if access.trial_ends_at is not None and access.trial_ends_at > now:
        return AccessType.TRIAL
    return AccessType.EXPIRED


@dataclass(frozen=True)
class ExpiryStep:
    """One planned time-driven expiry (the hourly job); printable for --dry-run."""

    access_id: int
    user_email: str
    from_type: str
    to_type: str
    reason: str  # trial_ended | period_ended | renewal_missing

    def still_due(self, access: Access, *, now: datetime) -> bool:
        if self.reason == "trial_ended":
            return access.trial_ends_at <= now
        return _premium_lapsed(access, now)

    def describe(self) -> str:
        return f"access {self.access_id} ({self.user_email}): {self.from_type} -> {self.to_type} [{self.reason}]"


def access_expiry_plan(*, now: datetime) -> list[ExpiryStep]:
    """Accesses whose trial or paid period is over at ``now``, in id order."""
    due = (
        Q(type=AccessType.TRIAL, trial_ends_at__lte=now)
        | Q(type=AccessType.PREMIUM, cancel_at_period_end=True, current_period_end__lte=now)
        | Q(type=AccessType.PREMIUM, cancel_at_period_end=False,
            current_period_end__lte=now - PREMIUM_RENEWAL_GRACE)
    )
    steps = []
    for access in Access.objects.filter(due).select_related("user").order_by("id"):
        if access.type == AccessType.TRIAL:
            reason = "trial_ended"
        else:
            reason = "period_ended" if access.cancel_at_period_end else "renewal_missing"
        steps.append(ExpiryStep(
            access_id=access.pk, user_email=access.user.email, from_type=access.type,
            to_type=fallback_type(access, now=now), reason=reason,
        ))
    return steps


def plan_for(*, audience: str, kind: str) -> Plan | None:
    """The active plan sold to ``audience`` for ``kind`` (admin data)."""
    return Plan.objects.filter(audience=audience, kind=kind, is_active=True).order_by("id").first()


def individual_monthly_plan() -> Plan | None:
    return plan_for(audience=PlanAudience.INDIVIDUAL, kind=PlanKind.MONTHLY)


def plan_for_code(*, code: str, audience: str) -> Plan | None:
    """An active plan by its code (what a checkout names), for ``audience``."""
    return Plan.objects.filter(code=code, audience=audience, is_active=True).first()


def access_for_stripe_subscription(stripe_subscription_id: str) -> Access | None:
    """For billing: the access a personal Stripe subscription pays (None: not ours, or
    replaced since by a newer subscription)."""
    if not stripe_subscription_id:
        return None
    return Access.objects.filter(stripe_subscription_id=stripe_subscription_id).select_related("user").first()


# --- Admin dashboard ------------------------------------------------------


def access_type_counts() -> dict[str, Any]:
    """How many users hold each access type, and how many PREMIUM end at period end.
    One GROUP BY, every type listed (zeros included)."""
    rows = Access.objects.values("type").annotate(n=Count("id")).order_by()
    counts = dict.fromkeys(AccessType.values, 0)
    counts.update({row["type"]: row["n"] for row in rows})
    return {"by_type": counts, "total": sum(counts.values())}
