"""Daily Stripe reconciliation: every succeeded pack payment credited exactly once, and
every pro's grouped subscription billing exactly its billable monthly seats.

Findings come from ``billing.selectors.reconciliation_findings``; each becomes (or bumps)
an open ``ReconciliationIncident``. Safe to run twice at once: a transaction-level
advisory lock makes the second run a no-op (its report says ``skipped_locked``). Never
corrects anything by itself: money mismatches are for a human (mail_admins + the admin
dashboard).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.models import IncidentStatus, ReconciliationIncident
from billing.selectors import ReconciliationFinding, reconciliation_findings
from phoenix.core.jobs import JobReport, try_advisory_xact_lock

logger = structlog.get_logger("phoenix.billing.reconciliation")

LOCK_NAME = "billing.reconcile_payments"


@dataclass
class ReconciliationReport(JobReport):
    job: str = LOCK_NAME
    findings: list[ReconciliationFinding] = field(default_factory=list)
    opened: int = 0
    bumped: int = 0

    def counts(self) -> dict[str, int]:
        return {"findings": len(self.findings), "opened": self.opened, "bumped": self.bumped}


def payments_reconcile(*, now: datetime | None = None, dry_run: bool = False) -> ReconciliationReport:
    now = now or timezone.now()
    report = ReconciliationReport(now=now, dry_run=dry_run)
    with transaction.atomic():
        if not try_advisory_xact_lock(LOCK_NAME):
            report.skipped_locked = True
            return report
        report.findings = reconciliation_findings()
        if dry_run:
            return report
        opened: list[ReconciliationIncident] = []
        for finding in report.findings:
            bumped = ReconciliationIncident.objects.filter(
                code=finding.code, subject=finding.subject, status=IncidentStatus.OPEN
            ).update(last_seen_at=now, times_seen=F("times_seen") + 1, detail=finding.detail)
            if bumped:
                report.bumped += 1
                continue
            opened.append(ReconciliationIncident.objects.create(
                code=finding.code, subject=finding.subject, payment_id=finding.payment_id,
                detail=finding.detail, detected_at=now, last_seen_at=now,
            ))
        report.opened = len(opened)
        if opened:
            transaction.on_commit(lambda: _alert(opened))
    logger.info("payments_reconciled", findings=len(report.findings), opened=report.opened,
                bumped=report.bumped)
    return report


def _alert(incidents: list[ReconciliationIncident]) -> None:
    lines = [f"- {i.code} {i.subject}: {i.detail} (runbook: docs/runbooks/{i.code}.md)" for i in incidents]
    mail_admins(
        f"Billing reconciliation: {len(incidents)} new mismatch(es)",
        "Payments and ledger credits disagree:\n" + "\n".join(lines),
        fail_silently=True,
    )


@transaction.atomic
def reconciliation_incident_resolve(*, incident_id: int, actor, note: str) -> ReconciliationIncident:
    incident = ReconciliationIncident.objects.select_for_update().get(pk=incident_id)
    if incident.status == IncidentStatus.OPEN:
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = timezone.now()
        incident.resolved_by = actor
        incident.resolution_note = note
        incident.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
    return incident
