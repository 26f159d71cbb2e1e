"""Delivering the outbox: one signed POST per (event, endpoint), retried on a schedule.

At least once, per endpoint: a delivery is pending until its endpoint answers 2xx within
WEBHOOK_TIMEOUT_SECONDS. An attempt holds the delivery's row lock (FOR UPDATE SKIP LOCKED)
while it POSTs and records the outcome in the same transaction: a second worker skips it,
and a worker killed mid-POST loses the lock with its connection, so the dispatcher hands
the delivery to another worker at once (the receiver may then see the same `webhook-id`
twice: it de-duplicates on it, as Standard Webhooks asks).

Failures are retried after RETRY_DELAYS_S (each +-JITTER), about three days in all; then
the delivery is `failed` (an operator can redeliver). 410 Gone disables the endpoint at
once; an endpoint failing WEBHOOK_DISABLE_AFTER_DAYS is disabled by the dispatcher and
shown on the dashboard.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
import structlog
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from phoenix.core import metrics
from phoenix.core.jobs import JobReport, advisory_lock
from phoenix.outbound.catalogue import BALANCE_LOW, envelope
from phoenix.outbound.errors import InvalidEndpointUrl
from phoenix.outbound.models import Delivery, DeliveryAttempt, DeliveryStatus, DisabledReason, Endpoint
from phoenix.outbound.services.endpoints import endpoint_signing_secrets, endpoint_url_check

logger = structlog.get_logger("phoenix.outbound")

# Seconds to wait after failed attempt n (1-based): 11 attempts over about 71 hours.
RETRY_DELAYS_S = (5, 60, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 20 * 3600)
JITTER = 0.2  # each delay is drawn in [d * (1 - JITTER), d * (1 + JITTER)]
MAX_ATTEMPTS = len(RETRY_DELAYS_S) + 1
RESPONSE_KEEP_CHARS = 1000
DISPATCH_BATCH = 500
DISPATCH_LOCK = "outbound.dispatch"
USER_AGENT = "Phoenix-Webhooks/1.0"


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> timedelta | None:
    """The wait after failed attempt `attempt` (1-based); None when the retries are exhausted."""
    if attempt > len(RETRY_DELAYS_S):
        return None
    base = RETRY_DELAYS_S[attempt - 1]
    return timedelta(seconds=base * (rng or random).uniform(1 - JITTER, 1 + JITTER))


def delivery_payload(delivery: Delivery) -> str:
    """The exact body POSTed (and signed) for a delivery."""
    event, data = delivery.event, dict(delivery.event.body)
    if event.type == BALANCE_LOW:  # the endpoint's own threshold (the event row is shared)
        threshold = delivery.endpoint.balance_low_threshold
        data["threshold"] = settings.WEBHOOK_BALANCE_LOW_DEFAULT if threshold is None else threshold
    body = envelope(event_id=str(event.id), type=event.type, timestamp=event.created_at.isoformat(),
                    subject=event.subject, sequence=event.sequence, data=data)
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"))


def delivery_headers(*, endpoint: Endpoint, msg_id: str, payload: str, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers; during a key rotation, one signature per valid secret."""
    signature = " ".join(Webhook(secret).sign(msg_id=msg_id, timestamp=now, data=payload)
                         for secret in endpoint_signing_secrets(endpoint, now=now))
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature, "content-type": "application/json", "user-agent": USER_AGENT}


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    response_body: str
    error: str
    latency_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _post(url: str, *, payload: str, headers: dict[str, str]) -> PostResult:
    started = time.monotonic()
    status_code, answer, error = None, "", ""
    try:
        endpoint_url_check(url)  # again: the host may resolve elsewhere since it was saved
        # No redirects: a 3xx to an internal address would bypass the URL rule.
        with requests.post(url, data=payload.encode(), headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                           allow_redirects=False, stream=True) as response:
            status_code = response.status_code
            answer = response.raw.read(RESPONSE_KEEP_CHARS * 4, decode_content=True).decode(
                response.encoding or "utf-8", "replace")[:RESPONSE_KEEP_CHARS]
    except InvalidEndpointUrl as exc:
        error = f"refused: {exc.detail}"
    except requests.Timeout:
        error = f"timeout after {settings.WEBHOOK_TIMEOUT_SECONDS} s"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    return PostResult(status_code=status_code, response_body=answer, error=error[:255],
                      latency_ms=int((time.monotonic() - started) * 1000))


def delivery_attempt(*, delivery_id: int) -> DeliveryAttempt | None:
    """Attempt one due, pending delivery to an enabled endpoint; None if there is nothing to
    do (delivered already, not due, endpoint disabled, or another worker has it now)."""
    with transaction.atomic():
        delivery = (Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("event", "endpoint")
                    .filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now(),
                            endpoint__enabled=True)
                    .first())
        if delivery is None:
            return None
        endpoint, now = delivery.endpoint, timezone.now()
        payload = delivery_payload(delivery)
        headers = delivery_headers(endpoint=endpoint, msg_id=str(delivery.event_id), payload=payload, now=now)
        result = _post(endpoint.url, payload=payload, headers=headers)
        return _attempt_record(delivery, result=result, started_at=now)


