"""Reads of the outbound webhooks (the dashboard's figures)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from phoenix.outbound.models import Delivery, DeliveryAttempt, DeliveryStatus, DisabledReason, Endpoint


def outbound_summary(*, now: datetime) -> dict[str, Any]:
    """Deliveries of the last 24 h, failing / auto-disabled endpoints, oldest undelivered age
    (four queries whatever the data size)."""
    since = now - timedelta(hours=24)
    attempts = DeliveryAttempt.objects.filter(started_at__gte=since).aggregate(
        total=Count("id"), succeeded=Count("id", filter=Q(succeeded=True)))
    pending = Delivery.objects.filter(status=DeliveryStatus.PENDING).aggregate(
        count=Count("id"), oldest=Min("created_at"), failed=Count("id", filter=Q(attempts__gt=0)))
    failed = Delivery.objects.filter(status=DeliveryStatus.FAILED).count()
    endpoints = list(Endpoint.objects.filter(
        Q(enabled=True, failing_since__isnull=False)
        | Q(enabled=False, disabled_reason__in=[DisabledReason.GONE, DisabledReason.FAILING])
    ).order_by("-enabled", "failing_since")[:20])
    oldest = pending["oldest"]
    return {
        "attempts_24h": attempts["total"],
        "delivered_24h": attempts["succeeded"],
        "failed_attempts_24h": attempts["total"] - attempts["succeeded"],
        "pending": pending["count"],
        "retrying": pending["failed"],
        "failed": failed,
        "oldest_undelivered_age_s": int((now - oldest).total_seconds()) if oldest else None,
        "failing_endpoints": [e for e in endpoints if e.enabled],
        # Incidents: endpoints the system disabled (410 Gone, failing too long).
        "incidents": [e for e in endpoints if not e.enabled],
    }


def outbound_backlog_count() -> int:
    """Deliveries still to be made (pending, retries included): the /metrics backlog gauge."""
    return Delivery.objects.filter(status=DeliveryStatus.PENDING).count()


def outbound_oldest_undelivered_age_s() -> float:
    """Age in seconds of the oldest pending delivery's event row (0 when none is pending)."""
    oldest = Delivery.objects.filter(status=DeliveryStatus.PENDING).aggregate(oldest=Min("created_at"))["oldest"]
    return (timezone.now() - oldest).total_seconds() if oldest else 0.0
