"""What can be bought through a Payment, by kind (energy packs today; more can plug in).

A product kind tells billing three things:

- ``quote(user=, code=, purchasing=)``: the price, label and a snapshot of what ``code``
  grants; with ``purchasing=True`` it raises a PhoenixError if it is not for sale to
  ``user`` (e.g. 409 ``unlimited_cannot_buy_packs``); ``purchasing=False`` is used when
  Stripe already took the money and only the snapshot is needed;
- ``fulfill(payment=)``: deliver it once the payment succeeded (``payment.metadata["stripe"]``
  holds what the completing event said: event time, subscription id and period end). Called exactly once per
  payment, inside the transaction that holds the payment row lock; it must be idempotent
  on ``payment.idempotency_key`` anyway (the ledger enforces it). Returns the quantity
  granted (energy points for packs), kept on the payment for reversals/reconciliation;
- ``reverse(payment=, quantity=, idempotency_key=, reason=)`` (optional): take back up to
  ``quantity`` after a refund or dispute. Returns ``(recovered, shortfall)``.

Register a kind from a module in ``billing/webhooks/`` (autodiscovered at start-up)::

    register_product_kind(ProductKind(name="energy_pack", quote=..., fulfill=..., reverse=...))

Checkout Sessions and PaymentIntents carry ``metadata.phoenix_kind`` / ``phoenix_product``,
so ``checkout.session.*`` and ``payment_intent.*`` events reach the right kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from billing.errors import UnknownProduct


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


_kinds: dict[str, ProductKind] = {}


def register_product_kind(kind: ProductKind) -> ProductKind:
    _kinds[kind.name] = kind
    return kind


def product_kind_get(name: str) -> ProductKind:
    try:
        return _kinds[name]
    except KeyError:
        raise UnknownProduct(f"No product kind {name!r}.") from None


def product_kinds() -> list[str]:
    return sorted(_kinds)
