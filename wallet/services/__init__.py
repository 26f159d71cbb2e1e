"""Every write on the ledger (DESIGN.md §2).

The shape of every write: one transaction, lock the wallet row (`SELECT ... FOR UPDATE`),
check, insert the operation(s) with their hash-chain link, update the wallet once. The
database enforces the same rules (CHECKs, UNIQUEs, the append-only trigger); the checks
here exist to give callers a typed error instead of an IntegrityError.

Idempotency: an optional key per wallet (UNIQUE(wallet, idempotency_key) on operations).
The lookup happens *after* the wallet lock, so two concurrent requests with one key are
serialized and the second sees the first's row. A replay with the same request returns
the first result; with a different request raises IdempotencyConflict. The request
fingerprint covers what the operation does (amounts, source, reference, hold, action),
not its free-text reason or actor.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.core.mail import mail_admins
from django.db import connection, transaction
from django.utils import timezone

from wallet import selectors
from wallet.cache import energy_cache_invalidate_on_commit
from wallet.errors import (  # noqa: F401  (re-exported: wallet.services.<Error> is the public name)
    AlreadyRefunded,
    HoldExpired,
    HoldNotFound,
    HoldNotPending,
    InsufficientEnergy,
    InvalidAmount,
    OperationNotFound,
    OperationNotRefundable,
    WalletValidationError,
)
from wallet.hashing import operation_hash
from phoenix.core.errors import IdempotencyConflict  # noqa: F401  (re-exported)
from phoenix.core.jobs import advisory_lock
from wallet.models import (
    OPERATION_EFFECTS,
    REFUNDABLE_TYPES,
    BalanceOperation,
    Hold,
    HoldStatus,
    Incident,
    IncidentSeverity,
    IncidentStatus,
    OperationSource,
    OperationType,
    Wallet,
)

logger = structlog.get_logger("phoenix.wallet")

WELCOME_GRANT_POINTS = 85
WELCOME_GRANT_KEY = "welcome-grant"
MAX_AMOUNT = 10**12  # far above any real wallet; keeps arithmetic inside bigint
MAX_HOLD_TTL_SECONDS = 24 * 3600
DEFAULT_HOLD_TTL_SECONDS = 300
HEALTH_LOCK = "wallet.health_check"
HEALTH_JOB = "wallet.health_check"  # JobRun.job of the health runs
EXPIRY_LOCK = "wallet.expire_holds"


@dataclass(frozen=True)
class ClawbackResult:
    operation: BalanceOperation | None  # None when nothing was available
    debited: int
    shortfall: int


# --- Validation ------------------------------------------------------------------------


def _check_amount(amount: Any, *, name: str = "amount") -> int:
    # bool is an int subclass; True is not "1 point".
    if isinstance(amount, bool) or not isinstance(amount, int) or not (0 < amount <= MAX_AMOUNT):
        raise InvalidAmount(f"The {name} must be a whole number of energy points between 1 and {MAX_AMOUNT}.",
                            field=name)
    return amount


def _check_text(value: Any, *, name: str, max_length: int, required: bool = False) -> str:
    if not isinstance(value, str) or len(value) > max_length or (required and not value):
        raise WalletValidationError(fields={name: [f"A text of at most {max_length} characters is required."
                                                   if required else f"At most {max_length} characters."]})
    return value


def _check_common(*, source: str, reason: str, reference: str, idempotency_key: str | None) -> None:
    if source not in OperationSource.values:
        raise WalletValidationError(fields={"source": [f"One of {', '.join(OperationSource.values)}."]})
    _check_text(reason, name="reason", max_length=255)
    _check_text(reference, name="reference", max_length=255)
    if idempotency_key is not None:
        _check_text(idempotency_key, name="idempotency_key", max_length=128, required=True)


def _fingerprint(operation: str, **request: Any) -> str:
    canonical = json.dumps({"operation": operation, **request}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- Building blocks (always called under the wallet lock) ------------------------------
#
# The hot path of the ledger (lock the wallet, insert the operation, update the wallet,
# insert/resolve a hold) is written as plain SQL rather than ORM calls: on the benchmark
# (`manage.py bench_wallet`) the ORM's per-statement query compilation and save()
# machinery were most of the service layer's CPU per operation (a `select_for_update()
# .get()` alone cost ~0.5 ms CPU against ~0.2 ms for the same statement as SQL). The
# statements, row locks and transactions are exactly those the ORM issued; rows come back
# as model instances through `Model.from_db`. Less frequent paths keep the ORM.

_WALLET_COLUMNS = ["id", "user_id", "balance", "held", "last_seq", "last_hash", "created_at", "updated_at"]
_HOLD_COLUMNS = ["id", "wallet_id", "amount", "captured_amount", "status", "action_code", "source",
                 "idempotency_key", "expires_at", "created_at", "resolved_at"]
_LOCK_WALLET_OF_USER_SQL = (
    f"SELECT {', '.join(_WALLET_COLUMNS)} FROM wallet_wallet WHERE user_id = %s FOR UPDATE"
)
# The hold and its wallet in one statement; only the wallet row is locked (FOR UPDATE OF w).
_LOCK_HOLD_SQL = (
    f"SELECT {', '.join('h.' + c for c in _HOLD_COLUMNS)}, {', '.join('w.' + c for c in _WALLET_COLUMNS)} "
    "FROM wallet_hold h JOIN wallet_wallet w ON w.id = h.wallet_id WHERE h.id = %s {user_filter} FOR UPDATE OF w"
)


def _wallet_lock_of_user(user) -> Wallet | None:
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_WALLET_OF_USER_SQL, [user.pk])
        row = cursor.fetchone()
    return Wallet.from_db(connection.alias, _WALLET_COLUMNS, row) if row else None


def _lock_wallet_of_user(user) -> Wallet:
    wallet = _wallet_lock_of_user(user)
    if wallet is None:
        # First touch of a user without a wallet: create it race-free (ON CONFLICT DO
        # NOTHING), then lock whichever row won.
        Wallet.objects.bulk_create([Wallet(user_id=user.pk)], ignore_conflicts=True)
        wallet = _wallet_lock_of_user(user)
    return wallet


def _replayed(wallet: Wallet, idempotency_key: str | None, fingerprint: str) -> BalanceOperation | None:
    if idempotency_key is None:
        return None
    first = BalanceOperation.objects.filter(wallet=wallet, idempotency_key=idempotency_key).first()
    if first is None:
        return None
    if first.request_fingerprint != fingerprint:
        raise IdempotencyConflict()
    return first


_INSERT_OPERATION_SQL = """
    INSERT INTO wallet_balanceoperation (wallet_id, seq, type, amount, balance_before, balance_after,
        held_before, held_after, hold_id, refund_of_id, source, reason, reference, actor_id,
        idempotency_key, request_fingerprint, created_at, prev_hash, hash)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING id
