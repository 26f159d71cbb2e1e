"""Individual access: one Access row per user, its audit trail, the plans.

The database makes invalid states impossible (CHECKs below); the transitions themselves
live in `subscriptions.services`.

Licensed access without importing `licenses`: `licenses` reports the state
of the license a user holds through `subscriptions.services.access_grant_license` /
`access_suspend_license` / `access_reactivate_license` / `access_revoke_license`, which
set ``license_status`` here. So the access selectors decide "LICENSED with an active,
not suspended license" from this row alone. ``license_status`` is an overlay: a user may
hold a license while their type is still PREMIUM (their personal subscription is being
canceled through Stripe); when personal access ends they fall back to LICENSED.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class AccessType(models.TextChoices):
    TRIAL = "TRIAL", "Trial"
    PREMIUM = "PREMIUM", "Premium (monthly)"
    LIFETIME = "LIFETIME", "Lifetime"
    LICENSED = "LICENSED", "Licensed (pro seat)"
    EXPIRED = "EXPIRED", "Expired"


class LicenseOverlay(models.TextChoices):
    NONE = "none", "No license"
    ACTIVE = "active", "Active license"
    SUSPENDED = "suspended", "Suspended license"


class Access(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access"
    )
    type = models.CharField(max_length=16, choices=AccessType.choices)
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(
        null=True, blank=True, help_text="End of the paid monthly period (PREMIUM)."
    )
    cancel_at_period_end = models.BooleanField(default=False)
    # Plain reference: billing maps it to its dj-stripe mirror; no FK across that boundary.
    stripe_subscription_id = models.CharField(max_length=255, blank=True, default="")
    license_status = models.CharField(
        max_length=16, choices=LicenseOverlay.choices, default=LicenseOverlay.NONE
    )
    # Time of the newest billing (Stripe) event applied: older events are ignored, so
    # out-of-order delivery never moves the state backwards.
    billing_event_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "accesses"
        # An operator action (subscriptions.operator), granted to roles by phoenix.core.roles.
        permissions = [("manage_trial", "Can extend or end a trial")]
        constraints = [
            models.CheckConstraint(
                condition=Q(type__in=AccessType.values), name="access_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(license_status__in=LicenseOverlay.values),
                name="access_license_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(type=AccessType.TRIAL) | Q(trial_ends_at__isnull=False),
                name="access_trial_has_end",
            ),
            models.CheckConstraint(
                condition=~Q(type=AccessType.PREMIUM) | Q(current_period_end__isnull=False),
                name="access_premium_has_period_end",
            ),
            models.CheckConstraint(
                condition=Q(cancel_at_period_end=False) | Q(type=AccessType.PREMIUM),
                name="access_cancel_flag_only_premium",
            ),
            models.CheckConstraint(
                condition=~Q(type=AccessType.LICENSED) | ~Q(license_status=LicenseOverlay.NONE),
                name="access_licensed_has_license",
            ),
        ]

    def __str__(self) -> str:
        return f"access of {self.user.email}: {self.type}"


class AccessEvent(models.Model):
    """Append-only audit of every applied access transition (a trigger rejects UPDATE/DELETE)."""

    access = models.ForeignKey(Access, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=40)
    from_type = models.CharField(max_length=16, blank=True, default="")
    to_type = models.CharField(max_length=16)
    event_time = models.DateTimeField(help_text="When the cause happened (Stripe event time, job clock).")
    reference = models.CharField(
        max_length=255, blank=True, default="", help_text="Stripe event id or other cause id."
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A replayed cause (same Stripe event) is applied at most once.
            models.UniqueConstraint(
                fields=["access", "kind", "reference"],
                condition=~Q(reference=""),
                name="access_event_unique_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"access of {self.access.user.email}: {self.kind} {self.from_type or '-'} -> {self.to_type}"


class PlanKind(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    LIFETIME = "lifetime", "Lifetime"


class PlanAudience(models.TextChoices):
    INDIVIDUAL = "individual", "Individual"
    PRO = "pro", "Pro seat license"


class Plan(models.Model):
    """What can be bought for access; prices are admin data (seeded by a data migration)."""

    code = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=120)
    audience = models.CharField(max_length=16, choices=PlanAudience.choices)
    kind = models.CharField(max_length=16, choices=PlanKind.choices)
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    stripe_price_id = models.CharField(max_length=255, blank=True, default="")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["audience", "kind", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=PlanKind.values), name="plan_kind_valid"),
            models.CheckConstraint(
                condition=Q(audience__in=PlanAudience.values), name="plan_audience_valid"
            ),
            models.CheckConstraint(condition=Q(price_cents__gt=0), name="plan_price_positive"),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="plan_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.price_cents / 100:.2f} {self.currency})"
