"""The outbound webhook tables: subscriber endpoints, the outbox of events, one delivery per
(event, endpoint) and the log of every attempt.

The outbox (`Event`) and the attempt log are append-only (trigger in 0002). An event row is
written by `phoenix.outbound.outbox.emit` in the transaction of the change that causes it.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

URL_MAX_LENGTH = 2000
SECRET_PREFIX = "whsec_"


class DisabledReason(models.TextChoices):
    NONE = "", "—"
    OPERATOR = "operator", "Disabled by an operator"
    GONE = "gone", "The endpoint answered 410 Gone"
    FAILING = "failing", "Failing for too long"


class Endpoint(models.Model):
    """A satellite's receiver: where to POST, with which secret, for which event types."""

    url = models.CharField(max_length=URL_MAX_LENGTH)
    description = models.CharField(max_length=255, blank=True, default="")
    event_types = ArrayField(models.CharField(max_length=64), help_text="Event types delivered to it.")
    secret = models.CharField(max_length=128, help_text="whsec_<base64>: signs every delivery.")
    # Key rotation: the secret replaced last keeps signing too until the overlap ends.
    previous_secret = models.CharField(max_length=128, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    balance_low_threshold = models.PositiveIntegerField(
        null=True, blank=True, help_text="wallet.balance_low fires when available drops to or below this "
                                         "(empty: WEBHOOK_BALANCE_LOW_DEFAULT).")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=16, choices=DisabledReason.choices, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True,
                                         help_text="First failed attempt since the last success.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        permissions = [("manage_endpoint", "Manage webhook endpoints, redeliver and send test events")]
        constraints = [
            models.CheckConstraint(condition=Q(secret__startswith=SECRET_PREFIX), name="endpoint_secret_whsec"),
            models.CheckConstraint(condition=Q(previous_secret="") | Q(previous_secret__startswith=SECRET_PREFIX,
                                                                       previous_secret_expires_at__isnull=False),
                                   name="endpoint_previous_secret_whsec"),
            models.CheckConstraint(condition=Q(event_types__len__gt=0), name="endpoint_event_types_nonempty"),
            models.CheckConstraint(condition=Q(url__startswith="https://") | Q(url__startswith="http://"),
                                   name="endpoint_url_http"),
            models.CheckConstraint(condition=Q(disabled_reason__in=DisabledReason.values),
                                   name="endpoint_reason_valid"),
            # enabled <=> no reason; disabled <=> a reason and a time
            models.CheckConstraint(condition=Q(enabled=True, disabled_reason="", disabled_at__isnull=True)
                                   | (Q(enabled=False, disabled_at__isnull=False) & ~Q(disabled_reason="")),
                                   name="endpoint_disabled_consistent"),
        ]

    def __str__(self) -> str:
        return f"{self.url} ({'enabled' if self.enabled else 'disabled'})"


class Event(models.Model):
    """One thing Phoenix tells its subscribers (the outbox). `id` is the `webhook-id`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=64)
    subject = models.CharField(max_length=64, help_text="user:<id> or pro_account:<public id>")
    sequence = models.BigIntegerField(help_text="Per subject, increasing: a receiver drops an older one.")
    body = models.JSONField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "sequence"], name="event_subject_sequence_unique"),
            models.CheckConstraint(condition=Q(sequence__gt=0), name="event_sequence_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.subject} #{self.sequence}"


class SubjectSequence(models.Model):
    """The last sequence number given to a subject's events (the counter `emit` bumps)."""

    subject = models.CharField(max_length=64, primary_key=True)
    last_sequence = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.subject}: {self.last_sequence}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (retries exhausted)"


class Delivery(models.Model):
    """An event owed to one endpoint: pending until a 2xx, retried on its schedule."""

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts since it was (re)queued: the retry step.")
    attempts_total = models.PositiveIntegerField(default=0, help_text="Every attempt ever (numbers the log).")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_event_endpoint_unique"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="delivery_status_valid"),
            models.CheckConstraint(condition=~Q(status=DeliveryStatus.PENDING) | Q(next_attempt_at__isnull=False),
                                   name="delivery_pending_has_next_attempt"),
            models.CheckConstraint(condition=~Q(status=DeliveryStatus.DELIVERED) | Q(delivered_at__isnull=False),
                                   name="delivery_delivered_has_time"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="delivery_due_idx"),
            models.Index(fields=["endpoint", "status"], name="delivery_endpoint_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> endpoint {self.endpoint_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One POST to an endpoint and what came back (append-only)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    succeeded = models.BooleanField()
    response_body = models.TextField(blank=True, default="", help_text="The answer, truncated.")
    error = models.CharField(max_length=255, blank=True, default="", help_text="Timeout, refused address, ...")

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="deliveryattempt_number_unique"),
        ]
        indexes = [models.Index(fields=["started_at"], name="deliveryattempt_started_idx")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.status_code or self.error}"
