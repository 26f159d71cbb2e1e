"""Ledger writes on posted energy: open, credit, debit, clawback, refund of a debit."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from wallet.errors import AlreadyRefunded, OperationNotFound, OperationNotRefundable
from wallet.events import operation_events_emit
from wallet.models import REFUNDABLE_TYPES, BalanceOperation, OperationSource, OperationType, Wallet
from wallet.services.ledger import (
    append_operation,
    check_amount,
    check_common,
    fingerprint,
    lock_wallet_of_user,
    replayed,
    require_available,
    save_wallet,
)

WELCOME_GRANT_POINTS = 85
WELCOME_GRANT_KEY = "welcome-grant"


@dataclass(frozen=True)
class ClawbackResult:
    operation: BalanceOperation | None  # None when nothing was available
    debited: int
    shortfall: int


@transaction.atomic
def wallet_open(*, user, welcome_grant: bool = True) -> Wallet:
    """Create the user's wallet (if missing) and give the welcome grant once (idempotent)."""
    wallet = lock_wallet_of_user(user)
    if welcome_grant:
        wallet_credit(
            user=user, amount=WELCOME_GRANT_POINTS, source=OperationSource.SYSTEM,
            reason="welcome grant", reference="welcome", idempotency_key=WELCOME_GRANT_KEY,
        )
        wallet.refresh_from_db()
    return wallet


@transaction.atomic
def wallet_credit(
    *, user, amount: int, source: str, reason: str, reference: str = "",
    idempotency_key: str | None = None, actor=None,
) -> BalanceOperation:
    """Add posted energy (purchase, bonus, welcome grant, admin grant)."""
    check_amount(amount)
    check_common(source=source, reason=reason, reference=reference, idempotency_key=idempotency_key)
    request = fingerprint("credit", amount=amount, source=source, reference=reference)
    wallet = lock_wallet_of_user(user)
    if replay := replayed(wallet, idempotency_key, request):
        return replay
    operation = append_operation(
        wallet, type=OperationType.CREDIT, amount=amount, source=source, reason=reason,
        reference=reference, actor=actor, idempotency_key=idempotency_key, fingerprint=request,
    )
    save_wallet(wallet)
    operation_events_emit(operation)
    return operation


@transaction.atomic
def wallet_debit(
    *, user, amount: int, source: str, reason: str, reference: str = "",
    idempotency_key: str | None = None, actor=None,
) -> BalanceOperation:
    """Consume available energy at once (direct consume, admin removal).

    Raises InsufficientEnergy (402) when `amount` exceeds balance - held.
    """
    check_amount(amount)
    check_common(source=source, reason=reason, reference=reference, idempotency_key=idempotency_key)
    request = fingerprint("debit", amount=amount, source=source, reference=reference)
    wallet = lock_wallet_of_user(user)
    if replay := replayed(wallet, idempotency_key, request):
        return replay
    require_available(wallet, amount)
    operation = append_operation(
        wallet, type=OperationType.DEBIT, amount=amount, source=source, reason=reason,
        reference=reference, actor=actor, idempotency_key=idempotency_key, fingerprint=request,
    )
    save_wallet(wallet)
    operation_events_emit(operation)
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
    check_amount(amount)
    check_common(source=source, reason=reason, reference=reference, idempotency_key=idempotency_key)
    request = fingerprint("clawback", amount=amount, source=source, reference=reference)
    wallet = lock_wallet_of_user(user)
    if replay := replayed(wallet, idempotency_key, request):
        return ClawbackResult(operation=replay, debited=replay.amount, shortfall=amount - replay.amount)
    debited = min(amount, max(wallet.available, 0))
    if debited == 0:
        return ClawbackResult(operation=None, debited=0, shortfall=amount)
    operation = append_operation(
        wallet, type=OperationType.DEBIT, amount=debited, source=source, reason=reason,
        reference=reference, actor=actor, idempotency_key=idempotency_key, fingerprint=request,
    )
    save_wallet(wallet)
    operation_events_emit(operation)
    return ClawbackResult(operation=operation, debited=debited, shortfall=amount - debited)


@transaction.atomic
def wallet_refund_debit(
    *, operation_id: int, user=None, source: str = OperationSource.API, reason: str = "",
    idempotency_key: str | None = None, actor=None,
) -> BalanceOperation:
    """Credit back a debit or commit, at most once (UNIQUE refund_of in the database).

    Returns the refunding credit operation. `user` (optional) scopes the lookup.
    """
    check_common(source=source, reason=reason, reference="", idempotency_key=idempotency_key)
    if isinstance(operation_id, bool) or not isinstance(operation_id, int):
        raise OperationNotFound()
    queryset = BalanceOperation.objects.all()
    if user is not None:
        queryset = queryset.filter(wallet__user_id=user.pk)
    original = queryset.filter(pk=operation_id).first()
    if original is None:
        raise OperationNotFound()
    request = fingerprint("refund", operation_id=operation_id, source=source)
    wallet = Wallet.objects.select_for_update().get(pk=original.wallet_id)
    if replay := replayed(wallet, idempotency_key, request):
        return replay
    if original.type not in REFUNDABLE_TYPES:
        raise OperationNotRefundable()
    if BalanceOperation.objects.filter(refund_of=original).exists():
        raise AlreadyRefunded()
    operation = append_operation(
        wallet, type=OperationType.CREDIT, amount=original.amount, source=source,
        reason=reason or f"refund of operation {original.pk}", reference=original.reference,
        refund_of=original, actor=actor, idempotency_key=idempotency_key, fingerprint=request,
    )
    save_wallet(wallet)
    operation_events_emit(operation)
    return operation
