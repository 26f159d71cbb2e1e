"""billing's search resolvers of the admin search box (billing/customer.py) on real Stripe
objects from the local Stripe server, mirrored by dj-stripe: customer, subscription, charge,
PaymentIntent and Checkout Session ids each name the buyer."""

from __future__ import annotations

import pytest

from billing.tests.helpers import buy_pack, start_monthly
from phoenix.core.customer import customer_search

pytestmark = pytest.mark.django_db(transaction=True)


def found(query: str) -> list[tuple[int, str]]:
    return [(m.user_id, m.kind) for m in customer_search(query)]


def test_every_stripe_id_of_a_purchase_and_a_subscription_names_the_buyer(
        client, buyer, stripe_keys, eager_celery, plans):
    payment, _event = buy_pack(client, stripe_keys, buyer)
    _payment, sub, _event = start_monthly(client, stripe_keys, buyer)
    charge_id = payment.mirror_charge().id
    customer_id = payment.mirror_checkout_session().customer_id

    assert found(customer_id) == [(buyer.pk, "Stripe customer id")]
    assert found(sub["id"]) == [(buyer.pk, "Stripe subscription id")]
    assert found(charge_id) == [(buyer.pk, "Stripe charge id")]
    assert found(payment.stripe_payment_intent_id) == [(buyer.pk, "Stripe payment intent id")]
    assert found(payment.stripe_checkout_session_id) == [(buyer.pk, "Stripe checkout session id")]
    for unknown in ("cus_unknown", "sub_unknown", "ch_unknown", "pi_unknown", "cs_unknown"):
        assert found(unknown) == [], unknown
