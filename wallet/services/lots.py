"""Energy lots: the building blocks every ledger write uses under the wallet lock.

A credit creates lots (`lots_create`); a debit or a freeze takes from them in the
consumption order inside its operation's own statement (`ledger.append_operation`,
`take_from_lots=`); everything else (a hold's commit/release/expiry, a refund back to its
lots, a pack's revocation, a lot's expiry) computes its moves here and writes them with ONE
UPDATE of the lots and ONE INSERT of the consumption rows (`lots_apply`).

The consumption order (README "Energy lots", `wallet.models.LOT_ORDER_SQL`): soonest expiry
first (never-expiring last), then free categories before paid, then priority (lower first),
then oldest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from wallet.errors import WalletValidationError
from wallet.events import lot_expired_emit
from wallet.models import (
    DEFAULT_LOT_PRIORITY,
    BalanceOperation,
    EnergyLot,
    EnergyValidity,
    LotCategory,
    LotConsumptionKind,
    OperationSource,
    OperationType,
    Wallet,
)
from wallet.services import sql
from wallet.services.ledger import append_operation

# The category of a credit that names none, by its source.
DEFAULT_CATEGORY_BY_SOURCE = {
    OperationSource.STRIPE: LotCategory.PAID,
    OperationSource.ADMIN: LotCategory.GOODWILL,
    OperationSource.SYSTEM: LotCategory.PROMOTIONAL,
    OperationSource.API: LotCategory.PROMOTIONAL,
}
PRIORITY_RANGE = (0, 100)


@dataclass(frozen=True)
class LotGrant:
    """One lot a credit creates."""

    amount: int
    category: str
    expires_at: datetime | None = None
    priority: int = DEFAULT_LOT_PRIORITY
    price_cents: int = 0

    def fingerprint(self) -> list:
        # Not the expiry: it is usually computed from "now", and a replay must still match.
        return [self.amount, self.category, self.priority, self.price_cents]


def validity_settings() -> EnergyValidity:
    """The admin-edited validity row (migration 0003 seeds it; its defaults if missing)."""
    return EnergyValidity.objects.filter(pk=1).first() or EnergyValidity(pk=1)


def expiry_after(days: int | None, *, now: datetime) -> datetime | None:
    return None if days is None else now + timedelta(days=days)


def welcome_grant_lot(*, amount: int, now: datetime | None = None) -> LotGrant:
    now = now or timezone.now()
    return LotGrant(amount=amount, category=LotCategory.WELCOME,
                    expires_at=expiry_after(validity_settings().welcome_validity_days, now=now))


def pack_purchase_lots(*, points: int, bonus: int, validity_days: int | None, price_cents: int,
                       now: datetime | None = None) -> list[LotGrant]:
    """A pack's lots: its paid points (the pack's validity, what was paid) and, on a first
    purchase, the bonus (the bonus validity setting, free)."""
    now = now or timezone.now()
    lots = [LotGrant(amount=points, category=LotCategory.PAID, expires_at=expiry_after(validity_days, now=now),
                     price_cents=price_cents)]
    if bonus:
        lots.append(LotGrant(amount=bonus, category=LotCategory.BONUS,
                             expires_at=expiry_after(validity_settings().bonus_validity_days, now=now)))
    return lots


def check_lots(lots: list[LotGrant], *, amount: int, now: datetime) -> None:
    problems = []
    if not lots or sum(lot.amount for lot in lots) != amount:
        problems.append("The lots must add up to the credited amount.")
    for lot in lots:
        if isinstance(lot.amount, bool) or not isinstance(lot.amount, int) or lot.amount <= 0:
            problems.append("A lot's amount is a positive whole number.")
        if lot.category not in LotCategory.values or lot.category == LotCategory.LEGACY:
            problems.append(f"A lot's category is one of {', '.join(c for c in LotCategory.values if c != 'legacy')}.")
        if lot.expires_at is not None and lot.expires_at <= now:
            problems.append("A lot's expiry must be in the future.")
        if not (PRIORITY_RANGE[0] <= lot.priority <= PRIORITY_RANGE[1]):
            problems.append(f"A lot's priority is between {PRIORITY_RANGE[0]} and {PRIORITY_RANGE[1]}.")
        if lot.price_cents < 0:
            problems.append("A lot's price is not negative.")
    if problems:
        raise WalletValidationError(fields={"lots": sorted(set(problems))})


def lots_create(*, wallet: Wallet, operation: BalanceOperation, lots: list[LotGrant]) -> list[int]:
    """Insert the credit's lots (full: remaining = amount); returns their ids."""
    ids = []
    for grant in lots:
        lot = EnergyLot(wallet_id=wallet.pk, category=grant.category, amount=grant.amount, remaining=grant.amount,
                        reserved=0, priority=grant.priority, expires_at=grant.expires_at, operation_id=operation.pk,
                        reference=operation.reference, price_cents=grant.price_cents,
                        created_at=operation.created_at)
        ids.append(sql.fetch_one(sql.INSERT_LOT_SQL, sql.row_params(lot, exclude=sql.LOT_INSERT_EXCLUDE))[0])
    return ids


