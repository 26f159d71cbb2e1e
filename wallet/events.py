"""The wallet's outbound webhook events (phoenix.outbound), emitted by the ledger services
right after a write, in its transaction. Bodies as documented in phoenix/outbound/catalogue.py."""

from __future__ import annotations

from phoenix.outbound.outbox import emit, user_subject
from wallet.models import BalanceOperation, EnergyLot, Hold, Incident, OperationType, Wallet


def operation_events_emit(operation: BalanceOperation) -> None:
    """wallet.credited for a credit; for a drop of available: wallet.balance_low (each
    endpoint checks its own threshold against before/after) and wallet.depleted at 0."""
    subject = user_subject(operation.wallet.user_id)
    before = operation.balance_before - operation.held_before
    after = operation.balance_after - operation.held_after
    base = {"user_id": operation.wallet.user_id, "operation_id": operation.pk}
    if operation.type == OperationType.CREDIT:
        emit(type="wallet.credited", subject=subject, body={
            **base, "amount": operation.amount, "source": operation.source, "reason": operation.reason,
            "reference": operation.reference, "balance": operation.balance_after, "available": after})
    if after < before:
        emit(type="wallet.balance_low", subject=subject,
             body={**base, "available_before": before, "available_after": after})
        if after == 0:
            emit(type="wallet.depleted", subject=subject, body={**base, "available_before": before})


def hold_expired_emit(hold: Hold, wallet: Wallet) -> None:
    emit(type="hold.expired", subject=user_subject(wallet.user_id), body={
        "user_id": wallet.user_id, "hold_id": str(hold.pk), "amount": hold.amount, "action_code": hold.action_code,
        "available": wallet.available})


def lot_expired_emit(operation: BalanceOperation, *, lot_id: int) -> None:
    """wallet.lot_expired for the expiry job's operation, then the available-drop events."""
    lot = EnergyLot.objects.only("category", "expires_at").get(pk=lot_id)
    emit(type="wallet.lot_expired", subject=user_subject(operation.wallet.user_id), body={
        "user_id": operation.wallet.user_id, "operation_id": operation.pk, "lot_id": lot_id,
        "category": lot.category, "amount": operation.amount, "expired_at": lot.expires_at.isoformat(),
        "balance": operation.balance_after, "available": operation.balance_after - operation.held_after})
    operation_events_emit(operation)


def spend_velocity_exceeded_emit(incident: Incident, *, user_id: int, limit: str, retry_after: int) -> None:
    emit(type="wallet.spend_velocity_exceeded", subject=user_subject(user_id), body={
        "user_id": user_id, "incident_id": incident.pk, "limit": limit, "retry_after": retry_after})