"""
_UPDATE_WALLET_SQL = """
    UPDATE wallet_wallet SET balance = %s, held = %s, last_seq = %s, last_hash = %s, updated_at = %s
    WHERE id = %s
"""


def _append_operation(
    wallet: Wallet,
    *,
    type: str,
    amount: int,
    source: str,
    reason: str = "",
    reference: str = "",
    hold: Hold | None = None,
    refund_of: BalanceOperation | None = None,
    actor=None,
    idempotency_key: str | None = None,
    fingerprint: str = "",
) -> BalanceOperation:
    """Insert the next operation of the wallet's chain and apply it to the in-memory wallet.

    The caller holds the wallet lock and saves the wallet (`_save_wallet`) once after its
    last operation.
    """
    balance_sign, held_sign = OPERATION_EFFECTS[type]
    operation = BalanceOperation(
        wallet=wallet,
        seq=wallet.last_seq + 1,
        type=type,
        amount=amount,
        balance_before=wallet.balance,
        balance_after=wallet.balance + balance_sign * amount,
        held_before=wallet.held,
        held_after=wallet.held + held_sign * amount,
        hold=hold,
        refund_of=refund_of,
        source=source,
        reason=reason,
        reference=reference,
        actor=actor,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint if idempotency_key is not None else "",
        created_at=timezone.now(),
        prev_hash=wallet.last_hash,
    )
    hold_id = hold.pk if hold else None
    refund_of_id = refund_of.pk if refund_of else None
    actor_id = actor.pk if actor else None
    operation.hash = operation_hash(
        wallet_id=wallet.pk, seq=operation.seq, type=type, amount=amount,
        balance_before=operation.balance_before, balance_after=operation.balance_after,
        held_before=operation.held_before, held_after=operation.held_after,
        hold_id=hold_id, refund_of_id=refund_of_id, source=source, reason=reason, reference=reference,
        actor_id=actor_id, idempotency_key=idempotency_key,
        created_at=operation.created_at, prev_hash=operation.prev_hash,
    )
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_OPERATION_SQL, [
            wallet.pk, operation.seq, type, amount, operation.balance_before, operation.balance_after,
            operation.held_before, operation.held_after, hold_id, refund_of_id, source, reason, reference,
            actor_id, idempotency_key, operation.request_fingerprint, operation.created_at,
            operation.prev_hash, operation.hash,
        ])
        operation.pk = cursor.fetchone()[0]
    operation._state.adding = False
    operation._state.db = connection.alias
    wallet.balance = operation.balance_after
    wallet.held = operation.held_after
    wallet.last_seq = operation.seq
    wallet.last_hash = operation.hash
    return operation


def _save_wallet(wallet: Wallet) -> None:
    wallet.updated_at = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE_WALLET_SQL, [wallet.balance, wallet.held, wallet.last_seq, wallet.last_hash,
                                            wallet.updated_at, wallet.pk])
    # Every ledger write passes here: the user's derived /luna reads are stale once it commits.
    energy_cache_invalidate_on_commit(user_id=wallet.user_id)


def _require_available(wallet: Wallet, amount: int) -> None:
    if wallet.available < amount:
        raise InsufficientEnergy(required=amount, available=wallet.available)


# --- Opening a wallet --------------------------------------------------------------------


@transaction.atomic
def wallet_open(*, user, welcome_grant: bool = True) -> Wallet:
    """Create the user's wallet (if missing) and give the welcome grant once (idempotent)."""
    wallet = _lock_wallet_of_user(user)
    if welcome_grant:
        wallet_credit(
            user=user, amount=WELCOME_GRANT_POINTS, source=OperationSource.SYSTEM,
            reason="welcome grant", reference="welcome", idempotency_key=WELCOME_GRANT_KEY,
        )
        wallet.refresh_from_db()
    return wallet


