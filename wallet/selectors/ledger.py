"""Reads of wallets, holds, operations and incidents (more than a `get`)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from wallet.models import BalanceOperation, Hold, HoldStatus, Incident, IncidentStatus, Wallet


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
