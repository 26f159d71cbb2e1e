"""The webhook pipeline: verify, store, dispatch, record the outcome.

1. ``webhook_verify``: the ``Stripe-Signature`` header (``t=<unix>,v1=<hex>``: HMAC-SHA256
   of ``"<t>.<raw body>"`` with ``STRIPE_WEBHOOK_SECRET``, timestamp within 300 s) is
   checked by the Stripe library before the body is even parsed. Anything wrong: 400,
   nothing stored.
2. ``webhook_event_record``: every verified event is stored once (unique Stripe id);
   repeated deliveries bump ``deliveries``.
3. ``webhook_event_process``: the event row is locked (concurrent duplicate deliveries
   queue here, then find it processed), the handlers run inside a savepoint; on failure the
   savepoint is rolled back (no partial domain state) while the failure itself (status,
   error, attempts) is committed, and the caller answers 5xx so Stripe retries.
"""

from __future__ import annotations

import traceback
from datetime import UTC, datetime
from typing import Any

import stripe
import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing import webhooks
from billing.errors import (
    InvalidWebhook,
    StripeNotConfigured,
    WebhookEventNotFailed,
    WebhookProcessingFailed,
)
from billing.models import WebhookEvent, WebhookEventStatus
from billing.signals import webhook_event_settled
from phoenix.core import metrics
from phoenix.core.input_policy import parse_json_body

logger = structlog.get_logger("phoenix.billing.webhooks")

SIGNATURE_TOLERANCE_SECONDS = 300
_DONE = (WebhookEventStatus.PROCESSED, WebhookEventStatus.IGNORED)


def webhook_verify(*, payload: bytes, signature_header: str | None) -> dict[str, Any]:
    """The verified, parsed event; raises ``InvalidWebhook`` (400) otherwise."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise StripeNotConfigured("Webhooks cannot be verified: STRIPE_WEBHOOK_SECRET is not set.")
    if not signature_header:
        raise InvalidWebhook("Missing Stripe-Signature header.", code="missing_signature")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature_header, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        raise InvalidWebhook(str(exc).split(". ")[0], code="invalid_signature") from None
    except UnicodeDecodeError:  # stripe decodes the body first: not UTF-8, so not what Stripe signed
        raise InvalidWebhook("The body is not UTF-8.", code="invalid_signature") from None
    try:
        event = parse_json_body(payload)  # the one input policy: depth, NUL, lone surrogates
    except (ValueError, UnicodeDecodeError):
        raise InvalidWebhook("The body is not valid JSON.", code="malformed_payload") from None
    if (
        not isinstance(event, dict)
        or event.get("object") != "event"
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("data"), dict)
    ):
        raise InvalidWebhook("The body is not a Stripe event.", code="malformed_payload")
    return event


def webhook_event_record(*, event: dict[str, Any]) -> WebhookEvent:
    """Store a verified event (once); a repeated delivery only bumps ``deliveries``."""
    created = event.get("created")
    record, created_now = WebhookEvent.objects.get_or_create(
        stripe_id=event["id"],
        defaults={
            "type": event["type"],
            "livemode": bool(event.get("livemode", False)),
            "api_version": event.get("api_version") or "",
            "stripe_created": (
                datetime.fromtimestamp(int(created), tz=UTC) if created is not None else None
            ),
            "payload": event,
            "deliveries": 1,
        },
    )
    if not created_now:
        WebhookEvent.objects.filter(pk=record.pk).update(deliveries=F("deliveries") + 1)
    return record


def webhook_event_process(*, webhook_event_id: int) -> WebhookEvent:
    """Dispatch a stored event to its handlers, once; see the module docstring."""
    failure: BaseException | None = None
    with transaction.atomic():
        record = WebhookEvent.objects.select_for_update().get(pk=webhook_event_id)
        if record.status in _DONE:
            webhook_event_settled.send(sender=WebhookEvent, webhook_event_id=record.pk)
            return record
        now = timezone.now()
        if not webhooks.handlers_for(record.type):
            record.status = WebhookEventStatus.IGNORED
            record.processed_at = now
            record.save(update_fields=["status", "processed_at"])
            webhook_event_settled.send(sender=WebhookEvent, webhook_event_id=record.pk)
            return record
        record.attempts += 1
        record.last_attempt_at = now
        try:
            with transaction.atomic():  # savepoint: a failure undoes every domain write
                webhooks.dispatch(webhooks.StripeEvent.from_payload(record.payload))
        except Exception as exc:  # any handler failure is recorded, then re-raised
            failure = exc
            record.status = WebhookEventStatus.FAILED
            record.error = "".join(traceback.format_exception_only(exc)).strip()[:4000]
        else:
            record.status = WebhookEventStatus.PROCESSED
            record.processed_at = timezone.now()
            record.error = ""
        record.save(
            update_fields=["status", "processed_at", "error", "attempts", "last_attempt_at"]
        )
        if failure is None:
            webhook_event_settled.send(sender=WebhookEvent, webhook_event_id=record.pk)
    if failure is not None:
        logger.error(
            "webhook_processing_failed",
            stripe_event_id=record.stripe_id, type=record.type, error=record.error,
            exc_info=failure,
        )
        raise WebhookProcessingFailed(stripe_event_id=record.stripe_id) from failure
    return record


def webhook_receive(*, payload: bytes, signature_header: str | None) -> WebhookEvent:
    """The whole pipeline for one delivery (the view's only call), counted by type and
    outcome (``phoenix_stripe_webhook_events_*``)."""
    event = webhook_verify(payload=payload, signature_header=signature_header)
    type_label = metrics.webhook_event_type_label(event["type"], webhooks.HANDLERS)
    metrics.WEBHOOK_EVENTS_RECEIVED.labels(type=type_label).inc()
    record = webhook_event_record(event=event)
    already_done = record.status in _DONE
    try:
        record = webhook_event_process(webhook_event_id=record.pk)
    except WebhookProcessingFailed:
        metrics.WEBHOOK_EVENTS_FAILED.labels(type=type_label).inc()
        raise
    if already_done:
        outcome = "duplicate"
    else:
        outcome = "ignored" if record.status == WebhookEventStatus.IGNORED else "processed"
        if record.stripe_created is not None:
            lag = (timezone.now() - record.stripe_created).total_seconds()
            metrics.WEBHOOK_PROCESSING_LAG.labels(type=type_label).observe(max(lag, 0.0))
    metrics.WEBHOOK_EVENTS_PROCESSED.labels(type=type_label, outcome=outcome).inc()
    logger.info("webhook_event_done", stripe_event_id=record.stripe_id, webhook_event_id=record.pk,
                type=record.type, outcome=outcome)
    return record


def webhook_event_reprocess(*, webhook_event_id: int) -> WebhookEvent:
    """Re-play a failed (or never processed) event: from the admin or a shell.

    Handlers are idempotent, so a re-play after Stripe's own retry already succeeded
    is harmless; a processed or ignored event is refused to keep the record honest.
    """
    record = WebhookEvent.objects.get(pk=webhook_event_id)
    if record.status in _DONE:
        raise WebhookEventNotFailed()
    return webhook_event_process(webhook_event_id=record.pk)
