"""One Stripe Customer per user (race-safe), idempotent paying endpoints with the Stripe key
derived from the client's, the customer portal, and GDPR erasure at Stripe and in the mirror."""

from __future__ import annotations

import pytest
from djstripe import models as dj

from billing.models import Payment
from billing.tests.conftest import make_buyer
from billing.tests.helpers import f_token, monthly_pro, quantity_writes, stripe_quantity
from phoenix.accounts.services import user_erase
from phoenix.core.models import IdempotentResponse

pytestmark = pytest.mark.django_db(transaction=True)

CHECKOUT = "/billing/checkout"
PORTAL = "/billing/portal"
PASSWORD = "a-Long-test-passphrase-42"


def checkout_sessions(stripe) -> list[dict]:
    return [params for method, path, params, _ in stripe.requests
            if method == "POST" and path == "/v1/checkout/sessions"]


def test_two_concurrent_first_purchases_make_one_customer(race, stripe_keys, packs):
    user = make_buyer()

    def buy(i: int) -> int:
        product = "cafe_luna" if i % 2 == 0 else "petit_dej_luna"
        return f_token(user).post(CHECKOUT, {"product": product}, format="json").status_code

    assert race(2, buy) == [201, 201]

    customer = dj.Customer.objects.get(subscriber=user)
    assert list(stripe_keys.customers) == [customer.id]
    assert [p["customer"] for p in checkout_sessions(stripe_keys)] == [customer.id] * 2
    assert Payment.objects.filter(user=user).count() == 2


def test_same_key_three_times_is_one_session_one_payment_one_url(stripe_keys, packs):
    user = make_buyer()
    answers = [f_token(user).post(CHECKOUT, {"product": "cafe_luna"}, format="json",
                                  HTTP_IDEMPOTENCY_KEY="buy-2041") for _ in range(3)]

    assert [a.status_code for a in answers] == [201] * 3
    assert len({a.json()["checkout_url"] for a in answers}) == 1
    assert len(stripe_keys.sessions) == 1 and Payment.objects.filter(user=user).count() == 1
    assert answers[1].headers["Idempotent-Replayed"] == "true"


def test_same_key_ten_times_at_once_is_one_session_one_payment_one_url(race, stripe_keys, packs):
    user = make_buyer()

    def buy(i: int):
        response = f_token(user).post(CHECKOUT, {"product": "cafe_luna"}, format="json",
                                      HTTP_IDEMPOTENCY_KEY="buy-2042")
        return response.status_code, response.json()["checkout_url"]

    results = race(10, buy)

    assert {status for status, _ in results} == {201}
    assert len({url for _, url in results}) == 1
    assert len(stripe_keys.sessions) == 1 and Payment.objects.filter(user=user).count() == 1
    assert dj.Customer.objects.filter(subscriber=user).count() == 1


