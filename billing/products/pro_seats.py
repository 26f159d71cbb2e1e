"""Pro seat licenses as a product kind: ``pro_seats:<monthly|lifetime>``
with a quantity, bought by the pro account's owner.

- lifetime seats: one-off payment of ``quantity x`` the seat price, at once;
- the first monthly seats: a Checkout Session in ``subscription`` mode with
  ``quantity`` seats, paid in full now; its day becomes the grouped billing day and the
  subscription is recorded as the account's grouped subscription;
- later monthly seats are not a checkout: the grouped subscription's quantity is raised
  with Stripe proration (``billing.services.pro_seats.pro_seats_purchase``), billed on
  the grouped date.

Seats are created by ``licenses.services.license_purchase``, keyed ``payment:<pk>``.
"""

from __future__ import annotations

from billing.errors import UnknownProduct
from billing.models import Payment
from billing.products.base import PRO_SEATS, ProductKind, Quote, stripe_context_time
from licenses.errors import InvalidQuantity
from licenses.models import LicenseKind
from licenses.selectors import license_purchase_quote, pro_account_for_owner
from licenses.services import (
    license_purchase,
    pro_account_record_stripe_seat_quantity,
    pro_account_set_stripe_subscription,
)


def pro_seats_quote(*, user, code: str, purchasing: bool = True, quantity: int = 1) -> Quote:
    if code not in LicenseKind.values:
        raise UnknownProduct(f"No seat kind {code!r}: monthly or lifetime.")
    if not 1 <= quantity <= 1000:
        raise InvalidQuantity()
    account = pro_account_for_owner(user)
    quote = license_purchase_quote(pro_account=account, kind=code, quantity=quantity)
    subscription = code == LicenseKind.MONTHLY
    if purchasing and subscription and quote.billed != "now":
        # The cycle exists: seats are added to the grouped subscription, not checked out.
        raise UnknownProduct("Monthly seats are added to the grouped subscription: "
                             "use POST /pro/licenses/purchase.")
    return Quote(
        amount_cents=quote.unit_price_cents,
        currency=quote.currency.lower(),
        label=f"{quote.plan_code} x {quantity}",
        snapshot={"kind": code, "quantity": quantity, "plan_code": quote.plan_code,
                  "unit_price_cents": quote.unit_price_cents, "amount_cents": quote.amount_cents,
                  "pro_account": str(account.public_id)},
        quantity=quantity,
        mode="subscription" if subscription else "payment",
    )


def pro_seats_fulfill(*, payment: Payment) -> int:
    snapshot = payment.metadata.get("product") or {}
    kind = snapshot.get("kind") or payment.product_code
    quantity = int(snapshot.get("quantity") or 1)
    account = pro_account_for_owner(payment.user)
    result = license_purchase(
        pro_account=account, kind=kind, quantity=quantity,
        event_time=stripe_context_time(payment), reference=payment.idempotency_key,
    )
    subscription_id = (payment.metadata.get("stripe") or {}).get("subscription_id")
    if subscription_id:
        # The grouped subscription: later seats raise its quantity, its invoices renew them.
        pro_account_set_stripe_subscription(pro_account=account, stripe_subscription_id=subscription_id)
        if kind == "monthly" and result.applied:
            pro_account_record_stripe_seat_quantity(pro_account=account, quantity=quantity,
                                                    observed_at=stripe_context_time(payment))
    return len(result.licenses) if result.applied else quantity


PRO_SEATS_KIND = ProductKind(
    name=PRO_SEATS, quote=pro_seats_quote, fulfill=pro_seats_fulfill, takes_quantity=True,
)
