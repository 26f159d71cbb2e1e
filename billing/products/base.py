"""What every product kind shares: the quote it gives, the kind's protocol, its name.

The kinds' names live here (not in their modules) so services and webhook handlers can
name a kind (``metadata.phoenix_kind``) without importing its fulfilment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

ENERGY_PACK = "energy_pack"
PLAN = "plan"
PRO_SEATS = "pro_seats"


@dataclass(frozen=True)
class Quote:
    amount_cents: int  # the unit price (charged ``quantity`` times)
    currency: str
    label: str
    # Snapshot of what the price buys, stored on the payment (prices are admin-editable).
    snapshot: dict[str, Any] = field(default_factory=dict)
    quantity: int = 1
    # "payment" (one-off) or "subscription" (Checkout creates a recurring subscription).
    mode: str = "payment"
    interval: str = "month"  # for mode "subscription"


@dataclass(frozen=True)
class ProductKind:
    name: str
    quote: Callable[..., Quote]
    fulfill: Callable[..., int]
    reverse: Callable[..., tuple[int, int]] | None = None
    # True: ``quote`` also takes ``quantity=`` (seats); the quantity travels in metadata.
    takes_quantity: bool = False


def stripe_context_time(payment) -> datetime:
    """The completing Stripe event's time (for out-of-order guards), else now."""
    raw = (payment.metadata.get("stripe") or {}).get("event_created")
    return (parse_datetime(raw) if raw else None) or timezone.now()
