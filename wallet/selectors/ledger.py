"""Reads of wallets, holds, operations and incidents (more than a `get`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Case, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from wallet.models import (
    PAID_LIKE_CATEGORIES,
    BalanceOperation,
    EnergyLot,
    Hold,
    HoldStatus,
    Incident,
    IncidentStatus,
    LotConsumption,
    OperationType,
    Wallet,
)


def wallet_for_user(user) -> Wallet | None:
    """The user's wallet, or None if they have none yet (bare users; registration opens one)."""
    return Wallet.objects.filter(user_id=user.pk).first()


def wallet_balance(user) -> dict[str, int]:
    """`{"balance", "held", "available"}`; zeros for a user without a wallet. Never cached."""
    row = Wallet.objects.filter(user_id=user.pk).values_list("balance", "held").first()
    balance, held = row or (0, 0)
    return {"balance": balance, "held": held, "available": balance - held}


def wallet_operations_for_user(user) -> QuerySet[BalanceOperation]:
    """The user's ledger, newest first (served by the UNIQUE(wallet, seq) index)."""
    return BalanceOperation.objects.filter(wallet__user_id=user.pk).order_by("-seq")


def hold_for_user(*, hold_id, user=None) -> Hold | None:
    queryset = Hold.objects.all()
    if user is not None:
        queryset = queryset.filter(wallet__user_id=user.pk)
    return queryset.filter(pk=hold_id).first()


def hold_overrun_operation(hold: Hold) -> BalanceOperation | None:
    """The debit of a captured hold's true-up (a commit that took more than was held), if any."""
    if not hold.overrun_amount:
        return None
    return hold.operations.filter(type=OperationType.DEBIT).first()


def holds_due_for_expiry(*, now: datetime, limit: int) -> list[Hold]:
    """Pending holds whose deadline passed, oldest deadline first (partial index scan)."""
    return list(
        Hold.objects.filter(status=HoldStatus.PENDING, expires_at__lte=now).order_by("expires_at", "id")[:limit]
    )


def holds_stuck(*, now: datetime) -> QuerySet[Hold]:
    """Pending holds past their deadline: the expiry job should have released them."""
    return Hold.objects.filter(status=HoldStatus.PENDING, expires_at__lt=now)


def holds_pending_count() -> int:
    """Pending holds right now (the metrics scrape's gauge)."""
    return Hold.objects.filter(status=HoldStatus.PENDING).count()


def incidents_open() -> QuerySet[Incident]:
    return Incident.objects.filter(status=IncidentStatus.OPEN).order_by("-severity", "-detected_at")


# --- Energy lots --------------------------------------------------------------------------------


def energy_lots_for_user(user, *, include_empty: bool = False) -> QuerySet[EnergyLot]:
    """The user's lots in the consumption order (the order a debit draws them)."""
    lots = EnergyLot.objects.filter(wallet__user_id=user.pk)
    if not include_empty:
        lots = lots.filter(remaining__gt=0)
    # THE consumption order (wallet.models.LOT_ORDER_SQL) as ORM ordering.
    return lots.annotate(
        never_expires=Case(When(expires_at__isnull=True, then=Value(1)), default=Value(0)),
        paid_like=Case(When(category__in=PAID_LIKE_CATEGORIES, then=Value(1)), default=Value(0)),
    ).order_by("never_expires", "expires_at", "paid_like", "priority", "created_at", "id")


def wallet_lot_summary(user, *, now: datetime | None = None) -> dict[str, Any]:
    """`paid` / `free` split of the balance and the next expiry (amount, date) of the user's
    lots (the unexpired energy a lot will lose at its expiry; null when none expires)."""
    now = now or timezone.now()
    lots = EnergyLot.objects.filter(wallet__user_id=user.pk, remaining__gt=0)
    split = lots.aggregate(paid=Sum("remaining", filter=Q(category__in=PAID_LIKE_CATEGORIES)),
                           free=Sum("remaining", filter=~Q(category__in=PAID_LIKE_CATEGORIES)))
    soonest = lots.filter(expires_at__isnull=False).order_by("expires_at").values_list("expires_at", flat=True).first()
    next_expiry = None
    if soonest is not None:
        amount = lots.filter(expires_at=soonest).aggregate(total=Sum("remaining"))["total"] or 0
        next_expiry = {"amount": int(amount), "expires_at": soonest}
    return {"paid": int(split["paid"] or 0), "free": int(split["free"] or 0), "next_expiry": next_expiry}


def wallet_energy_summary(user) -> dict[str, Any]:
    """/auth/profile's `energy` and /luna/energy/check: balance, held, available and the lots' summary."""
    return {**wallet_balance(user), **wallet_lot_summary(user)}


def lots_of_operations(operation_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per operation: the lots it moved, `[{"lot_id", "category", "kind", "amount"}]` (explainable charges)."""
    answer: dict[int, list[dict[str, Any]]] = {pk: [] for pk in operation_ids}
    rows = (LotConsumption.objects.filter(operation_id__in=operation_ids)
            .values_list("operation_id", "lot_id", "lot__category", "kind", "amount").order_by("operation_id", "id"))
    for operation_id, lot_id, category, kind, amount in rows:
        answer[operation_id].append({"lot_id": lot_id, "category": category, "kind": kind, "amount": amount})
    return answer
