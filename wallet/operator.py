"""Operator actions on the ledger, taken in the admin.

Each one goes through the ledger services (never around them) and writes the
`AdminAction` row (who, what, why, before/after) in the same transaction as the change,
so there is no change without its audit row and no audit row for a change that rolled back.

The ledger services are called through the `wallet.services` package (not imported by
name) so the admin tests can spy on the public name.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from phoenix.core.errors import OperatorActionRepeated
from phoenix.core.services import operator_action, operator_reason
from wallet import selectors, services
from wallet.errors import WalletValidationError
from wallet.models import (
    BalanceOperation,
    Hold,
    Incident,
    IncidentStatus,
    LotCategory,
    OperationSource,
    SpendCounter,
    Wallet,
)
from wallet.services.velocity import INCIDENT_CODE as VELOCITY_INCIDENT_CODE

ADJUST_DIRECTIONS = ("credit", "debit")
# The categories an operator grants (paid, bonus and welcome lots come from their own paths).
GRANT_CATEGORIES = (LotCategory.PROMOTIONAL, LotCategory.GOODWILL)
# BalanceOperation.reason is 255 characters; the AdminAction keeps the full reason.
_OPERATION_REASON_MAX = 255


def _refuse_if_done(*, wallet: Wallet, key: str | None) -> None:
    """An intent already carried out is not done again: the operator is told when, and the
    admin offers "do it again" (a new repeat ordinal, hence a new key)."""
    if key and (done := BalanceOperation.objects.filter(wallet=wallet, idempotency_key=key).first()):
        ago = int((timezone.now() - done.created_at).total_seconds())
        raise OperatorActionRepeated(
            f"This exact action was done {ago} s ago (operation {done.pk}, {done.type} of {done.amount}); "
            "nothing was changed now. Submit again to do it once more.", operation_id=done.pk)


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


def _open_incidents_by_severity() -> dict[str, int]:
    overview = selectors.wallet_health_overview()
    return {"open_critical": overview["open_critical"], "open_warning": overview["open_warning"]}


@transaction.atomic
def wallet_health_run_now(*, actor, reason: str, full: bool = False) -> services.HealthRunReport:
    """Run the health job now (`full`: the full re-verification from genesis, else the hourly
    incremental check). One transaction for the run and its audit row (an operator
    run is rare; the hourly job keeps its per-wallet transactions). Returns the report;
    a run that finds another holding the lock wrote nothing and raises JobAlreadyRunning."""
    reason = operator_reason(reason)
    before = _open_incidents_by_severity()
    report = services.wallet_health_run(full=full).raise_if_skipped()  # a skipped run wrote nothing
    operator_action(actor=actor, action="wallet_health_run", target=report.job_run, reason=reason,
                    before=before, after={**_open_incidents_by_severity(), **report.job_run.summary})
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
