"""Billing tables: payments, received Stripe events, clawbacks.

dj-stripe mirrors Stripe's own objects in its ``djstripe_*`` tables; these tables are
Phoenix's view of money: which user paid for what, where each payment stands, every
webhook delivery received, and every refund/dispute reversal with what could not be
clawed back.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KT
from djstripe.models import Charge, PaymentIntent, Session


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    REFUNDED = "refunded", "Refunded"


# The Payment state machine. The same table is enforced by a database trigger
# (migration 0002), so a raw UPDATE cannot move a payment backwards either.
PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    PaymentStatus.PENDING: frozenset(
        {PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELED}
    ),
    PaymentStatus.SUCCEEDED: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.FAILED: frozenset(),
    PaymentStatus.CANCELED: frozenset(),
    PaymentStatus.REFUNDED: frozenset(),
}


class PaymentFlow(models.TextChoices):
    CHECKOUT = "checkout", "Checkout Session"
    PAYMENT_INTENT = "payment_intent", "PaymentIntent"


class Payment(models.Model):
    """One row per Checkout Session or PaymentIntent (a session also gets its intent id)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments"
    )
    flow = models.CharField(max_length=20, choices=PaymentFlow.choices)
    # What was bought: a kind with a registered fulfilment (billing.products) and a code
    # within it (an EnergyPack code for kind "energy_pack").
    product_kind = models.CharField(max_length=40)
    product_code = models.CharField(max_length=80)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=12, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    stripe_checkout_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, default="")
    # Fulfilment snapshot: what the product granted (energy points incl. bonus for packs).
    fulfilled_quantity = models.PositiveIntegerField(default=0)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    amount_refunded_cents = models.PositiveIntegerField(default=0)
    disputed_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"]), models.Index(fields=["status"]),
            # The money figures (billing.money): sales and disputes of a date range, and a
            # subscription's checkout found by its Stripe subscription id.
            models.Index(fields=["fulfilled_at"], name="payment_fulfilled_at_idx"),
            models.Index(fields=["disputed_at"], name="payment_disputed_at_idx",
                         condition=Q(disputed_at__isnull=False)),
            models.Index(KT("metadata__stripe__subscription_id"), name="payment_plan_subscription_idx",
                         condition=Q(product_kind="plan")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="payment_status_valid"
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(stripe_checkout_session_id__isnull=False)
                | Q(stripe_payment_intent_id__isnull=False),
                name="payment_has_stripe_id",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded_cents__lte=models.F("amount_cents")),
                name="payment_refund_le_amount",
            ),
            models.CheckConstraint(
                condition=Q(currency=models.functions.Lower("currency")),
                name="payment_currency_lowercase",
            ),
        ]

    def __str__(self) -> str:
        return (f"payment {self.pk} of {self.user.email}: {self.product_kind}:{self.product_code} "
                f"{self.amount_cents // 100}.{self.amount_cents % 100:02d} {self.currency.upper()} ({self.status})")

    @property
    def idempotency_key(self) -> str:
        """The wallet key for this payment's fulfilment: one credit per payment."""
        return f"payment:{self.pk}"

    # The link to the dj-stripe mirror: its rows are keyed by the Stripe ids kept here.
    def mirror_checkout_session(self):
        session_id = self.stripe_checkout_session_id
        return Session.objects.filter(id=session_id).first() if session_id else None

    def mirror_payment_intent(self):
        intent_id = self.stripe_payment_intent_id
        return PaymentIntent.objects.filter(id=intent_id).first() if intent_id else None

    def mirror_charge(self):
        """The charge that paid it (a checkout's payment only names its intent)."""
        if self.stripe_charge_id:
            return Charge.objects.filter(id=self.stripe_charge_id).first()
        if self.stripe_payment_intent_id:
            return Charge.objects.filter(payment_intent_id=self.stripe_payment_intent_id).order_by("-created").first()
        return None


class WebhookEventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored (no handler)"


