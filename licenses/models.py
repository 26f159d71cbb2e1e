"""Pro accounts and their seat licenses.

The database holds the invariants (CHECKs, partial UNIQUE); the rules live in
`licenses.services`. A collaborator's access changes only through
`subscriptions.services`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class ProAccountStatus(models.TextChoices):
    TRIAL = "trial", "Trial"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    SUSPENDED = "suspended", "Suspended"


class ProAccount(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pro_account"
    )
    status = models.CharField(
        max_length=16, choices=ProAccountStatus.choices, default=ProAccountStatus.TRIAL
    )
    trial_ends_at = models.DateTimeField()
    # Set by the first monthly purchase; a day past a month's end falls on its last day.
    billing_anchor_day = models.PositiveSmallIntegerField(null=True, blank=True)
    next_billing_at = models.DateTimeField(
        null=True, blank=True, help_text="The next grouped billing date (monthly licenses)."
    )
    # Plain reference to the Stripe subscription billing the monthly seats (billing maps it).
    stripe_subscription_id = models.CharField(max_length=255, blank=True, default="")
    # Newest billing event applied (renewal paid/failed): older ones are ignored.
    billing_event_at = models.DateTimeField(null=True, blank=True)
    # The grouped subscription's seat quantity as last known at Stripe (billing records it
    # when it sets it or a subscription event reports it); the daily reconciliation
    # compares it with the billable monthly seats. None: not known yet.
    stripe_seat_quantity = models.PositiveIntegerField(null=True, blank=True)
    stripe_seat_quantity_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The operator action (the `finance` role gets it, phoenix.core.roles).
        permissions = [("suspend_proaccount", "Can suspend or reactivate a pro account")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ProAccountStatus.values), name="pro_account_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(billing_anchor_day__isnull=True)
                | Q(billing_anchor_day__gte=1, billing_anchor_day__lte=31),
                name="pro_account_anchor_day_1_31",
            ),
            models.CheckConstraint(
                condition=Q(billing_anchor_day__isnull=True, next_billing_at__isnull=True)
                | Q(billing_anchor_day__isnull=False, next_billing_at__isnull=False),
                name="pro_account_anchor_and_next_date_together",
            ),
        ]

    def __str__(self) -> str:
        return f"pro account of {self.owner.email} ({self.status})"


class Membership(models.Model):
    """A collaborator linked to a pro account (the pro sees their profile)."""

    pro_account = models.ForeignKey(ProAccount, on_delete=models.PROTECT, related_name="memberships")
    collaborator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    # Given by the collaborator when accepting the invitation: a seat assigned to them may
    # cancel their own paid (PREMIUM) subscription. Without it such an assignment is refused.
    premium_cancel_consent = models.BooleanField(default=False, db_default=False)
    invitation = models.OneToOneField(
        "Invitation", on_delete=models.PROTECT, null=True, blank=True, related_name="membership"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pro_account", "collaborator"], name="membership_unique_link"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.collaborator.email} in the pro account of {self.pro_account.owner.email}"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class Invitation(models.Model):
    """A pro's invitation of a person, by e-mail. No membership exists before the person
    accepts; the pro sees only the e-mail they typed and the invitation's status (never
    whether the address has an account). A pending invitation past ``expires_at`` can no
    longer be answered (the API shows it ``expired``); the hourly pro trial expiry job then
    stores ``expired`` with its license event."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    pro_account = models.ForeignKey(ProAccount, on_delete=models.PROTECT, related_name="invitations")
    email = models.EmailField(max_length=254, help_text="Lower-cased, as the pro typed it.")
    status = models.CharField(
        max_length=16, choices=InvitationStatus.choices, default=InvitationStatus.PENDING,
        db_default=InvitationStatus.PENDING,
    )
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    premium_cancel_consent = models.BooleanField(default=False, db_default=False)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=InvitationStatus.values), name="invitation_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(email=Lower("email")), name="invitation_email_lower_case"
            ),
            # One open invitation per address and account.
            models.UniqueConstraint(
                fields=["pro_account", "email"], condition=Q(status="pending"),
                name="invitation_one_pending_per_email",
            ),
            models.CheckConstraint(
                condition=Q(status="accepted", responded_by__isnull=False)
                | ~Q(status="accepted"),
                name="invitation_accepted_has_person",
            ),
            models.CheckConstraint(
                condition=Q(premium_cancel_consent=False) | Q(status="accepted"),
                name="invitation_consent_only_when_accepted",
            ),
        ]

    def __str__(self) -> str:
        return f"invitation {self.public_id} ({self.status})"


class LicenseStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    CANCELED = "canceled", "Canceled"
    UNLINKED = "unlinked", "Unlinked"


class LicenseKind(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    LIFETIME = "lifetime", "Lifetime"


ENDING = (LicenseStatus.CANCELED, LicenseStatus.UNLINKED)


class License(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    pro_account = models.ForeignKey(ProAccount, on_delete=models.PROTECT, related_name="licenses")
    kind = models.CharField(max_length=16, choices=LicenseKind.choices)
    # The default lives in the database too, not only in Python.
    status = models.CharField(
        max_length=16, choices=LicenseStatus.choices, default=LicenseStatus.AVAILABLE,
        db_default=LicenseStatus.AVAILABLE,
    )
    is_owner_license = models.BooleanField(default=False)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="licenses",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    # When a cancel/unlink takes effect: the grouped billing date current at that moment.
    effective_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=LicenseStatus.values), name="license_status_valid"
            ),
            models.CheckConstraint(condition=Q(kind__in=LicenseKind.values), name="license_kind_valid"),
            models.CheckConstraint(
                condition=~Q(status=LicenseStatus.ACTIVE) | Q(assignee__isnull=False),
                name="license_active_has_assignee",
            ),
            models.CheckConstraint(
                condition=~Q(status=LicenseStatus.AVAILABLE) | Q(assignee__isnull=True),
                name="license_available_has_no_assignee",
            ),
            models.CheckConstraint(
                condition=~Q(status=LicenseStatus.UNLINKED) | Q(assignee__isnull=False),
                name="license_unlinked_has_assignee",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ENDING, effective_at__isnull=False)
                | (~Q(status__in=ENDING) & Q(effective_at__isnull=True)),
                name="license_effective_at_iff_ending",
            ),
            # Only a monthly seat can be suspended: a lifetime one is paid for good.
            models.CheckConstraint(
                condition=~Q(status=LicenseStatus.SUSPENDED) | Q(kind=LicenseKind.MONTHLY),
                name="license_suspended_only_monthly",
            ),
            models.CheckConstraint(
                condition=Q(is_owner_license=False) | Q(assignee__isnull=False),
                name="license_owner_license_has_assignee",
            ),
            # A user holds at most one license.
            models.UniqueConstraint(
                fields=["assignee"], condition=Q(assignee__isnull=False),
                name="license_one_per_assignee",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} license {self.pk} of the pro account of {self.pro_account.owner.email} ({self.status})"


class PendingAssignment(models.Model):
    """An assignment waiting for Stripe to confirm the collaborator's personal subscription
    is canceled (PREMIUM collaborator, ``needs_cancel_existing``). The license stays
    ``available`` (no ``pending`` status exists) but is reserved by this row."""

    license = models.OneToOneField(License, on_delete=models.CASCADE, related_name="pending_assignment")
    collaborator = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pending_license_assignment"
    )
    stripe_subscription_id = models.CharField(
        max_length=255, blank=True, default="", help_text="The personal subscription to cancel."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"license {self.license_id} pending for {self.collaborator_id}"


class LicenseEvent(models.Model):
    """Append-only history of every license and pro-account change (trigger rejects
    UPDATE/DELETE). ``license_pk`` is a plain number: monthly licenses are deleted on the
    grouped date and their history must survive them."""

    pro_account = models.ForeignKey(ProAccount, on_delete=models.PROTECT, related_name="events")
    license_pk = models.BigIntegerField(null=True, blank=True, db_index=True)
    kind = models.CharField(max_length=40)
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, blank=True, default="")
    collaborator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    event_time = models.DateTimeField()
    reference = models.CharField(max_length=255, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A replayed billing cause (Stripe event / checkout id) is applied at most once.
            models.UniqueConstraint(
                fields=["pro_account", "kind", "reference"], condition=~Q(reference=""),
                name="license_event_unique_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.license_pk or ''} {self.from_status} -> {self.to_status}"
