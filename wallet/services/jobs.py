"""The wallet's scheduled jobs: hold expiry, and the health run with its alerting.

Both are overlap-safe: a run that finds its advisory lock held does nothing and returns a
report with `skipped_locked=True` (callers that must fail call `report.raise_if_skipped()`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from django.core.mail import mail_admins
from django.db import connection, transaction
from django.utils import timezone

from phoenix.core.jobs import JobReport, advisory_lock
from phoenix.core.models import JobRunOutcome
from phoenix.core.services import job_run_record
from wallet import selectors
from wallet.models import (
    BalanceOperation,
    Hold,
    Incident,
    IncidentSeverity,
    IncidentStatus,
    OperationSource,
    OperationType,
    Wallet,
)
from wallet.selectors import HealthFinding
from wallet.selectors.health import findings_from_rows, health_run_sql
from wallet.services.holds import hold_expire
from wallet.services.ledger import append_operation, save_wallet
from wallet.services.lots import lot_expire, lots_due_for_expiry

logger = structlog.get_logger("phoenix.wallet")

EXPIRY_JOB = "wallet.expire_holds"  # the Celery task's name too
EXPIRY_LOCK = EXPIRY_JOB
LOT_EXPIRY_JOB = "wallet.expire_lots"  # the Celery task's name too
LOT_EXPIRY_LOCK = LOT_EXPIRY_JOB
HEALTH_JOB = "wallet.health_check"  # JobRun.job of the health runs, and the Celery task's name
HEALTH_LOCK = HEALTH_JOB


# --- Hold expiry -------------------------------------------------------------------------------


@dataclass
class HoldExpiryReport(JobReport):
    job: str = EXPIRY_JOB
    due: list[Hold] = field(default_factory=list)
    expired: list[Hold] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"due": len(self.due), "expired": len(self.expired)}


def wallet_holds_expire(*, now: datetime | None = None, dry_run: bool = False,
                        batch_size: int = 500) -> HoldExpiryReport:
    """Release every pending hold past its deadline (status `expired`), one transaction
    per hold so a busy wallet never blocks the rest. Overlap-safe: a second concurrent
    run finds the advisory lock taken and does nothing."""
    now = now or timezone.now()
    report = HoldExpiryReport(now=now, dry_run=dry_run)
    with advisory_lock(EXPIRY_LOCK) as acquired:
        if not acquired:
            report.skipped_locked = True
            return report
        if dry_run:
            report.due = selectors.holds_due_for_expiry(now=now, limit=10**6)
            return report
        while batch := selectors.holds_due_for_expiry(now=now, limit=batch_size):
            report.due.extend(batch)
            expired_now = [h for h in (hold_expire(hold_id=hold.pk, now=now) for hold in batch) if h]
            report.expired.extend(expired_now)
            if not expired_now:  # every due hold was resolved by someone else meanwhile
                break
    if report.expired:
        logger.info("wallet_holds_expired", count=len(report.expired),
                    hold_ids=[h.pk for h in report.expired], wallet_ids=sorted({h.wallet_id for h in report.expired}))
    return report


# --- Lot expiry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotExpiry:
    lot_id: int
    wallet_id: int
    amount: int
    operation_id: int | None = None  # set by a real run


@dataclass
class LotExpiryReport(JobReport):
    job: str = LOT_EXPIRY_JOB
    due: list[LotExpiry] = field(default_factory=list)
    expired: list[LotExpiry] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"due": len(self.due), "expired": len(self.expired),
                "points_due": sum(e.amount for e in self.due), "points_expired": sum(e.amount for e in self.expired)}


@transaction.atomic
def _lot_expire_one(*, lot_id: int, wallet_id: int, now: datetime) -> LotExpiry | None:
    wallet = Wallet.objects.select_for_update().get(pk=wallet_id)
    result = lot_expire(wallet=wallet, lot_id=lot_id, now=now)
    if result is None:  # consumed or reserved meanwhile
        return None
    operation, amount = result
    save_wallet(wallet)
    return LotExpiry(lot_id=lot_id, wallet_id=wallet_id, amount=amount, operation_id=operation.pk)


def wallet_lots_expire(*, now: datetime | None = None, dry_run: bool = False,
                       batch_size: int = 500) -> LotExpiryReport:
    """Expire the unreserved remainder of every lot past its `expires_at` (a `lot_expiry`
    operation, source system, per lot; one transaction per lot under its wallet's lock).
    What pending holds reserved stays theirs; a release hands it back and it expires then.
    Overlap-safe (advisory lock); the dry run lists exactly what the real run would expire."""
    now = now or timezone.now()
    report = LotExpiryReport(now=now, dry_run=dry_run)
    with advisory_lock(LOT_EXPIRY_LOCK) as acquired:
        if not acquired:
            report.skipped_locked = True
            return report
        if dry_run:
            report.due = [LotExpiry(lot_id=lot, wallet_id=wallet, amount=int(amount))
                          for lot, wallet, amount in lots_due_for_expiry(now=now, limit=10**6)]
            return report
        while batch := lots_due_for_expiry(now=now, limit=batch_size):
            report.due.extend(LotExpiry(lot_id=lot, wallet_id=wallet, amount=int(amount))
                              for lot, wallet, amount in batch)
            expired_now = [e for e in (_lot_expire_one(lot_id=lot, wallet_id=wallet, now=now)
                                       for lot, wallet, _ in batch) if e]
            report.expired.extend(expired_now)
            if not expired_now:
                break
    if report.expired:
        logger.info("wallet_lots_expired", count=len(report.expired),
                    points=sum(e.amount for e in report.expired))
    return report


# --- Health --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthVerification:
    """What one health statement verified and found."""

    findings: list[HealthFinding]
    operations_verified: int  # operations re-hashed and replayed
    wallets_verified: int  # full: every wallet; hourly: the wallets that moved (the rest: row vs checkpoint)
    checkpoints_advanced: int


def wallet_health_verify(*, full: bool, advance_checkpoints: bool, now: datetime) -> HealthVerification:
    """Run the health check's ONE statement: `full` from genesis for every wallet, else the hourly
    incremental check from each wallet's checkpoint (wallet.selectors.health). With
    `advance_checkpoints`, the same statement moves the checkpoint of every verified wallet
    without a finding to what it verified (one snapshot); without, it writes nothing."""
    with connection.cursor() as cursor:
        cursor.execute(health_run_sql(full=full, advance_checkpoints=advance_checkpoints), {"now": now})
        rows = cursor.fetchall()
    operations, wallets, advanced = rows[0][:3]
    return HealthVerification(
        findings=findings_from_rows([row[3:] for row in rows if row[3] is not None]),
        operations_verified=int(operations), wallets_verified=int(wallets), checkpoints_advanced=int(advanced))


@dataclass
class HealthRunReport(JobReport):
    job: str = HEALTH_JOB
    full: bool = False  # the full re-verification from genesis; else the hourly incremental check
    findings: list[HealthFinding] = field(default_factory=list)
    operations_verified: int = 0
    wallets_verified: int = 0
    checkpoints_advanced: int = 0
    corrections: list[BalanceOperation] = field(default_factory=list)
    # Dry run: (wallet id, operation type, amount) the run would write.
    planned_corrections: list[tuple[int, str, int]] = field(default_factory=list)
    new_incidents: list[Incident] = field(default_factory=list)
    job_run: Any = None  # phoenix.core.models.JobRun noted for a real (not dry) run

    @property
    def critical(self) -> list[HealthFinding]:
        return [f for f in self.findings if f.severity == IncidentSeverity.CRITICAL]

    @property
    def warnings(self) -> list[HealthFinding]:
        return [f for f in self.findings if f.severity == IncidentSeverity.WARNING]

    @property
    def mode(self) -> str:
        return "full" if self.full else "incremental"

    def counts(self) -> dict[str, int]:
        return {"findings": len(self.findings), "critical": len(self.critical), "warnings": len(self.warnings),
                "corrections": len(self.corrections), "planned_corrections": len(self.planned_corrections),
                "new_incidents": len(self.new_incidents), "operations_verified": self.operations_verified,
                "wallets_verified": self.wallets_verified, "checkpoints_advanced": self.checkpoints_advanced}

    def summary(self) -> dict:
        return {**super().summary(), "mode": self.mode}


def _held_correction(finding: HealthFinding) -> tuple[str, int]:
    difference = finding.detail["pending_holds"] - finding.detail["held"]
    op_type = OperationType.HELD_CORRECTION_UP if difference > 0 else OperationType.HELD_CORRECTION_DOWN
    return op_type, abs(difference)


def _incident_record(finding: HealthFinding, *, now: datetime, status: str = IncidentStatus.OPEN,
                     correction: BalanceOperation | None = None, note: str = "") -> tuple[Incident, bool]:
    """Open (or bump) the incident for a finding; returns (incident, is_new)."""
    if status == IncidentStatus.OPEN:
        existing = Incident.objects.select_for_update().filter(
            wallet_id=finding.wallet_id, code=finding.code, status=IncidentStatus.OPEN
        ).first()
        if existing:
            existing.last_seen_at = now
            existing.times_seen += 1
            existing.detail = finding.detail
            existing.save(update_fields=["last_seen_at", "times_seen", "detail"])
            return existing, False
    incident = Incident.objects.create(
        wallet_id=finding.wallet_id, code=finding.code, severity=finding.severity, status=status,
        detail=finding.detail, correction=correction, detected_at=now, last_seen_at=now,
        resolved_at=now if status != IncidentStatus.OPEN else None, resolution_note=note,
    )
    return incident, True


@transaction.atomic
def wallet_held_correct(
    *, wallet_id: int, now: datetime
) -> tuple[Incident | None, bool, BalanceOperation | None]:
    """Correct one wallet's held to the sum of its pending holds, re-checked under lock.

    Returns (incident, is_new, correction); correction is None when nothing was written.
    """
    wallet = Wallet.objects.select_for_update().get(pk=wallet_id)
    findings = selectors.wallet_health_findings(wallet_ids=[wallet_id])
    warning = next((f for f in findings if f.code == "held_pending_mismatch"), None)
    if warning is None:
        return None, False, None  # fixed meanwhile
    if any(f.severity == IncidentSeverity.CRITICAL for f in findings):
        incident, is_new = _incident_record(warning, now=now,
                                            note="not auto-corrected: the wallet has critical findings")
        return incident, is_new, None
    op_type, amount = _held_correction(warning)
    if op_type == OperationType.HELD_CORRECTION_UP and wallet.held + amount > wallet.balance:
        # Pending holds exceed the balance: raising held would break held <= balance.
        incident, is_new = _incident_record(warning, now=now,
                                            note="not auto-corrected: pending holds exceed the balance")
        return incident, is_new, None
    correction = append_operation(
        wallet, type=op_type, amount=amount, source=OperationSource.SYSTEM,
        reason=f"health: held {warning.detail['held']} corrected to the pending holds "
               f"{warning.detail['pending_holds']}",
        reference="wallet-health",
    )
    save_wallet(wallet)
    incident, _ = _incident_record(warning, now=now, status=IncidentStatus.CORRECTED, correction=correction,
                                   note=f"auto-corrected by operation {correction.pk}")
    return incident, True, correction


def wallet_health_run(*, now: datetime | None = None, dry_run: bool = False, full: bool = False) -> HealthRunReport:
    """Detect (one set-based statement), auto-correct WARNINGs, record and alert CRITICALs.

    Hourly (`full=False`): only the operations after each wallet's checkpoint, and every other
    wallet's row against its checkpoint; `full=True` (daily, or on demand): every operation from
    genesis. Both advance the checkpoint of each verified wallet without a finding, in the same
    statement; a dry run advances nothing. CRITICALs are never corrected: they mean the ledger
    itself is in doubt. A wallet with a CRITICAL finding gets no WARNING correction either (it
    would blur the evidence).
    """
    now = now or timezone.now()
    report = HealthRunReport(now=now, dry_run=dry_run, full=full)
    with advisory_lock(HEALTH_LOCK) as acquired:
        if not acquired:
            report.skipped_locked = True
            return report
        verification = wallet_health_verify(full=full, advance_checkpoints=not dry_run, now=now)
        report.findings = verification.findings
        report.operations_verified = verification.operations_verified
        report.wallets_verified = verification.wallets_verified
        report.checkpoints_advanced = verification.checkpoints_advanced
        critical_wallets = {f.wallet_id for f in report.critical}

        for finding in report.warnings:
            if finding.wallet_id in critical_wallets:
                if not dry_run:
                    with transaction.atomic():
                        incident, is_new = _incident_record(
                            finding, now=now, note="not auto-corrected: the wallet has critical findings")
                    if is_new:
                        report.new_incidents.append(incident)
                continue
            if dry_run:
                op_type, amount = _held_correction(finding)
                report.planned_corrections.append((finding.wallet_id, op_type, amount))
                continue
            incident, is_new, correction = wallet_held_correct(wallet_id=finding.wallet_id, now=now)
            if correction:
                report.corrections.append(correction)
            if incident and is_new:
                report.new_incidents.append(incident)

        new_critical: list[Incident] = []
        if not dry_run:
            for finding in report.critical:
                with transaction.atomic():
                    incident, is_new = _incident_record(finding, now=now)
                if is_new:
                    new_critical.append(incident)
                    report.new_incidents.append(incident)
            report.job_run = _health_run_note(report)
    if new_critical:
        _alert_critical(new_critical)
    logger.info("wallet_health_run", mode=report.mode, operations_verified=report.operations_verified,
                findings=len(report.findings), critical=len(report.critical),
                corrections=len(report.corrections), dry_run=dry_run)
    return report


def _health_run_note(report: HealthRunReport):
    """Keep the run's result for the admin dashboard ("last health run", phoenix.core.JobRun)."""
    outcome = (JobRunOutcome.CRITICAL if report.critical
               else JobRunOutcome.WARNING if report.warnings else JobRunOutcome.OK)
    return job_run_record(job=HEALTH_JOB, started_at=report.now, outcome=outcome, summary={
        **report.counts(), "mode": report.mode, "codes": sorted({f.code for f in report.findings}),
    })


def _alert_critical(incidents: list[Incident]) -> None:
    lines = [f"- wallet {i.wallet_id}: {i.code} {json.dumps(i.detail, sort_keys=True)} (incident {i.pk}; "
             f"runbook: docs/runbooks/{i.code}.md)" for i in incidents]
    logger.error("wallet_health_critical", incidents=[i.pk for i in incidents])
    mail_admins(
        subject=f"Wallet health: {len(incidents)} new critical finding(s)",
        message="Critical wallet anomalies (never auto-corrected; investigate in the admin):\n"
                + "\n".join(lines),
        fail_silently=True,
    )