# Moves: (operation id, lot id, kind, amount).
Move = tuple[int, int, str, int]


def lots_apply(moves: list[Move], *, now: datetime) -> None:
    """Write the moves: one UPDATE of the lots, one INSERT of the consumption rows. The
    lots' CHECKs (0 <= reserved <= remaining <= amount) hold the arithmetic."""
    moves = [m for m in moves if m[3] > 0]
    if not moves:
        return
    params = [value for move in moves for value in move]
    sql.execute(sql.lots_apply_sql(len(moves)), [*params, now])


def lots_drawable(wallet: Wallet, *, now: datetime) -> int:
    return int(sql.fetch_one(sql.LOTS_DRAWABLE_SQL, [wallet.pk, now])[0])


def _rows(statement: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


# --- Holds -----------------------------------------------------------------------------------------

def hold_reservations(hold_id) -> list[tuple[int, datetime | None, int]]:
    """(lot id, lot expiry, amount reserved) of a hold's freeze, in the consumption order."""
    return _rows(sql.HOLD_RESERVATIONS_SQL, [hold_id])


def _expiry_operation(wallet: Wallet, *, expiring: list[tuple[int, int]], reason: str, reference: str):
    """Append the lot_expiry operation for energy handed back to lots already past expiry."""
    total = sum(amount for _, amount in expiring)
    if total == 0:
        return None, []
    operation = append_operation(wallet, type=OperationType.LOT_EXPIRY, amount=total,
                                 source=OperationSource.SYSTEM, reason=reason, reference=reference)
    return operation, [(operation.pk, lot_id, LotConsumptionKind.DRAW, amount) for lot_id, amount in expiring]


def hold_settle(*, wallet: Wallet, hold, captured: int, append_release, append_commit, now: datetime
                ) -> tuple[BalanceOperation | None, BalanceOperation | None]:
    """Settle a pending hold's reservations: `captured` points are drawn from its reserved
    lots (consumption order), the rest unreserved; what goes back to a lot already past its
    expiry expires at once (a `lot_expiry` operation between the release and the commit, so
    the commit's after-values stay the wallet's final state).

    `append_release(amount)` / `append_commit()` append the hold's operations (the caller's
    reasons and keys); returns (release operation, commit operation).
    """
    reservations = hold_reservations(hold.pk)
    draws: list[tuple[int, int]] = []
    released: list[tuple[int, datetime | None, int]] = []
    left = captured
    for lot_id, expires_at, amount in reservations:
        take = min(amount, left)
        left -= take
        if take:
            draws.append((lot_id, take))
        if amount - take:
            released.append((lot_id, expires_at, amount - take))
    moves: list[Move] = []
    release_op = append_release(hold.amount - captured) if captured < hold.amount else None
    if release_op is not None:
        moves += [(release_op.pk, lot_id, LotConsumptionKind.UNRESERVE, amount) for lot_id, _, amount in released]
    expiring = [(lot_id, amount) for lot_id, expires_at, amount in released
                if expires_at is not None and expires_at <= now]
    _, expiry_moves = _expiry_operation(wallet, expiring=expiring, reason="released energy of an expired lot",
                                        reference=hold.action_code)
    moves += expiry_moves
    commit_op = append_commit() if captured else None
    if commit_op is not None:
        for lot_id, amount in draws:
            moves.append((commit_op.pk, lot_id, LotConsumptionKind.UNRESERVE, amount))
            moves.append((commit_op.pk, lot_id, LotConsumptionKind.DRAW, amount))
    lots_apply(moves, now=now)
    return release_op, commit_op


# --- Refund of a debit, revocation of a purchase ------------------------------------------------


def lots_restore(*, wallet: Wallet, original: BalanceOperation, credit: BalanceOperation, now: datetime
                 ) -> BalanceOperation | None:
    """Give a refunded debit/commit back to the lots it drew from, never extending a lot's
    life: what goes back to a lot already past its expiry expires at once."""
    drawn = _rows(
        "SELECT l.id, l.expires_at, c.amount FROM wallet_lotconsumption c JOIN wallet_energylot l ON l.id = c.lot_id "
        "WHERE c.operation_id = %s AND c.kind = 'draw' ORDER BY l.id", [original.pk])
    moves: list[Move] = [(credit.pk, lot_id, LotConsumptionKind.RESTORE, amount) for lot_id, _, amount in drawn]
    expiring = [(lot_id, amount) for lot_id, expires_at, amount in drawn
                if expires_at is not None and expires_at <= now]
    expiry, expiry_moves = _expiry_operation(wallet, expiring=expiring, reason="refunded energy of an expired lot",
                                             reference=original.reference)
    lots_apply(moves + expiry_moves, now=now)
    return expiry


def purchase_lots(wallet: Wallet, *, reference: str) -> list[tuple[int, int, int]]:
    """(lot id, amount, unreserved remaining) of the lots a purchase (its reference) created."""
    if not reference:
        return []
    return _rows(
        "SELECT l.id, l.amount, l.remaining - l.reserved FROM wallet_energylot l "
        "JOIN wallet_balanceoperation o ON o.id = l.operation_id "
        "WHERE l.wallet_id = %s AND l.reference = %s AND o.type = 'credit' AND o.refund_of_id IS NULL "
        "ORDER BY l.id", [wallet.pk, reference])


def revocation_plan(lots: list[tuple[int, int, int]], *, amount: int) -> list[tuple[int, int]]:
    """How much to revoke from each of a purchase's lots for `amount`: each lot its share of
    `amount` by its size (largest remainders break the rounding), at most what it has
    unreserved; a lot short of its share passes the rest to the others that still have some.
    What no lot has left is the caller's shortfall."""
    total = sum(size for _, size, _ in lots)
    if total == 0:
        return []
    shares = [(amount * size) // total for _, size, _ in lots]
    by_remainder = sorted(range(len(lots)), key=lambda i: (-((amount * lots[i][1]) % total), i))
    for i in by_remainder[: amount - sum(shares)]:
        shares[i] += 1
    takes = [min(share, free) for share, (_, _, free) in zip(shares, lots, strict=True)]
    unmet = amount - sum(takes)
    for i, (_, _, free) in enumerate(lots):
        if unmet == 0:
            break
        extra = min(free - takes[i], unmet)
        takes[i] += extra
        unmet -= extra
    return [(lot_id, take) for (lot_id, _, _), take in zip(lots, takes, strict=True) if take]


# --- Expiry ---------------------------------------------------------------------------------------


def lots_due_for_expiry(*, now: datetime, limit: int) -> list[tuple[int, int, int]]:
    """(lot id, wallet id, unreserved remaining) of lots past expiry with energy to expire."""
    return _rows(
        "SELECT id, wallet_id, remaining - reserved FROM wallet_energylot "
        "WHERE expires_at IS NOT NULL AND expires_at <= %s AND remaining > reserved "
        "ORDER BY expires_at, id LIMIT %s", [now, limit])


def lot_expire(*, wallet: Wallet, lot_id: int, now: datetime) -> tuple[BalanceOperation, int] | None:
    """Expire one lot's unreserved remainder (re-read under the wallet lock); None if nothing is due."""
    row = sql.fetch_one("SELECT remaining - reserved, expires_at FROM wallet_energylot "
                        "WHERE id = %s AND wallet_id = %s", [lot_id, wallet.pk])
    if row is None or row[0] <= 0 or row[1] is None or row[1] > now:
        return None
    amount = int(row[0])
    operation = append_operation(wallet, type=OperationType.LOT_EXPIRY, amount=amount,
                                 source=OperationSource.SYSTEM, reason="lot expired", reference=f"lot:{lot_id}")
    lots_apply([(operation.pk, lot_id, LotConsumptionKind.DRAW, amount)], now=now)
    lot_expired_emit(operation, lot_id=lot_id)
    return operation, amount
