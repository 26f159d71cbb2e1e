"""Pro seat events: the grouped subscription's quantity as Stripe reports it."""

from __future__ import annotations

from billing.services.pro_seats import pro_seat_quantity_observed
from billing.webhooks.events import StripeEvent


def pro_seat_quantity_reported(*, event: StripeEvent) -> None:
    """Record the grouped subscription's quantity as Stripe reports it (for the daily
    reconciliation's ``seat_quantity_mismatch``); older events change nothing."""
    pro_seat_quantity_observed(subscription=event.object, observed_at=event.created)
