"""The compensating usage event of a refund (append-only: the original is never touched)."""

from __future__ import annotations

from wallet.models import BalanceOperation, UsageEvent


def usage_event_compensate(*, credit: BalanceOperation) -> UsageEvent | None:
    """Append the event cancelling the action that `credit` (a refund) pays back, if the
    refunded debit/commit paid for one. Called under the wallet lock, in the refund's
    transaction; the UNIQUE `refund_of` and a trigger keep it single and exact."""
    original = UsageEvent.objects.filter(operation_id=credit.refund_of_id).first()
    if original is None:  # an operator debit, a job's: no action to cancel
        return None
    return UsageEvent.objects.create(
        user_id=original.user_id, action_code=original.action_code, category=original.category,
        source_app=original.source_app, energy_consumed=-original.energy_consumed, unlimited=False,
        operation=credit, refund_of=original, metadata={"reason": credit.reason},
    )
