"""Ledger writes on holds: freeze, commit (full or partial), release, expire one."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from wallet.errors import HoldExpired, HoldNotPending, InvalidAmount, WalletValidationError
from wallet.events import hold_expired_emit, operation_events_emit
from wallet.models import BalanceOperation, Hold, HoldStatus, OperationSource, OperationType
from wallet.services.ledger import (
    append_operation,
    check_amount,
    check_common,
    check_text,
    fingerprint,
    insert_hold,
    lock_hold,
    lock_wallet_of_user,
    parse_hold_id,
    replayed,
    require_available,
    resolve_hold,
    save_wallet,
)
from wallet.services.lots import hold_settle

MAX_HOLD_TTL_SECONDS = 24 * 3600
DEFAULT_HOLD_TTL_SECONDS = 300


@transaction.atomic
def wallet_freeze(
    *, user, amount: int, action_code: str, ttl_seconds: int = DEFAULT_HOLD_TTL_SECONDS,
    idempotency_key: str | None = None, source: str = OperationSource.API, reason: str = "",
) -> Hold:
    """Reserve `amount` for an action in progress; it is committed, released or expires."""
    check_amount(amount)
    check_text(action_code, name="action_code", max_length=64, required=True)
    check_common(source=source, reason=reason, reference=action_code, idempotency_key=idempotency_key)
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not (
        0 < ttl_seconds <= MAX_HOLD_TTL_SECONDS
    ):
        raise WalletValidationError(fields={"ttl_seconds": [f"Between 1 and {MAX_HOLD_TTL_SECONDS} seconds."]})
    request = fingerprint("freeze", amount=amount, action_code=action_code, ttl_seconds=ttl_seconds,
                          source=source)
    wallet = lock_wallet_of_user(user)
    if replay := replayed(wallet, idempotency_key, request):
        return replay.hold
    require_available(wallet, amount)
    now = timezone.now()
    hold = insert_hold(wallet=wallet, amount=amount, action_code=action_code, source=source,
                       idempotency_key=idempotency_key, created_at=now,
                       expires_at=now + timedelta(seconds=ttl_seconds))
    freeze = append_operation(
        wallet, type=OperationType.FREEZE, amount=amount, source=source, reason=reason,
        reference=action_code, hold=hold, idempotency_key=idempotency_key, fingerprint=request,
        take_from_lots="reserve",
    )
    save_wallet(wallet)
    operation_events_emit(freeze)
    return hold


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
        check_amount(amount)
    check_common(source=source, reason=reason, reference="", idempotency_key=idempotency_key)
    request = fingerprint("commit", hold_id=str(parse_hold_id(hold_id)), amount=amount, source=source)
    wallet, hold = lock_hold(hold_id=hold_id, user=user)
    if replay := replayed(wallet, idempotency_key, request):
        return replay
    if hold.status != HoldStatus.PENDING:
        raise HoldNotPending(hold_status=hold.status)
    if hold.expires_at <= timezone.now():
        raise HoldExpired()
    captured = hold.amount if amount is None else amount
    if captured > hold.amount:
        raise InvalidAmount(f"Cannot capture {captured} points from a hold of {hold.amount}.", field="amount")

    resolve_hold(hold, status=HoldStatus.CAPTURED, captured_amount=captured)
    # The captured part is drawn from the lots the hold reserved (even one whose expiry passed
    # during the hold); the rest is unreserved.
    _, operation = hold_settle(
        wallet=wallet, hold=hold, captured=captured, now=timezone.now(),
        append_release=lambda rest: append_operation(
            wallet, type=OperationType.RELEASE, amount=rest, source=source,
            reason="unused part of a partly captured hold", reference=hold.action_code, hold=hold, actor=actor,
        ),
        append_commit=lambda: append_operation(
            wallet, type=OperationType.COMMIT, amount=captured, source=source, reason=reason,
            reference=hold.action_code, hold=hold, actor=actor, idempotency_key=idempotency_key,
            fingerprint=request,
        ),
    )
    save_wallet(wallet)
    return operation


@transaction.atomic
def wallet_release(
    *, hold_id, user=None, source: str = OperationSource.API, reason: str = "",
    idempotency_key: str | None = None, actor=None,
) -> BalanceOperation:
    """Give a pending hold's energy back (the action did not happen). Works on a pending
    hold past its deadline too (it would be released by the expiry job anyway)."""
    check_common(source=source, reason=reason, reference="", idempotency_key=idempotency_key)
    request = fingerprint("release", hold_id=str(parse_hold_id(hold_id)), source=source)
    wallet, hold = lock_hold(hold_id=hold_id, user=user)
    if replay := replayed(wallet, idempotency_key, request):
        return replay
    if hold.status != HoldStatus.PENDING:
        raise HoldNotPending(hold_status=hold.status)
    resolve_hold(hold, status=HoldStatus.RELEASED)
    operation, _ = hold_settle(
        wallet=wallet, hold=hold, captured=0, now=timezone.now(), append_commit=None,
        append_release=lambda rest: append_operation(
            wallet, type=OperationType.RELEASE, amount=rest, source=source, reason=reason,
            reference=hold.action_code, hold=hold, actor=actor, idempotency_key=idempotency_key,
            fingerprint=request,
        ),
    )
    save_wallet(wallet)
    return operation


@transaction.atomic
def hold_expire(*, hold_id, now: datetime) -> Hold | None:
    """Expire one pending hold past its deadline (the expiry job's step); None if it was
    resolved meanwhile or is not due."""
    wallet, hold = lock_hold(hold_id=hold_id, user=None)
    # Re-checked under the lock: it may have been committed or released meanwhile.
    if hold.status != HoldStatus.PENDING or hold.expires_at > now:
        return None
    try:
        resolve_hold(hold, status=HoldStatus.EXPIRED)
    except HoldNotPending:  # resolved while we waited for the lock; nothing was written
        return None
    hold_settle(
        wallet=wallet, hold=hold, captured=0, now=now, append_commit=None,
        append_release=lambda rest: append_operation(
            wallet, type=OperationType.RELEASE, amount=rest, source=OperationSource.SYSTEM,
            reason="hold expired", reference=hold.action_code, hold=hold,
        ),
    )
    save_wallet(wallet)
    hold_expired_emit(hold, wallet)
    return hold
