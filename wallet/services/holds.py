"""Ledger writes on holds: freeze, extend (renew a lease), commit (partial, full or with a
bounded true-up), release, expire one."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from wallet.errors import (
    HoldExpired,
    HoldNotPending,
    InsufficientEnergy,
    OverrunBeyondCap,
    WalletValidationError,
)
from wallet.events import hold_expired_emit, operation_events_emit
from wallet.models import (
    BalanceOperation,
    EnergyAction,
    Hold,
    HoldExtension,
    HoldStatus,
    OperationSource,
    OperationType,
)
from wallet.services import sql
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
# A renewable hold lives at most this long, however often it is extended.
MAX_HOLD_LIFETIME_SECONDS = 7 * 24 * 3600


def _check_seconds(value, *, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (low <= value <= high):
        raise WalletValidationError(fields={name: [f"Between {low} and {high} seconds."]})
    return value


@transaction.atomic
def wallet_freeze(
    *, user, amount: int, action_code: str, ttl_seconds: int = DEFAULT_HOLD_TTL_SECONDS,
    max_lifetime_seconds: int | None = None, idempotency_key: str | None = None,
    source: str = OperationSource.API, reason: str = "",
) -> Hold:
    """Reserve `amount` for an action in progress; it is committed, released or expires.

    `max_lifetime_seconds` (default: `ttl_seconds`, not renewable) bounds how far `extend`
    may push the expiry: the hold never lives past created_at + max_lifetime_seconds."""
    check_amount(amount)
    check_text(action_code, name="action_code", max_length=64, required=True)
    check_common(source=source, reason=reason, reference=action_code, idempotency_key=idempotency_key)
    _check_seconds(ttl_seconds, name="ttl_seconds", low=1, high=MAX_HOLD_TTL_SECONDS)
    if max_lifetime_seconds is None:
        max_lifetime_seconds = ttl_seconds
    _check_seconds(max_lifetime_seconds, name="max_lifetime_seconds", low=ttl_seconds, high=MAX_HOLD_LIFETIME_SECONDS)
    request = fingerprint("freeze", amount=amount, action_code=action_code, ttl_seconds=ttl_seconds,
                          max_lifetime_seconds=max_lifetime_seconds, source=source)
    wallet = lock_wallet_of_user(user)
    if replay := replayed(wallet, idempotency_key, request):
        return replay.hold
    require_available(wallet, amount)
    now = timezone.now()
    hold = insert_hold(wallet=wallet, amount=amount, action_code=action_code, source=source,
                       idempotency_key=idempotency_key, created_at=now,
                       expires_at=now + timedelta(seconds=ttl_seconds), ttl_seconds=ttl_seconds,
                       max_expires_at=now + timedelta(seconds=max_lifetime_seconds))
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

    A true-up: `amount` above the hold, up to the action's `overrun_cap_percent`, captures the
    whole hold and debits the extra from the available energy beyond the hold (a `debit` of
    the same hold, drawn from the lots like any debit, written before the commit); the hold's
    `overrun_amount` records it. Beyond the cap: OverrunBeyondCap (402); beyond the available
    energy: InsufficientEnergy (402); nothing is written and the hold stays pending.
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
    overrun = max(0, captured - hold.amount)
    if overrun:
        _check_overrun(wallet, hold, amount=captured, overrun=overrun)
        captured = hold.amount

    resolve_hold(hold, status=HoldStatus.CAPTURED, captured_amount=captured)
    if overrun:
        sql.execute(sql.HOLD_OVERRUN_SQL, [overrun, hold.pk])
        hold.overrun_amount = overrun
        # Before the commit, so the commit's after-values stay the wallet's final state.
        hold.overrun_operation = append_operation(
            wallet, type=OperationType.DEBIT, amount=overrun, source=source, reason="true-up beyond the hold",
            reference=hold.action_code, hold=hold, actor=actor, take_from_lots="draw",
        )
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


def _check_overrun(wallet, hold: Hold, *, amount: int, overrun: int) -> None:
    cap_percent = (EnergyAction.objects.filter(code=hold.action_code)
                   .values_list("overrun_cap_percent", flat=True).first()) or 0
    most = hold.amount + hold.amount * cap_percent // 100
    if amount > most:
        raise OverrunBeyondCap(
            detail=f"The commit asks {amount} points; the hold of {hold.amount} allows at most {most} "
            f"(+{cap_percent} %).", required=amount, available=most, hold_amount=hold.amount,
            overrun_cap_percent=cap_percent)
    if wallet.available < overrun:
        raise InsufficientEnergy(
            detail=f"The true-up needs {overrun} points beyond the hold; {wallet.available} are available.",
            required=overrun, available=wallet.available, hold_amount=hold.amount)


@transaction.atomic
def wallet_hold_extend(
    *, hold_id, ttl_seconds: int | None = None, user=None, source: str = OperationSource.API,
    idempotency_key: str | None = None, now: datetime | None = None,
) -> tuple[Hold, HoldExtension]:
    """Renew a pending hold's lease (a heartbeat of the worker running the action): its
    expiry becomes now + `ttl_seconds` (default: the hold's own TTL), never past its maximum
    lifetime and never earlier than it was. Recorded as a `HoldExtension` row (append-only).

    HoldNotPending (409) on a resolved hold, HoldExpired (409) on one past its deadline.
    `idempotency_key` (per hold) replays the first extension.
    """
    check_common(source=source, reason="", reference="", idempotency_key=idempotency_key)
    if ttl_seconds is not None:
        _check_seconds(ttl_seconds, name="ttl_seconds", low=1, high=MAX_HOLD_TTL_SECONDS)
    wallet, hold = lock_hold(hold_id=hold_id, user=user)
    if idempotency_key is not None and (
        first := HoldExtension.objects.filter(hold_id=hold.pk, idempotency_key=idempotency_key).first()
    ):
        return hold, first
    now = now or timezone.now()
    if hold.status != HoldStatus.PENDING:
        raise HoldNotPending(hold_status=hold.status)
    if hold.expires_at <= now:
        raise HoldExpired()
    renew = timedelta(seconds=ttl_seconds or hold.ttl_seconds or DEFAULT_HOLD_TTL_SECONDS)
    ceiling = hold.max_expires_at or hold.expires_at  # a hold from before renewals keeps its deadline
    new_expiry = max(hold.expires_at, min(now + renew, ceiling))
    extension = HoldExtension.objects.create(
        hold=hold, expires_at_before=hold.expires_at, expires_at_after=new_expiry, source=source,
        idempotency_key=idempotency_key, created_at=now)
    if sql.execute(sql.EXTEND_HOLD_SQL, [new_expiry, hold.pk]) != 1:  # the wallet lock makes this unreachable
        raise HoldNotPending(hold_status=Hold.objects.get(pk=hold.pk).status)
    hold.expires_at = new_expiry
    return hold, extension


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