def _attempt_record(delivery: Delivery, *, result: PostResult, started_at: datetime) -> DeliveryAttempt:
    now = timezone.now()
    delivery.attempts += 1
    delivery.attempts_total += 1
    delivery.last_attempt_at, delivery.last_status_code = now, result.status_code
    endpoints = Endpoint.objects.filter(pk=delivery.endpoint_id)
    if result.succeeded:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
        endpoints.filter(failing_since__isnull=False).update(failing_since=None, updated_at=now)
    else:
        endpoints.filter(failing_since__isnull=True).update(failing_since=started_at, updated_at=now)
        if result.status_code == 410:
            # Gone: the receiver says never again. Its pending deliveries wait (not sent) in case
            # an operator enables it back.
            endpoints.filter(enabled=True).update(enabled=False, disabled_reason=DisabledReason.GONE,
                                                  disabled_at=now, updated_at=now)
            logger.warning("webhook_endpoint_gone", endpoint_id=delivery.endpoint_id)
        delay = retry_delay(delivery.attempts)
        if delay is None:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        else:
            delivery.next_attempt_at = now + delay
    delivery.save(update_fields=["attempts", "attempts_total", "last_attempt_at", "last_status_code", "status",
                                 "delivered_at", "next_attempt_at"])
    if result.succeeded:
        outcome = "delivered"
    elif result.status_code == 410:
        outcome = "gone"
    else:
        outcome = "failed" if delivery.status == DeliveryStatus.FAILED else "retry"
    metrics.OUTBOUND_DELIVERY_ATTEMPTS.labels(outcome=outcome).inc()
    metrics.OUTBOUND_DELIVERY_DURATION.observe(result.latency_ms / 1000)
    logger.info("webhook_attempt", delivery_id=delivery.pk, event_id=str(delivery.event_id),
                endpoint_id=delivery.endpoint_id, status_code=result.status_code, error=result.error,
                latency_ms=result.latency_ms, delivery_status=delivery.status)
    return DeliveryAttempt.objects.create(
        delivery=delivery, number=delivery.attempts_total, started_at=started_at, status_code=result.status_code,
        latency_ms=result.latency_ms, succeeded=result.succeeded, response_body=result.response_body,
        error=result.error,
    )


# --- The dispatcher (beat) and the operator's redeliveries -------------------------------------


@dataclass
class DispatchReport(JobReport):
    enqueued: list[int] = field(default_factory=list)
    disabled_endpoints: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"enqueued": len(self.enqueued), "disabled_endpoints": len(self.disabled_endpoints)}


def deliveries_dispatch(*, now: datetime | None = None, dry_run: bool = False, enqueue=None) -> DispatchReport:
    """The beat job: hand every due pending delivery (to an enabled endpoint, not being
    attempted right now) to the workers, and disable the endpoints failing for too long.

    `enqueue(ids)` defaults to the Celery task; tests pass their own to attempt in-process.
    """
    now = now or timezone.now()
    report = DispatchReport(job="outbound.dispatch", now=now, dry_run=dry_run)
    with advisory_lock(DISPATCH_LOCK) as acquired:
        if not acquired:
            report.skipped_locked = True
            return report
        cutoff = now - timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)
        with transaction.atomic():
            failing = list(Endpoint.objects.filter(enabled=True, failing_since__lte=cutoff)
                           .values_list("pk", flat=True))
            if not dry_run:
                Endpoint.objects.filter(pk__in=failing, enabled=True).update(
                    enabled=False, disabled_reason=DisabledReason.FAILING, disabled_at=now, updated_at=now)
                for endpoint_id in failing:
                    logger.error("webhook_endpoint_disabled_failing", endpoint_id=endpoint_id)
            report.disabled_endpoints = failing
            # SKIP LOCKED: a delivery an attempt holds right now is in flight, not lost.
            report.enqueued = list(
                Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True)
                .order_by("next_attempt_at").values_list("pk", flat=True)[:DISPATCH_BATCH])
    if report.enqueued and not dry_run and enqueue is not None:
        enqueue(report.enqueued)
    return report


@transaction.atomic
def delivery_redeliver(*, delivery: Delivery, now: datetime | None = None) -> Delivery:
    """Queue a delivery again now, whatever its state (a fresh retry schedule)."""
    now = now or timezone.now()
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    delivery.status, delivery.attempts, delivery.next_attempt_at = DeliveryStatus.PENDING, 0, now
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    return delivery


@transaction.atomic
def endpoint_redeliver_failed(*, endpoint: Endpoint, now: datetime | None = None) -> list[int]:
    """Queue every failed delivery of an endpoint again; their ids."""
    now = now or timezone.now()
    ids = list(Delivery.objects.select_for_update().filter(endpoint=endpoint, status=DeliveryStatus.FAILED)
               .values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=ids).update(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now)
    return ids

