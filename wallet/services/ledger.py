"""The building blocks of every ledger write, always called under the wallet lock.

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
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from phoenix.core.errors import IdempotencyConflict
from phoenix.core.metrics import count_energy_moved_on_commit
from wallet.errors import HoldNotFound, HoldNotPending, InsufficientEnergy, InvalidAmount, WalletValidationError
from wallet.hashing import operation_hash
from wallet.models import OPERATION_EFFECTS, BalanceOperation, Hold, OperationSource, Wallet
from wallet.services import sql

MAX_AMOUNT = 10**12  # far above any real wallet; keeps arithmetic inside bigint


# --- Validation ------------------------------------------------------------------------


def check_amount(amount: Any, *, name: str = "amount") -> int:
    # bool is an int subclass; True is not "1 point".
    if isinstance(amount, bool) or not isinstance(amount, int) or not (0 < amount <= MAX_AMOUNT):
        raise InvalidAmount(f"The {name} must be a whole number of energy points between 1 and {MAX_AMOUNT}.",
                            field=name)
    return amount


def check_text(value: Any, *, name: str, max_length: int, required: bool = False) -> str:
    if not isinstance(value, str) or len(value) > max_length or (required and not value):
        raise WalletValidationError(fields={name: [f"A text of at most {max_length} characters is required."
                                                   if required else f"At most {max_length} characters."]})
    return value


def check_common(*, source: str, reason: str, reference: str, idempotency_key: str | None) -> None:
    if source not in OperationSource.values:
        raise WalletValidationError(fields={"source": [f"One of {', '.join(OperationSource.values)}."]})
    check_text(reason, name="reason", max_length=255)
    check_text(reference, name="reference", max_length=255)
    if idempotency_key is not None:
        check_text(idempotency_key, name="idempotency_key", max_length=128, required=True)


def fingerprint(operation: str, **request: Any) -> str:
    canonical = json.dumps({"operation": operation, **request}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- Wallet lock, replay, append, save -------------------------------------------------------


def _wallet_lock_of_user(user) -> Wallet | None:
    row = sql.fetch_one(sql.LOCK_WALLET_OF_USER_SQL, [user.pk])
    return Wallet.from_db(connection.alias, sql.WALLET_COLUMNS, row) if row else None


def lock_wallet_of_user(user) -> Wallet:
    wallet = _wallet_lock_of_user(user)
    if wallet is None:
        # First touch of a user without a wallet: create it race-free (ON CONFLICT DO
        # NOTHING), then lock whichever row won.
        Wallet.objects.bulk_create([Wallet(user_id=user.pk)], ignore_conflicts=True)
        wallet = _wallet_lock_of_user(user)
    return wallet


def replayed(wallet: Wallet, idempotency_key: str | None, request_fingerprint: str) -> BalanceOperation | None:
    if idempotency_key is None:
        return None
    first = BalanceOperation.objects.filter(wallet=wallet, idempotency_key=idempotency_key).first()
    if first is None:
        return None
    if first.request_fingerprint != request_fingerprint:
        raise IdempotencyConflict()
    return first


def append_operation(
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
    take_from_lots: str | None = None,
    save: bool = False,
    rider: sql.Rider | None = None,
) -> BalanceOperation:
    """Insert the next operation of the wallet's chain and apply it to the in-memory wallet.

    The caller holds the wallet lock and saves the wallet (`save_wallet`) once after its last
    operation, or passes `save=True` (a debit) to have this operation's statement write the
    wallet's row too. `take_from_lots` ("draw" for a debit, "reserve" for a freeze) takes the
    amount from the wallet's lots in the consumption order IN THE SAME STATEMENT as the insert
    (a debit is one statement: operation, lots, wallet row); the lots taken are on
    `operation.lot_takes` as (lot id, amount), and as the API shows them on
    `operation.lot_moves` (lots_of_operations' shape: the answer needs no read back).
    InsufficientEnergy when the unexpired lots cannot cover it (a lot past its expiry that the
    job has not expired yet): the caller's transaction rolls the statement back.
    `rider` (a debit's, with `save=True`): more writes in the same statement (`sql.Rider`); its
    answer is on `operation.rider_answer`.
    """
    balance_sign, held_sign = OPERATION_EFFECTS[type]
    created_at = timezone.now()
    row = {
        "wallet_id": wallet.pk, "seq": wallet.last_seq + 1, "type": type, "amount": amount,
        "balance_before": wallet.balance, "balance_after": wallet.balance + balance_sign * amount,
        "held_before": wallet.held, "held_after": wallet.held + held_sign * amount,
        "hold_id": hold.pk if hold is not None else None,
        "refund_of_id": refund_of.pk if refund_of is not None else None,
        "source": source, "reason": reason, "reference": reference,
        "actor_id": actor.pk if actor is not None else None, "idempotency_key": idempotency_key,
        "created_at": created_at, "prev_hash": wallet.last_hash,
    }
    row["hash"] = operation_hash(**row)
    row["request_fingerprint"] = fingerprint if idempotency_key is not None else ""
    params = [row[name] for name in sql.OPERATION_INSERT_COLUMNS]
    lot_takes = None
    if take_from_lots is None:
        inserted = sql.fetch_one(sql.INSERT_OPERATION_SQL, params)
    else:
        lots_params = [wallet.pk, created_at, amount, amount, created_at]
        if save:
            if take_from_lots != "draw":
                raise ValueError("save=True is for a debit's draw")
            wallet.updated_at = created_at
            statement = sql.INSERT_OPERATION_DRAW_LOTS_SAVE_SQL if rider is None else sql.debit_with_rider_sql(rider)
            inserted = sql.fetch_one(statement, [
                *params, *lots_params, row["balance_after"], row["held_after"], row["seq"], row["hash"],
                created_at, wallet.pk, *(rider.params if rider is not None else ())])
        else:
            if rider is not None:
                raise ValueError("a rider rides on a debit's statement (save=True)")
            statement = (sql.INSERT_OPERATION_DRAW_LOTS_SQL if take_from_lots == "draw"
                         else sql.INSERT_OPERATION_RESERVE_LOTS_SQL)
            inserted = sql.fetch_one(statement, [*params, *lots_params])
        lot_takes = list(zip(inserted[1], inserted[2], strict=True))
        lot_moves = [{"lot_id": lot_id, "category": category, "kind": take_from_lots, "amount": taken}
                     for lot_id, taken, category in zip(inserted[1], inserted[2], inserted[3], strict=True)]
        taken = sum(inserted[2])
        if taken < amount:
            raise InsufficientEnergy(required=amount, available=taken)
    # Built like a row read back (positional, no per-field kwargs handling: a third of the
    # Python cost of the ORM's constructor), with the related objects the caller passed cached.
    operation = BalanceOperation.from_db(connection.alias, sql.OPERATION_FIELD_NAMES,
                                         [inserted[0], *(row[name] for name in sql.OPERATION_FIELD_NAMES[1:])])
    operation.wallet, operation.hold, operation.refund_of, operation.actor = wallet, hold, refund_of, actor
    if lot_takes is not None:
        operation.lot_takes = lot_takes
        operation.lot_moves = lot_moves
    if rider is not None:
        operation.rider_answer = inserted[4]
    wallet.balance = operation.balance_after
    wallet.held = operation.held_after
    wallet.last_seq = operation.seq
    wallet.last_hash = operation.hash
    count_energy_moved_on_commit(balance_sign=balance_sign, source=source, amount=amount)
    return operation


def save_wallet(wallet: Wallet) -> None:
    wallet.updated_at = timezone.now()
    sql.execute(sql.UPDATE_WALLET_SQL, [wallet.balance, wallet.held, wallet.last_seq, wallet.last_hash,
                                        wallet.updated_at, wallet.pk])


def require_available(wallet: Wallet, amount: int) -> None:
    if wallet.available < amount:
        raise InsufficientEnergy(required=amount, available=wallet.available)


# --- Holds ---------------------------------------------------------------------------------------


def insert_hold(*, wallet: Wallet, amount: int, action_code: str, source: str, idempotency_key: str | None,
                created_at: datetime, expires_at: datetime, ttl_seconds: int | None = None,
                max_expires_at: datetime | None = None) -> Hold:
    hold = Hold(id=uuid.uuid4(), wallet=wallet, amount=amount, action_code=action_code, source=source,
                idempotency_key=idempotency_key, created_at=created_at, expires_at=expires_at,
                ttl_seconds=ttl_seconds, max_expires_at=max_expires_at)
    sql.execute(sql.INSERT_HOLD_SQL, sql.row_params(hold))
    hold._state.adding = False
    hold._state.db = connection.alias
    return hold


def parse_hold_id(hold_id) -> uuid.UUID | None:
    if isinstance(hold_id, uuid.UUID):
        return hold_id
    try:
        return uuid.UUID(str(hold_id))
    except ValueError:
        return None  # a malformed id names no hold


def lock_hold(*, hold_id, user) -> tuple[Wallet, Hold]:
    """Lock the hold's wallet (the lock every change of a hold takes) and read the hold, in
    one statement. `user` scopes the lookup (another user's hold is "not found").

    The hold's status may have been read before a wait for the lock: `resolve_hold`'s
    conditional UPDATE is the authority on whether it is still pending.
    """
    parsed = parse_hold_id(hold_id)
    if parsed is None:
        raise HoldNotFound()
    params: list = [parsed]
    user_filter = ""
    if user is not None:
        user_filter, params = "AND w.user_id = %s", [parsed, user.pk]
    row = sql.fetch_one(sql.LOCK_HOLD_SQL.format(user_filter=user_filter), params)
    if row is None:
        raise HoldNotFound()
    split = len(sql.HOLD_COLUMNS)
    hold = Hold.from_db(connection.alias, sql.HOLD_COLUMNS, row[:split])
    wallet = Wallet.from_db(connection.alias, sql.WALLET_COLUMNS, row[split:])
    hold.wallet = wallet
    return wallet, hold


def resolve_hold(hold: Hold, *, status: str, captured_amount: int | None = None) -> None:
    resolved_at = timezone.now()
    updated = sql.execute(sql.RESOLVE_HOLD_SQL, [status, captured_amount, resolved_at, hold.pk])
    if updated != 1:
        raise HoldNotPending(hold_status=Hold.objects.get(pk=hold.pk).status)
    hold.status, hold.captured_amount, hold.resolved_at = status, captured_amount, resolved_at