def test_the_stripe_key_is_derived_from_the_client_key(stripe_keys, packs):
    """A first attempt that reached Stripe but not our commit: its retry gets the same
    session from Stripe (same derived key), so still one session and one payment."""
    user = make_buyer()
    ok = f_token(user).post(CHECKOUT, {"product": "cafe_luna"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = f_token(user).post(CHECKOUT, {"product": "cafe_luna"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    keys = [key for method, path, _, key in stripe_keys.requests if path == "/v1/checkout/sessions"]

    assert ok.status_code == other.status_code == 201
    assert len(set(keys)) == 2 and all(key.startswith("phoenix-checkout-") for key in keys)
    # The same request again, with its stored answer forgotten (as if the commit was lost).
    IdempotentResponse.objects.filter(key="k-1").delete()
    Payment.objects.filter(public_id=ok.json()["payment_id"]).delete()
    again = f_token(user).post(CHECKOUT, {"product": "cafe_luna"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert again.json()["checkout_url"] == ok.json()["checkout_url"]
    assert len(stripe_keys.sessions) == 2


def test_portal_returns_a_stripe_url_for_a_user_with_a_customer(stripe_keys, packs, settings):
    settings.BILLING_PORTAL_RETURN_URL = "https://luna.example.com/account"
    user = make_buyer()
    assert f_token(user).post(CHECKOUT, {"product": "cafe_luna"}, format="json").status_code == 201

    response = f_token(user).post(PORTAL, {}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    customer = dj.Customer.objects.get(subscriber=user)
    assert body["customer_id"] == customer.id
    assert body["url"].startswith("https://billing.stripe.com/p/session/")
    (session,) = stripe_keys.portal_sessions.values()
    assert (session["customer"], session["return_url"]) == (customer.id, "https://luna.example.com/account")


def test_portal_without_a_customer_is_409_and_creates_none(stripe_keys, packs):
    user = make_buyer()

    response = f_token(user).post(PORTAL, {}, format="json")

    assert response.status_code == 409 and response.json()["error"] == "stripe_customer_missing"
    assert not stripe_keys.customers and not dj.Customer.objects.exists()


def test_portal_without_keys_is_503_and_the_rest_works(packs, settings):
    settings.STRIPE_SECRET_KEY = ""
    user = make_buyer()

    response = f_token(user).post(PORTAL, {}, format="json")

    assert response.status_code == 503 and response.json()["error"] == "stripe_not_configured"
    assert f_token(user).get("/luna/energy/packs").status_code == 200


def test_gdpr_erasure_clears_the_customer_at_stripe_and_in_the_mirror(stripe_keys, packs):
    user = make_buyer()
    email = user.email
    assert f_token(user).post(CHECKOUT, {"product": "cafe_luna"}, format="json").status_code == 201
    customer = dj.Customer.objects.get(subscriber=user)
    assert stripe_keys.customers[customer.id]["email"] == email

    user_erase(user=user, password=PASSWORD)

    at_stripe = stripe_keys.customers[customer.id]
    assert (at_stripe["email"], at_stripe["name"], at_stripe["phone"]) == (None, None, None)
    customer.refresh_from_db()
    assert customer.email == "" and customer.stripe_data["email"] is None
    assert customer.subscriber == user  # financial records stay linked
    assert Payment.objects.filter(user=user).count() == 1


def test_gdpr_erasure_with_stripe_down_fails_whole(stripe_keys, packs):
    user = make_buyer()
    assert f_token(user).post(CHECKOUT, {"product": "cafe_luna"}, format="json").status_code == 201
    stripe_keys.down()

    response = f_token(user).delete("/auth/profile", {"password": PASSWORD}, format="json")

    assert response.status_code == 503
    user.refresh_from_db()
    assert user.erased_at is None and user.is_active


def test_same_key_seat_purchase_changes_the_quantity_once(client, stripe_keys, packs, plans):
    owner, account = monthly_pro(client, stripe_keys, quantity=2)
    writes_before = len(quantity_writes(stripe_keys))

    answers = [f_token(owner).post("/pro/licenses/purchase", {"kind": "monthly", "quantity": 1}, format="json",
                                   HTTP_IDEMPOTENCY_KEY="seats-2041") for _ in range(3)]

    assert [a.status_code for a in answers] == [201] * 3
    assert len({tuple(a.json()["license_ids"]) for a in answers}) == 1
    assert len(quantity_writes(stripe_keys)) == writes_before + 1
    assert stripe_quantity(stripe_keys, account) == 3
    write_key = [key for method, path, _, key in stripe_keys.requests
                 if method == "POST" and path.startswith("/v1/subscription_items/")][-1]
    assert write_key.startswith("phoenix-seats-") and "seats-2041" not in write_key  # derived, not the raw key


def test_payment_intents_and_checkouts_of_one_user_share_the_customer(stripe_keys, packs):
    user = make_buyer()
    assert f_token(user).post(CHECKOUT, {"product": "cafe_luna"}, format="json").status_code == 201
    intent = f_token(user).post("/billing/create-intent", {"product": "cafe_luna"}, format="json")

    assert intent.status_code == 201, intent.content
    customer = dj.Customer.objects.get(subscriber=user)
    assert stripe_keys.intents[intent.json()["payment_intent_id"]]["customer"] == customer.id
    assert len(stripe_keys.customers) == 1