class WebhookEvent(models.Model):
    """Every verified Stripe event received, with its processing outcome."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=64, blank=True, default="")
    stripe_created = models.DateTimeField(null=True, blank=True, help_text="Event time at Stripe.")
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=WebhookEventStatus.choices, default=WebhookEventStatus.RECEIVED
    )
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0, help_text="Processing attempts.")
    deliveries = models.PositiveIntegerField(default=0, help_text="Times Stripe delivered it.")
    received_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        # The operator permission (phoenix.core.roles maps roles to it).
        permissions = [("reprocess_webhookevent", "Can re-process a failed webhook event")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=WebhookEventStatus.values), name="webhook_event_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["processed", "ignored"], processed_at__isnull=False)
                | (~Q(status__in=["processed", "ignored"]) & Q(processed_at__isnull=True)),
                name="webhook_event_processed_at_iff_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id} ({self.status})"


class ReversalKind(models.TextChoices):
    REFUND = "refund", "Refund"
    DISPUTE = "dispute", "Dispute"


class PaymentReversal(models.Model):
    """A refund or dispute applied to a payment and what it clawed back.

    ``requested`` is what the reversal should take back from the fulfilment (energy
    points for packs), ``recovered`` what was actually taken, ``shortfall`` the rest:
    an open shortfall is for an admin to settle (``resolved_at``).
    """

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="reversals")
    kind = models.CharField(max_length=10, choices=ReversalKind.choices)
    stripe_object_id = models.CharField(max_length=255, help_text="Charge or dispute id.")
    stripe_event_id = models.CharField(max_length=255, blank=True, default="")
    amount_cents = models.PositiveIntegerField(help_text="Money reversed by this step.")
    requested = models.PositiveIntegerField()
    recovered = models.PositiveIntegerField()
    shortfall = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ReversalKind.values), name="payment_reversal_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(requested=models.F("recovered") + models.F("shortfall")),
                name="payment_reversal_adds_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of payment {self.payment_id}: {self.recovered}/{self.requested}"


class PaymentRefund(models.Model):
    """A refund an operator asked Stripe for from the admin (full or partial).

    Recording it does not claw anything back: Stripe's ``charge.refunded`` carries the
    charge's cumulative ``amount_refunded`` to ``payment_reverse``, which takes only the part
    not yet taken, so the refund is clawed back once whether the webhook is delivered once,
    twice or late. ``intent_key`` is the operator's intent (``operator_intent_key``): the
    same form re-posted is refused, and Stripe gets the same idempotency key.
    """

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    stripe_refund_id = models.CharField(max_length=255, unique=True)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    stripe_reason = models.CharField(max_length=40, blank=True, default="")
    stripe_status = models.CharField(max_length=40, help_text="The refund's status at Stripe, as last seen.")
    intent_key = models.CharField(max_length=64, unique=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(help_text="The operator's reason (also in the audit row).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("refund_payment", "Can refund a payment through Stripe")]
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="payment_refund_amount_positive"),
            models.CheckConstraint(condition=Q(currency=models.functions.Lower("currency")),
                                   name="payment_refund_currency_lowercase"),
        ]

    def __str__(self) -> str:
        return (f"refund {self.stripe_refund_id} of payment {self.payment_id}: "
                f"{self.amount_cents // 100}.{self.amount_cents % 100:02d} {self.currency.upper()}")


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class ReconciliationIncident(models.Model):
    """A mismatch between succeeded payments and ledger credits (daily reconciliation).

    ``subject`` names what is wrong (``payment:<pk>`` or ``operation:<pk>``): the job
    bumps ``times_seen`` on the open incident instead of opening a new one every day.
    """

    code = models.CharField(
        max_length=48,
        help_text="payment_without_credit, credit_without_payment, credit_amount_mismatch, "
        "duplicate_credit",
    )
    subject = models.CharField(max_length=80)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents"
    )
    status = models.CharField(max_length=10, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    detail = models.JSONField(default=dict, blank=True)
    detected_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    times_seen = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-detected_at", "-id"]
        # The operator permission (phoenix.core.roles maps roles to it); it also covers
        # settling payment shortfalls.
        permissions = [("resolve_billing_incident", "Can resolve reconciliation incidents and payment shortfalls")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=IncidentStatus.values), name="billing_incident_status_valid"
            ),
            models.UniqueConstraint(
                fields=["code", "subject"], condition=Q(status="open"),
                name="billing_incident_one_open_per_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.subject} ({self.status})"
