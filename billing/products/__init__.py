"""What can be bought through a Payment, by kind: energy packs, individual access plans,
pro seats. Every kind is listed in ``PRODUCT_KINDS`` below (no registration on import).

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

A new kind: a module in this package building a ``ProductKind``, added to ``PRODUCT_KINDS``.
Checkout Sessions and PaymentIntents carry ``metadata.phoenix_kind`` / ``phoenix_product``,
so ``checkout.session.*`` and ``payment_intent.*`` events reach the right kind.

Product kinds sit below billing's services: they call the other apps' services, never
billing's (a plan that must stop a Stripe subscription sends ``billing.signals``).
"""

from __future__ import annotations

from billing.errors import UnknownProduct
from billing.products import energy_packs, plans, pro_seats
from billing.products.base import ENERGY_PACK, PLAN, PRO_SEATS, ProductKind, Quote

__all__ = ["ENERGY_PACK", "PLAN", "PRODUCT_KINDS", "PRO_SEATS", "ProductKind", "Quote", "product_kind_get",
           "product_kinds"]

PRODUCT_KINDS: dict[str, ProductKind] = {
    kind.name: kind for kind in (energy_packs.ENERGY_PACK_KIND, plans.PLAN_KIND, pro_seats.PRO_SEATS_KIND)
}


def product_kind_get(name: str) -> ProductKind:
    try:
        return PRODUCT_KINDS[name]
    except KeyError:
        raise UnknownProduct(f"No product kind {name!r}.") from None


def product_kinds() -> list[str]:
    return sorted(PRODUCT_KINDS)