# --- Credit, debit, clawback ---------------------------------------------------------------


@transaction.atomic
def wallet_credit(
    *, user, amount: int, source: str, reason: str, reference: str = "",
    idempotency_key: str | None = None, actor=None,
) -> BalanceOperation:
    """Add posted energy (purchase, bonus, welcome grant, admin grant)."""
    _check_amount(amount)
    _check_common(source=source, reason=reason, reference=reference, idempotency_key=idempotency_key)
    fingerprint = _fingerprint("credit", amount=amount, source=source, reference=reference)
    wallet = _lock_wallet_of_user(user)
    if replay := _replayed(wallet, idempotency_key, fingerprint):
        return replay
    operation = _append_operation(
        wallet, type=OperationType.CREDIT, amount=amount, source=source, reason=reason,
        reference=reference, actor=actor, idempotency_key=idempotency_key, fingerprint=fingerprint,
    )
    _save_wallet(wallet)
    return operation


@transaction.atomic
def wallet_debit(
    *, user, amount: int, source: str, reason: str, reference: str = "",
    idempotency_key: str | None = None, actor=None,
) -> BalanceOperation:
    """Consume available energy at once (direct consume, admin removal).

    Raises InsufficientEnergy (402) when `amount` exceeds balance - held.
    """
    _check_amount(amount)
    _check_common(source=source, reason=reason, reference=reference, idempotency_key=idempotency_key)
    fingerprint = _fingerprint("debit", amount=amount, source=source, reference=reference)
    wallet = _lock_wallet_of_user(user)
    if replay := _replayed(wallet, idempotency_key, fingerprint):
        return replay
    _require_available(wallet, amount)
    operation = _append_operation(
        wallet, type=OperationType.DEBIT, amount=amount, source=source, reason=reason,
        reference=reference, actor=actor, idempotency_key=idempotency_key, fingerprint=fingerprint,
    )
    _save_wallet(wallet)
    return operation


