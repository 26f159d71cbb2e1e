"""Test factories: Stripe payloads (billing.stripe_payloads), signed posts, model rows."""

from __future__ import annotations

from typing import Any

import factory

from billing.models import Payment, PaymentFlow
from billing.stripe_payloads import (  # noqa: F401  (re-exported for the tests)
    API_VERSION,
    charge,
    checkout_session,
    dispute,
    encode,
    event,
    invoice,
    payment_intent,
    phoenix_metadata,
    stripe_id,
    subscription,
    subscription_checkout_session,
)
from billing.stripe_payloads import signature_header as _signature_header

WEBHOOK_SECRET = "whsec_test_phoenix_local"


def signature_header(body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return _signature_header(body, secret=secret, timestamp=timestamp)


def post_event(client, payload: dict[str, Any] | bytes, *, secret: str = WEBHOOK_SECRET,
               timestamp: int | None = None, header: str | None = "auto"):
    body = payload if isinstance(payload, bytes) else encode(payload)
    extra = {}
    if header == "auto":
        extra["HTTP_STRIPE_SIGNATURE"] = signature_header(body, secret=secret, timestamp=timestamp)
    elif header is not None:
        extra["HTTP_STRIPE_SIGNATURE"] = header
    return client.post("/stripe/webhook/", data=body, content_type="application/json", **extra)


# --- Models -----------------------------------------------------------------------------


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    user = factory.SubFactory("phoenix.accounts.tests.factories.UserFactory")
    flow = PaymentFlow.PAYMENT_INTENT
    product_kind = "energy_pack"
    product_code = "cafe_luna"
    amount_cents = 299
    currency = "eur"
    stripe_payment_intent_id = factory.LazyFunction(lambda: stripe_id("pi"))
    metadata = factory.LazyFunction(
        lambda: {"product": {"code": "cafe_luna", "energy_points": 100,
                             "first_purchase_bonus_percent": 10}}
    )
