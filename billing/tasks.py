"""Thin Celery tasks calling billing services."""

from __future__ import annotations

from celery import shared_task

from billing.services.reconciliation import payments_reconcile


@shared_task(name="billing.reconcile_payments")
def reconcile_payments() -> dict:
    report = payments_reconcile()
    return {"ran": report.ran, "findings": len(report.findings), "opened": report.opened,
            "bumped": report.bumped}
