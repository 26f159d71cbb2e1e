"""Billing's part of the Prometheus metrics (phoenix.core.metrics), registered in
``BillingConfig.ready``: failed webhook events read at scrape time, and the mismatches of
the last reconciliation run."""

from __future__ import annotations

from billing.models import WebhookEvent, WebhookEventStatus
from billing.services.reconciliation import LOCK_NAME as RECONCILIATION_JOB
from phoenix.core import metrics


def webhook_events_failed_count() -> int:
    return WebhookEvent.objects.filter(status=WebhookEventStatus.FAILED).count()


def reconciliation_observe(summary: dict) -> None:
    metrics.RECONCILIATION_MISMATCHES.set(summary["findings"])


def register() -> None:
    metrics.register_scrape_gauge(
        "phoenix_stripe_webhook_events_failed_pending",
        "Stored Stripe events whose processing failed and has not succeeded since (awaiting a retry or a re-play).",
        webhook_events_failed_count,
    )
    metrics.register_job_summary_observer(RECONCILIATION_JOB, reconciliation_observe)
