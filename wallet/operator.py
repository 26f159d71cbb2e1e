"""Operator actions on the ledger, taken in the admin.

Each one goes through the ledger services (never around them) and writes the
`AdminAction` row (who, what, why, before/after) in the same transaction as the change,
so there is no change without its audit row and no audit row for a change that rolled back.

The ledger services are called through the `wallet.services` package (not imported by
name) so the admin tests can spy on the public name.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from phoenix.core.errors import JobAlreadyRunning
from phoenix.core.jobs import advisory_lock
from phoenix.core.services import operator_action, operator_intent_done, operator_reason
from wallet import selectors, services
from wallet.errors import WalletValidationError
from wallet.models import (
    BalanceOperation,
    Hold,
    Incident,
    IncidentSeverity,
    IncidentStatus,
    LotCategory,
    OperationSource,
    SpendCounter,
    Wallet,
)
from wallet.selectors import CRITICAL_CODES, WARNING_CODES, HealthFinding
from wallet.services.velocity import INCIDENT_CODE as VELOCITY_INCIDENT_CODE

ADJUST_DIRECTIONS = ("credit", "debit")
# The categories an operator grants (paid, bonus and welcome lots come from their own paths).
GRANT_CATEGORIES = (LotCategory.PROMOTIONAL, LotCategory.GOODWILL)
# BalanceOperation.reason is 255 characters; the AdminAction keeps the full reason.
_OPERATION_REASON_MAX = 255


def _refuse_if_done(*, wallet: Wallet, key: str | None) -> None:
    if key and (done := BalanceOperation.objects.filter(wallet=wallet, idempotency_key=key).first()):
        raise operator_intent_done(done_at=done.created_at, what=f"operation {done.pk}, {done.type} of {done.amount}",
                                   operation_id=done.pk)


def _wallet_state(wallet_id: int) -> dict[str, int]:
    balance, held = Wallet.objects.filter(pk=wallet_id).values_list("balance", "held").get()
    return {"balance": balance, "held": held, "available": balance - held}


@transaction.atomic
def wallet_adjust(*, wallet: Wallet, direction: str, amount: int, actor, reason: str,
                  intent_key: str | None = None) -> BalanceOperation:
    """Credit or debit a wallet by hand (source `admin`). `intent_key` (from
    `operator_intent_key`) makes a re-posted form (Back + resubmit, double click) a refusal
    with `operator_action_repeated`: one operation, one audit row; the ledger's unique
    (wallet, idempotency_key) backs it under concurrency."""
    reason = operator_reason(reason)
    if direction not in ADJUST_DIRECTIONS:
        raise WalletValidationError(f"direction must be one of {ADJUST_DIRECTIONS}")
    key = f"admin-adjust:{intent_key}" if intent_key else None
    _refuse_if_done(wallet=wallet, key=key)
    before = _wallet_state(wallet.pk)
    post = services.wallet_credit if direction == "credit" else services.wallet_debit
    operation = post(user=wallet.user, amount=amount, source=OperationSource.ADMIN,
                     reason=reason[:_OPERATION_REASON_MAX], reference=f"admin:{actor.pk}",
                     idempotency_key=key, actor=actor)
    operator_action(actor=actor, action=f"wallet_{direction}", target=wallet, reason=reason,
                    before=before, after={**_wallet_state(wallet.pk), "operation_id": operation.pk,
                                          "amount": operation.amount})
    return operation


@transaction.atomic
def wallet_grant(*, wallet: Wallet, category: str, amount: int, expires_at, actor, reason: str,
                 intent_key: str | None = None) -> BalanceOperation:
    """Grant energy as one lot of `category` (promotional or goodwill) expiring at `expires_at`
    (None: never, an explicit choice of the form), source `admin`, audited."""
    reason = operator_reason(reason)
    if category not in GRANT_CATEGORIES:
        raise WalletValidationError(f"category must be one of {GRANT_CATEGORIES}")
    key = f"admin-grant:{intent_key}" if intent_key else None
    _refuse_if_done(wallet=wallet, key=key)
    before = _wallet_state(wallet.pk)
    operation = services.wallet_credit(
        user=wallet.user, amount=amount, source=OperationSource.ADMIN, reason=reason[:_OPERATION_REASON_MAX],
        reference=f"admin:{actor.pk}", idempotency_key=key, actor=actor,
        lots=[services.LotGrant(amount=amount, category=category, expires_at=expires_at)])
    operator_action(actor=actor, action="wallet_grant", target=wallet, reason=reason, before=before,
                    after={**_wallet_state(wallet.pk), "operation_id": operation.pk, "amount": operation.amount,
                           "category": category, "expires_at": expires_at.isoformat() if expires_at else None})
    return operation


@transaction.atomic
def wallet_health_run_now(*, actor, reason: str, full: bool = False) -> services.HealthRunReport:
    """Run the health job now (`full`: the full re-verification from genesis, else the hourly
    incremental check). One transaction for the run and its audit row (an operator
    run is rare; the hourly job keeps its per-wallet transactions). Returns the report;
    a run that finds another holding the lock wrote nothing and raises JobAlreadyRunning."""
    reason = operator_reason(reason)
    before = selectors.wallet_incidents_open_counts()
    report = services.wallet_health_run(full=full).raise_if_skipped()  # a skipped run wrote nothing
    operator_action(actor=actor, action="wallet_health_run", target=report.job_run, reason=reason,
                    before=before, after={**selectors.wallet_incidents_open_counts(), **report.job_run.summary})
    return report


@transaction.atomic
def wallet_warning_correct(*, wallet: Wallet, actor, reason: str) -> BalanceOperation:
    """Auto-correct a wallet's WARNING (held differs from its pending holds) now, through
    the health job's own correction path (re-checked under the wallet lock, refused if the
    wallet has CRITICAL findings). The open WARNING incident, if any, is resolved."""
    reason = operator_reason(reason)
    now = timezone.now()
    before = _wallet_state(wallet.pk)
    incident, _is_new, correction = services.wallet_held_correct(wallet_id=wallet.pk, now=now)
    if correction is None:
        raise WalletValidationError(
            incident.resolution_note if incident else "This wallet has no WARNING to correct.",
            code="nothing_to_correct" if incident is None else "not_correctable")
    resolved = Incident.objects.filter(
        wallet=wallet, code="held_pending_mismatch", status=IncidentStatus.OPEN
    ).update(status=IncidentStatus.RESOLVED, resolved_at=now,
             resolution_note=f"corrected by operation {correction.pk} (admin)")
    operator_action(actor=actor, action="wallet_warning_correct", target=wallet, reason=reason,
                    before=before, after={**_wallet_state(wallet.pk), "operation_id": correction.pk,
                                          "incidents_resolved": resolved})
    return correction


@transaction.atomic
def hold_release_stuck(*, hold: Hold, actor, reason: str) -> BalanceOperation:
    """Release a pending hold by hand (e.g. the satellite never committed and the expiry
    job is not running), through `wallet_release`."""
    reason = operator_reason(reason)
    before = {"hold_status": hold.status, **_wallet_state(hold.wallet_id)}
    operation = services.wallet_release(hold_id=hold.pk, source=OperationSource.ADMIN,
                                        reason=reason[:_OPERATION_REASON_MAX], actor=actor)
    hold.refresh_from_db()
    operator_action(actor=actor, action="hold_release", target=hold, reason=reason, before=before,
                    after={"hold_status": hold.status, **_wallet_state(hold.wallet_id),
                           "operation_id": operation.pk})
    return operation


@transaction.atomic
def incident_resolve(*, incident: Incident, actor, reason: str) -> Incident:
    """Close an open incident (a CRITICAL after investigation): the reason is its note."""
    reason = operator_reason(reason)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.status != IncidentStatus.OPEN:
        raise WalletValidationError(f"The incident is already {incident.status}.",
                                             code="incident_not_open")
    before = {"status": incident.status}
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = timezone.now()
    incident.resolution_note = reason
    incident.save(update_fields=["status", "resolved_at", "resolution_note"])
    operator_action(actor=actor, action="incident_resolve", target=incident, reason=reason,
                    before=before, after={"status": incident.status})
    return incident


# The incident codes the health check raises: their checks can be re-run for one wallet.
HEALTH_CHECK_CODES = {**CRITICAL_CODES, **WARNING_CODES}


@dataclass(frozen=True)
class IncidentChecksRerun:
    incident: Incident
    finding_gone: bool
    # Everything the check still finds on the wallet (this incident's code and any other).
    findings: list[HealthFinding]

    def describe(self) -> str:
        """What the operator is told: resolved, or what is still wrong."""
        if self.finding_gone:
            others = [f.code for f in self.findings]
            return ("Checks re-run: the finding is gone; incident resolved."
                    + (f" The wallet still has: {', '.join(others)}." if others else " The wallet is healthy."))
        still = "; ".join(f"{f.code} ({HEALTH_CHECK_CODES[f.code]}): "
                          + ", ".join(f"{k}={v}" for k, v in sorted(f.detail.items())) for f in self.findings)
        hint = (" Auto-correct WARNING on the wallet page corrects it once the wallet has no CRITICAL."
                if self.incident.severity == IncidentSeverity.WARNING else "")
        return (f"Checks re-run: still wrong, the incident stays open (seen {self.incident.times_seen} times). "
                f"{still}.{hint}")


def incident_checks_rerun(*, incident: Incident, actor, reason: str) -> IncidentChecksRerun:
    """Re-run the health check for the incident's wallet only (after a repair): the finding
    gone, the incident is resolved; still there, it stays open and is bumped as the hourly
    run would (last_seen_at, times_seen, detail). Audited either way. A re-posted form finds
    the incident resolved (refused, nothing written) or re-checks it once more (harmless).

    Holds the health run's own lock until its transaction has committed (refused while a run
    holds it: a run detects before it records, so a repair checked in between would be
    re-opened by the run's stale finding), and the wallet's row lock (no ledger write between
    the check and its verdict)."""
    reason = operator_reason(reason)
    with advisory_lock(services.HEALTH_LOCK) as acquired:
        if not acquired:
            raise JobAlreadyRunning("A health run is in progress; re-run the checks when it has finished.")
        with transaction.atomic():
            return _incident_checks_rerun_locked(incident_id=incident.pk, actor=actor, reason=reason)


def _incident_checks_rerun_locked(*, incident_id: int, actor, reason: str) -> IncidentChecksRerun:
    # The wallet first, then the incident: the order of every other path that writes both
    # (the WARNING correction, the breaker lift), so none of them can deadlock with this one.
    wallet_id = Incident.objects.filter(pk=incident_id).values_list("wallet_id", flat=True).get()
    Wallet.objects.select_for_update().filter(pk=wallet_id).get()
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if incident.status != IncidentStatus.OPEN:
        raise WalletValidationError(f"The incident is already {incident.status}.", code="incident_not_open")
    if incident.code not in HEALTH_CHECK_CODES:
        raise WalletValidationError(f"{incident.code} is not found by the health check: nothing to re-run.",
                                    code="incident_not_rerunnable")
    findings = selectors.wallet_health_findings(wallet_ids=[incident.wallet_id])
    still = next((f for f in findings if f.code == incident.code), None)
    before = {"status": incident.status, "times_seen": incident.times_seen, "detail": incident.detail}
    now = timezone.now()
    if still is None:
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = now
        incident.resolution_note = f"checks re-run by {actor.email}: finding gone"
        incident.save(update_fields=["status", "resolved_at", "resolution_note"])
    else:
        incident.last_seen_at = now
        incident.times_seen += 1
        incident.detail = still.detail
        incident.save(update_fields=["last_seen_at", "times_seen", "detail"])
    operator_action(actor=actor, action="incident_checks_rerun", target=incident, reason=reason, before=before,
                    after={"status": incident.status, "times_seen": incident.times_seen,
                           "finding_gone": still is None, "wallet_findings": sorted(f.code for f in findings)})
    # This incident's finding first, then the wallet's other ones.
    findings.sort(key=lambda f: f.code != incident.code)
    return IncidentChecksRerun(incident=incident, finding_gone=still is None, findings=findings)


@transaction.atomic
def velocity_breaker_lift(*, wallet: Wallet, actor, reason: str) -> int:
    """An operator lifts the breaker: the current window's counter goes back to zero (under
    the wallet lock, like every charge) and the open incident is resolved. Audited."""
    reason = operator_reason(reason)
    locked = Wallet.objects.select_for_update().get(pk=wallet.pk)
    counter = SpendCounter.objects.filter(user_id=locked.user_id).first()
    before = {"energy": counter.energy if counter else 0, "actions": counter.actions if counter else 0}
    SpendCounter.objects.filter(user_id=locked.user_id).update(energy=0, actions=0, updated_at=timezone.now())
    resolved = Incident.objects.filter(wallet=locked, code=VELOCITY_INCIDENT_CODE, status=IncidentStatus.OPEN).update(
        status=IncidentStatus.RESOLVED, resolved_at=timezone.now(), resolution_note=f"breaker lifted: {reason}"[:500])
    operator_action(actor=actor, action="velocity_breaker_lift", target=locked, reason=reason, before=before,
                    after={"energy": 0, "actions": 0, "incidents_resolved": resolved})
    return resolved