@transaction.atomic
def wallet_clawback(
    *, user, amount: int, source: str, reason: str, reference: str = "",
    idempotency_key: str | None = None, actor=None,
) -> ClawbackResult:
    """Debit min(amount, available) (refund or dispute of a pack); report the shortfall.

    When nothing is available no operation is written, so the key is not consumed: the
    caller (billing) dedupes on its own event id and records the shortfall.
    """
    _check_amount(amount)
    _check_common(source=source, reason=reason, reference=reference, idempotency_key=idempotency_key)
    fingerprint = _fingerprint("clawback", amount=amount, source=source, reference=reference)
    wallet = _lock_wallet_of_user(user)
    if replay := _replayed(wallet, idempotency_key, fingerprint):
        return ClawbackResult(operation=replay, debited=replay.amount, shortfall=amount - replay.amount)
    debited = min(amount, max(wallet.available, 0))
    if debited == 0:
        return ClawbackResult(operation=None, debited=0, shortfall=amount)
    operation = _append_operation(
        wallet, type=OperationType.DEBIT, amount=debited, source=source, reason=reason,
        reference=reference, actor=actor, idempotency_key=idempotency_key, fingerprint=fingerprint,
    )
    _save_wallet(wallet)
    return ClawbackResult(operation=operation, debited=debited, shortfall=amount - debited)


# --- Holds: freeze, commit, release ------------------------------------------------------


_INSERT_HOLD_SQL = """
    INSERT INTO wallet_hold (id, wallet_id, amount, captured_amount, status, action_code, source,
        idempotency_key, expires_at, created_at, resolved_at)
    VALUES (%s, %s, %s, NULL, 'pending', %s, %s, %s, %s, %s, NULL)
"""


def _insert_hold(*, wallet: Wallet, amount: int, action_code: str, source: str, idempotency_key: str | None,
                 created_at: datetime, expires_at: datetime) -> Hold:
    hold = Hold(id=uuid.uuid4(), wallet=wallet, amount=amount, action_code=action_code, source=source,
                idempotency_key=idempotency_key, created_at=created_at, expires_at=expires_at)
    with connection.cursor() as cursor:  # plain SQL for the same reason as _INSERT_OPERATION_SQL
        cursor.execute(_INSERT_HOLD_SQL, [hold.id, wallet.pk, amount, action_code, source, idempotency_key,
                                          expires_at, created_at])
    hold._state.adding = False
    hold._state.db = connection.alias
    return hold


@transaction.atomic
def wallet_freeze(
    *, user, amount: int, action_code: str, ttl_seconds: int = DEFAULT_HOLD_TTL_SECONDS,
    idempotency_key: str | None = None, source: str = OperationSource.API, reason: str = "",
) -> Hold:
    """Reserve `amount` for an action in progress; it is committed, released or expires."""
    _check_amount(amount)
    _check_text(action_code, name="action_code", max_length=64, required=True)
    _check_common(source=source, reason=reason, reference=action_code, idempotency_key=idempotency_key)
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not (
        0 < ttl_seconds <= MAX_HOLD_TTL_SECONDS
    ):
        raise WalletValidationError(fields={"ttl_seconds": [f"Between 1 and {MAX_HOLD_TTL_SECONDS} seconds."]})
    fingerprint = _fingerprint("freeze", amount=amount, action_code=action_code, ttl_seconds=ttl_seconds,
                               source=source)
    wallet = _lock_wallet_of_user(user)
    if replay := _replayed(wallet, idempotency_key, fingerprint):
        return replay.hold
    _require_available(wallet, amount)
    now = timezone.now()
    hold = _insert_hold(wallet=wallet, amount=amount, action_code=action_code, source=source,
                        idempotency_key=idempotency_key, created_at=now,
                        expires_at=now + timedelta(seconds=ttl_seconds))
    _append_operation(
        wallet, type=OperationType.FREEZE, amount=amount, source=source, reason=reason,
        reference=action_code, hold=hold, idempotency_key=idempotency_key, fingerprint=fingerprint,
    )
    _save_wallet(wallet)
    return hold


