"""Ledger writes on posted energy: open, credit, debit, clawback, refund of a debit."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from phoenix.core.transactions import service_atomic
from wallet.errors import AlreadyRefunded, OperationNotFound, OperationNotRefundable
from wallet.events import operation_events_emit
from wallet.models import REFUNDABLE_TYPES, BalanceOperation, LotConsumptionKind, OperationSource, OperationType, Wallet
from wallet.services import sql
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
from wallet.services.lots import (
    DEFAULT_CATEGORY_BY_SOURCE,
    LotGrant,
    check_lots,
    lots_apply,
    lots_create,
    lots_drawable,
    lots_restore,
    purchase_lots,
    revocation_plan,
    welcome_grant_lot,
)
from wallet.services.usage_events import usage_event_compensate

WELCOME_GRANT_POINTS = 85
WELCOME_GRANT_KEY = "welcome-grant"


@dataclass(frozen=True)
class ClawbackResult:
    operation: BalanceOperation | None  # None when nothing was available
    debited: int
    shortfall: int
    lots: tuple[tuple[int, int], ...] = ()  # (lot id, amount revoked)


@transaction.atomic
def wallet_open(*, user, welcome_grant: bool = True) -> Wallet:
    """Create the user's wallet (if missing) and give the welcome grant once (idempotent):
    a `welcome` lot valid for the welcome validity setting."""
    wallet = lock_wallet_of_user(user)
    if welcome_grant and not BalanceOperation.objects.filter(wallet=wallet, idempotency_key=WELCOME_GRANT_KEY).exists():
        wallet_credit(
            user=user, amount=WELCOME_GRANT_POINTS, source=OperationSource.SYSTEM,
            reason="welcome grant", reference="welcome", idempotency_key=WELCOME_GRANT_KEY,
            lots=[welcome_grant_lot(amount=WELCOME_GRANT_POINTS)],
        )
        wallet.refresh_from_db()
    return wallet


@transaction.atomic
def wallet_credit(
    *, user, amount: int, source: str, reason: str, reference: str = "",
    idempotency_key: str | None = None, actor=None, lots: list[LotGrant] | None = None,
) -> BalanceOperation:
    """Add posted energy (purchase, bonus, welcome grant, admin grant) as one operation and
    its lots (`lots`, adding up to `amount`; default one never-expiring lot of the source's
    category: stripe paid, admin goodwill, else promotional)."""
    check_amount(amount)
    check_common(source=source, reason=reason, reference=reference, idempotency_key=idempotency_key)
    if lots is None:
        lots = [LotGrant(amount=amount, category=DEFAULT_CATEGORY_BY_SOURCE[source])]
    request = fingerprint("credit", amount=amount, source=source, reference=reference,
                          lots=[lot.fingerprint() for lot in lots])
    wallet = lock_wallet_of_user(user)
    if replay := replayed(wallet, idempotency_key, request):
        return replay
    check_lots(lots, amount=amount, now=timezone.now())
    operation = append_operation(
        wallet, type=OperationType.CREDIT, amount=amount, source=source, reason=reason,
        reference=reference, actor=actor, idempotency_key=idempotency_key, fingerprint=request,
    )
    lots_create(wallet=wallet, operation=operation, lots=lots)
    save_wallet(wallet)
    operation_events_emit(operation)
    return operation


@service_atomic  # inside energy_consume's transaction: no savepoint
def wallet_debit(
    *, user, amount: int, source: str, reason: str, reference: str = "",
    idempotency_key: str | None = None, actor=None, rider: sql.Rider | None = None,
) -> BalanceOperation:
    """Consume available energy at once (direct consume, admin removal).

    Raises InsufficientEnergy (402) when `amount` exceeds balance - held (or what the
    wallet's unexpired lots hold). Drawn from the lots in the consumption order.
    `rider`: the caller's writes in the debit's own statement (`sql.Rider`; its answer on
    `operation.rider_answer`). A replay (the key's first operation) runs no rider and has
    no `rider_answer`.
    """
    check_amount(amount)
    check_common(source=source, reason=reason, reference=reference, idempotency_key=idempotency_key)
    # The fingerprint only serves a replay check (no key: no replay, nothing stored).
    request = fingerprint("debit", amount=amount, source=source, reference=reference) if idempotency_key else ""
    wallet = lock_wallet_of_user(user)
    if replay := replayed(wallet, idempotency_key, request):
        return replay
    require_available(wallet, amount)
    operation = append_operation(
        wallet, type=OperationType.DEBIT, amount=amount, source=source, reason=reason,
        reference=reference, actor=actor, idempotency_key=idempotency_key, fingerprint=request,
        take_from_lots="draw", save=True, rider=rider,
    )
    operation_events_emit(operation)
    return operation


@transaction.atomic
def wallet_clawback(
    *, user, amount: int, source: str, reason: str, reference: str = "",
    idempotency_key: str | None = None, actor=None,
) -> ClawbackResult:
    """Revoke `amount` (refund or dispute of a pack); report the shortfall.

    The lots the purchase created (same `reference`: the paid lot and its bonus lot) give
    up their unreserved remaining, each in proportion to its size (a partial refund takes the
    same share of each); what was already consumed is the shortfall. A reference with no lots
    (a purchase from before lots) takes from the wallet's lots in the consumption order.
    When nothing is available no operation is written, so the key is not consumed: the
    caller (billing) dedupes on its own event id and records the shortfall.
    """
    check_amount(amount)
    check_common(source=source, reason=reason, reference=reference, idempotency_key=idempotency_key)
    request = fingerprint("clawback", amount=amount, source=source, reference=reference)
    wallet = lock_wallet_of_user(user)
    if replay := replayed(wallet, idempotency_key, request):
        taken = tuple(replay.lot_consumptions.filter(kind=LotConsumptionKind.DRAW).values_list("lot_id", "amount"))
        return ClawbackResult(operation=replay, debited=replay.amount, shortfall=amount - replay.amount, lots=taken)
    now = timezone.now()
    purchase = purchase_lots(wallet, reference=reference)
    plan = revocation_plan(purchase, amount=amount) if purchase else None
    debited = sum(take for _, take in plan) if plan is not None else min(amount, lots_drawable(wallet, now=now))
    if debited == 0:
        return ClawbackResult(operation=None, debited=0, shortfall=amount)
    operation = append_operation(
        wallet, type=OperationType.DEBIT, amount=debited, source=source, reason=reason,
        reference=reference, actor=actor, idempotency_key=idempotency_key, fingerprint=request,
        take_from_lots=None if plan is not None else "draw",
    )
    if plan is not None:
        lots_apply([(operation.pk, lot_id, LotConsumptionKind.DRAW, take) for lot_id, take in plan], now=now)
        operation.lot_takes = plan
    save_wallet(wallet)
    operation_events_emit(operation)
    return ClawbackResult(operation=operation, debited=debited, shortfall=amount - debited,
                          lots=tuple(operation.lot_takes))


@transaction.atomic
def wallet_refund_debit(
    *, operation_id: int, user=None, source: str = OperationSource.API, reason: str = "",
    idempotency_key: str | None = None, actor=None,
) -> BalanceOperation:
    """Credit back a debit or commit, at most once (UNIQUE refund_of in the database), to
    the lots it drew from (what goes back to a lot already past its expiry expires at once).

    The action the debit paid for (if any) gets its compensating usage event, in the same
    transaction. Returns the refunding credit operation. `user` (optional) scopes the lookup.
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
    lots_restore(wallet=wallet, original=original, credit=operation, now=timezone.now())
    usage_event_compensate(credit=operation)
    save_wallet(wallet)
    operation_events_emit(operation)
    return operation
