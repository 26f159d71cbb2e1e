"""Thin Celery tasks: each calls one service (scheduled by migration 0004)."""

from celery import shared_task

from wallet import services


@shared_task(name="wallet.health_check")
def wallet_health_check() -> dict:
    report = services.wallet_health_run()
    return {
        "skipped_locked": report.skipped_locked,
        "critical": len(report.critical),
        "warnings": len(report.warnings),
        "corrections": [op.pk for op in report.corrections],
        "new_incidents": [incident.pk for incident in report.new_incidents],
    }


@shared_task(name="wallet.expire_holds")
def wallet_expire_holds() -> dict:
    report = services.wallet_holds_expire()
    return {"skipped_locked": report.skipped_locked, "expired": [str(hold.pk) for hold in report.expired]}