def _parse_hold_id(hold_id) -> uuid.UUID | None:
    if isinstance(hold_id, uuid.UUID):
        return hold_id
    try:
        return uuid.UUID(str(hold_id))
    except ValueError:
        return None  # a malformed id names no hold


def _lock_hold(*, hold_id, user) -> tuple[Wallet, Hold]:
    """Lock the hold's wallet (the lock every change of a hold takes) and read the hold, in
    one statement. `user` scopes the lookup (another user's hold is "not found").

    The hold's status may have been read before a wait for the lock: `_resolve_hold`'s
    conditional UPDATE is the authority on whether it is still pending.
    """
    parsed = _parse_hold_id(hold_id)
    if parsed is None:
        raise HoldNotFound()
    params: list = [parsed]
    user_filter = ""
    if user is not None:
        user_filter, params = "AND w.user_id = %s", [parsed, user.pk]
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_HOLD_SQL.format(user_filter=user_filter), params)
        row = cursor.fetchone()
    if row is None:
        raise HoldNotFound()
    hold = Hold.from_db(connection.alias, _HOLD_COLUMNS, row[: len(_HOLD_COLUMNS)])
    wallet = Wallet.from_db(connection.alias, _WALLET_COLUMNS, row[len(_HOLD_COLUMNS):])
    hold.wallet = wallet
    return wallet, hold


_RESOLVE_HOLD_SQL = """
    UPDATE wallet_hold SET status = %s, captured_amount = %s, resolved_at = %s
    WHERE id = %s AND status = 'pending'
"""


def _resolve_hold(hold: Hold, *, status: str, captured_amount: int | None = None) -> None:
    # Conditional UPDATE: a hold leaves `pending` once, whatever the caller read before.
    resolved_at = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_RESOLVE_HOLD_SQL, [status, captured_amount, resolved_at, hold.pk])
        updated = cursor.rowcount
    if updated != 1:
        raise HoldNotPending(hold_status=Hold.objects.get(pk=hold.pk).status)
    hold.status, hold.captured_amount, hold.resolved_at = status, captured_amount, resolved_at


@transaction.atomic
def wallet_commit(
    *, hold_id, amount: int | None = None, user=None, source: str = OperationSource.API,
    reason: str = "", idempotency_key: str | None = None, actor=None,
) -> BalanceOperation:
    """Capture a pending hold, fully or partly (`amount` <= held); the rest is released.

    Both happen in this one transaction: the release of the unused part is written first,
    so the returned commit operation's `*_after` values are the wallet's final state.
    `user` (optional) scopes the lookup: a hold of another user is "not found".
    """
    if amount is not None:
        _check_amount(amount)
    _check_common(source=source, reason=reason, reference="", idempotency_key=idempotency_key)
    fingerprint = _fingerprint("commit", hold_id=str(_parse_hold_id(hold_id)), amount=amount, source=source)
    wallet, hold = _lock_hold(hold_id=hold_id, user=user)
    if replay := _replayed(wallet, idempotency_key, fingerprint):
        return replay
    if hold.status != HoldStatus.PENDING:
        raise HoldNotPending(hold_status=hold.status)
    if hold.expires_at <= timezone.now():
        raise HoldExpired()
    captured = hold.amount if amount is None else amount
    if captured > hold.amount:
        raise InvalidAmount(f"Cannot capture {captured} points from a hold of {hold.amount}.", field="amount")

    _resolve_hold(hold, status=HoldStatus.CAPTURED, captured_amount=captured)
    if captured < hold.amount:
        _append_operation(
            wallet, type=OperationType.RELEASE, amount=hold.amount - captured, source=source,
            reason="unused part of a partly captured hold", reference=hold.action_code, hold=hold, actor=actor,
        )
    operation = _append_operation(
        wallet, type=OperationType.COMMIT, amount=captured, source=source, reason=reason,
        reference=hold.action_code, hold=hold, actor=actor, idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    _save_wallet(wallet)
    return operation


@transaction.atomic
def wallet_release(
    *, hold_id, user=None, source: str = OperationSource.API, reason: str = "",
    idempotency_key: str | None = None, actor=None,
) -> BalanceOperation:
    """Give a pending hold's energy back (the action did not happen). Works on a pending
    hold past its deadline too (it would be released by the expiry job anyway)."""
    _check_common(source=source, reason=reason, reference="", idempotency_key=idempotency_key)
    fingerprint = _fingerprint("release", hold_id=str(_parse_hold_id(hold_id)), source=source)
    wallet, hold = _lock_hold(hold_id=hold_id, user=user)
    if replay := _replayed(wallet, idempotency_key, fingerprint):
        return replay
    if hold.status != HoldStatus.PENDING:
        raise HoldNotPending(hold_status=hold.status)
    _resolve_hold(hold, status=HoldStatus.RELEASED)
    operation = _append_operation(
        wallet, type=OperationType.RELEASE, amount=hold.amount, source=source, reason=reason,
        reference=hold.action_code, hold=hold, actor=actor, idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    _save_wallet(wallet)
    return operation


# --- Refund of a debit -------------------------------------------------------------------


@transaction.atomic
def wallet_refund_debit(
    *, operation_id: int, user=None, source: str = OperationSource.API, reason: str = "",
    idempotency_key: str | None = None, actor=None,
) -> BalanceOperation:
    """Credit back a debit or commit, at most once (UNIQUE refund_of in the database).

    Returns the refunding credit operation. `user` (optional) scopes the lookup.
    """
    _check_common(source=source, reason=reason, reference="", idempotency_key=idempotency_key)
    if isinstance(operation_id, bool) or not isinstance(operation_id, int):
        raise OperationNotFound()
    queryset = BalanceOperation.objects.all()
    if user is not None:
        queryset = queryset.filter(wallet__user_id=user.pk)
    original = queryset.filter(pk=operation_id).first()
    if original is None:
        raise OperationNotFound()
    fingerprint = _fingerprint("refund", operation_id=operation_id, source=source)
    wallet = Wallet.objects.select_for_update().get(pk=original.wallet_id)
    if replay := _replayed(wallet, idempotency_key, fingerprint):
        return replay
    if original.type not in REFUNDABLE_TYPES:
        raise OperationNotRefundable()
    if BalanceOperation.objects.filter(refund_of=original).exists():
        raise AlreadyRefunded()
    operation = _append_operation(
        wallet, type=OperationType.CREDIT, amount=original.amount, source=source,
        reason=reason or f"refund of operation {original.pk}", reference=original.reference,
        refund_of=original, actor=actor, idempotency_key=idempotency_key, fingerprint=fingerprint,
    )
    _save_wallet(wallet)
    return operation


# --- Hold expiry job -------------------------------------------------------------------------


@dataclass
class HoldExpiryReport:
    now: datetime
    dry_run: bool
    skipped_locked: bool = False
    due: list[Hold] = field(default_factory=list)
    expired: list[Hold] = field(default_factory=list)


@transaction.atomic
def _hold_expire(*, hold_id, now: datetime) -> Hold | None:
    wallet, hold = _lock_hold(hold_id=hold_id, user=None)
    # Re-checked under the lock: it may have been committed or released meanwhile.
    if hold.status != HoldStatus.PENDING or hold.expires_at > now:
        return None
    try:
        _resolve_hold(hold, status=HoldStatus.EXPIRED)
    except HoldNotPending:  # resolved while we waited for the lock; nothing was written
        return None
    _append_operation(
        wallet, type=OperationType.RELEASE, amount=hold.amount, source=OperationSource.SYSTEM,
        reason="hold expired", reference=hold.action_code, hold=hold,
    )
    _save_wallet(wallet)
    return hold


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
            expired_now = [h for h in (_hold_expire(hold_id=hold.pk, now=now) for hold in batch) if h]
            report.expired.extend(expired_now)
            if not expired_now:  # every due hold was resolved by someone else meanwhile
                break
    if report.expired:
        logger.info("wallet_holds_expired", count=len(report.expired))
    return report


# --- Health job --------------------------------------------------------------------------------


@dataclass
class HealthRunReport:
    now: datetime
    dry_run: bool
    skipped_locked: bool = False
    findings: list[selectors.HealthFinding] = field(default_factory=list)
    corrections: list[BalanceOperation] = field(default_factory=list)
    # Dry run: (wallet id, operation type, amount) the run would write.
    planned_corrections: list[tuple[int, str, int]] = field(default_factory=list)
    new_incidents: list[Incident] = field(default_factory=list)
    job_run: Any = None  # phoenix.core.models.JobRun noted for a real (not dry) run

    @property
    def critical(self) -> list[selectors.HealthFinding]:
        return [f for f in self.findings if f.severity == IncidentSeverity.CRITICAL]

    @property
    def warnings(self) -> list[selectors.HealthFinding]:
        return [f for f in self.findings if f.severity == IncidentSeverity.WARNING]


def _held_correction(finding: selectors.HealthFinding) -> tuple[str, int]:
    difference = finding.detail["pending_holds"] - finding.detail["held"]
    op_type = OperationType.HELD_CORRECTION_UP if difference > 0 else OperationType.HELD_CORRECTION_DOWN
    return op_type, abs(difference)


def _incident_record(finding: selectors.HealthFinding, *, now: datetime, status: str = IncidentStatus.OPEN,
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
def _wallet_held_correct(
    *, wallet_id: int, now: datetime
) -> tuple[Incident | None, bool, BalanceOperation | None]:
    """Correct one wallet's held to the sum of its pending holds, re-checked under lock."""
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
    correction = _append_operation(
        wallet, type=op_type, amount=amount, source=OperationSource.SYSTEM,
        reason=f"health: held {warning.detail['held']} corrected to the pending holds "
               f"{warning.detail['pending_holds']}",
        reference="wallet-health",
    )
    _save_wallet(wallet)
    incident, _ = _incident_record(warning, now=now, status=IncidentStatus.CORRECTED, correction=correction,
                                   note=f"auto-corrected by operation {correction.pk}")
    return incident, True, correction


def wallet_health_run(*, now: datetime | None = None, dry_run: bool = False) -> HealthRunReport:
    """Detect (one set-based query), auto-correct WARNINGs, record and alert CRITICALs.

    CRITICALs are never corrected: they mean the ledger itself is in doubt. A wallet with
    a CRITICAL finding gets no WARNING correction either (it would blur the evidence).
    """
    now = now or timezone.now()
    report = HealthRunReport(now=now, dry_run=dry_run)
    with advisory_lock(HEALTH_LOCK) as acquired:
        if not acquired:
            report.skipped_locked = True
            return report
        report.findings = selectors.wallet_health_findings()
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
            incident, is_new, correction = _wallet_held_correct(wallet_id=finding.wallet_id, now=now)
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
    logger.info("wallet_health_run", findings=len(report.findings), critical=len(report.critical),
                corrections=len(report.corrections), dry_run=dry_run)
    return report


def _health_run_note(report: HealthRunReport):
    """Keep the run's result for the admin dashboard ("last health run", phoenix.core.JobRun)."""
    from phoenix.core.models import JobRunOutcome
    from phoenix.core.services import job_run_record

    outcome = (JobRunOutcome.CRITICAL if report.critical
               else JobRunOutcome.WARNING if report.warnings else JobRunOutcome.OK)
    return job_run_record(job=HEALTH_JOB, started_at=report.now, outcome=outcome, summary={
        "critical": len(report.critical), "warning": len(report.warnings),
        "corrections": len(report.corrections), "new_incidents": len(report.new_incidents),
        "codes": sorted({f.code for f in report.findings}),
    })


def _alert_critical(incidents: list[Incident]) -> None:
    lines = [f"- wallet {i.wallet_id}: {i.code} {json.dumps(i.detail, sort_keys=True)} (incident {i.pk})"
             for i in incidents]
    logger.error("wallet_health_critical", incidents=[i.pk for i in incidents])
    mail_admins(
        subject=f"Wallet health: {len(incidents)} new critical finding(s)",
        message="Critical wallet anomalies (never auto-corrected; investigate in the admin):\n"
                + "\n".join(lines),
        fail_silently=True,
    )
