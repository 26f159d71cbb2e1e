"""Billing endpoints against the local Stripe server (the real stripe client, no network)."""

from __future__ import annotations

import threading

import pytest
from conftest import token_client_for
from django.db import connection
from django.utils import timezone

from billing.models import Payment, PaymentFlow, PaymentStatus
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.helpers import balance, credits_for

pytestmark = pytest.mark.django_db

WELCOME = 85


@pytest.fixture
def buyer_client(buyer):
    return token_client_for(buyer)


# --- Checkout -------------------------------------------------------------------------------


def test_luna_purchase_creates_a_checkout_session(buyer_client, buyer, stripe_keys):
    response = buyer_client.post("/luna/energy/purchase", {"pack": "cafe_luna"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    payment = Payment.objects.get(public_id=body["payment_id"])
    assert body["checkout_url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert payment.flow == PaymentFlow.CHECKOUT and payment.status == PaymentStatus.PENDING
    assert (payment.amount_cents, payment.currency, payment.user) == (299, "eur", buyer)
    session = stripe_keys.sessions[payment.stripe_checkout_session_id]
    assert session["metadata"] == {"phoenix_user_id": str(buyer.public_id),
                                   "phoenix_kind": "energy_pack", "phoenix_product": "cafe_luna"}
    assert session["client_reference_id"] == str(buyer.public_id)
    [(method, path, params, idempotency_key)] = stripe_keys.requests
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert params["payment_intent_data"]["metadata"] == session["metadata"]
    assert params["line_items"][0]["price_data"]["unit_amount"] == "299"
    assert idempotency_key


def test_checkout_then_webhook_credits_the_same_payment(buyer_client, buyer, stripe_keys, client):
    body = buyer_client.post("/billing/checkout", {"product": "petit_dej_luna"}, format="json").json()
    payment = Payment.objects.get(public_id=body["payment_id"])
    session = {**stripe_keys.sessions[payment.stripe_checkout_session_id],
               "status": "complete", "payment_status": "paid", "payment_intent": f.stripe_id("pi")}

    assert f.post_event(client, f.event("checkout.session.completed", session)).status_code == 200

    payment.refresh_from_db()
    assert Payment.objects.count() == 1
    assert payment.status == PaymentStatus.SUCCEEDED
    assert balance(buyer) == WELCOME + 100  # petit_dej_luna has no first-purchase bonus


def test_checkout_accepts_kind_prefixed_product(buyer_client, stripe_keys):
    response = buyer_client.post("/billing/checkout", {"product": "energy_pack:repas_luna"}, format="json")
    assert response.status_code == 201
    assert Payment.objects.get().amount_cents == 999


# luna_unlimited is the PREMIUM plan: never sold as a pack (as a plan, see
# test_subscription_webhooks.py).
@pytest.mark.parametrize("product", ["nope", "energy_pack:luna_unlimited", "other_kind:cafe_luna"])
def test_unknown_or_unsellable_product_is_404(buyer_client, stripe_keys, product):
    response = buyer_client.post("/billing/checkout", {"product": product}, format="json")
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_product"
    assert not stripe_keys.requests


def test_unlimited_users_cannot_buy_packs(buyer_client, buyer, stripe_keys):
    from subscriptions.services import access_grant_lifetime

    access_grant_lifetime(user=buyer, event_time=timezone.now())

    for path, data in [("/luna/energy/purchase", {"pack": "cafe_luna"}),
                       ("/billing/checkout", {"product": "cafe_luna"}),
                       ("/billing/create-intent", {"product": "cafe_luna"})]:
        response = buyer_client.post(path, data, format="json")
        assert response.status_code == 409, path
        assert response.json()["error"] == "unlimited_cannot_buy_packs"
    assert not stripe_keys.requests and not Payment.objects.exists()


def test_satellite_buys_for_a_user(satellite_client, buyer, stripe_keys):
    response = satellite_client.post("/luna/energy/purchase",
                                     {"user_id": str(buyer.public_id), "pack": "cafe_luna"}, format="json")
    assert response.status_code == 201
    assert Payment.objects.get().user == buyer


def test_satellite_must_name_the_user(satellite_client, stripe_keys, packs):
    response = satellite_client.post("/luna/energy/purchase", {"pack": "cafe_luna"}, format="json")
    assert response.status_code == 400 and response.json()["error"] == "user_id_required"


def test_end_user_cannot_buy_for_someone_else(buyer_client, stripe_keys):
    other = make_buyer()
    response = buyer_client.post("/luna/energy/purchase",
                                 {"user_id": str(other.public_id), "pack": "cafe_luna"}, format="json")
    assert response.status_code == 404 and response.json()["error"] == "user_not_found"


def test_anonymous_is_401(api_client, stripe_keys, packs):
    response = api_client.post("/luna/energy/purchase", {"pack": "cafe_luna"}, format="json")
    assert response.status_code == 401


@pytest.mark.parametrize("path,data", [
    ("/luna/energy/purchase", {"pack": "cafe_luna"}),
    ("/billing/checkout", {"product": "cafe_luna"}),
    ("/billing/create-intent", {"product": "cafe_luna"}),
    ("/billing/confirm-payment", {"payment_intent_id": "pi_test_123"}),
])
def test_paying_endpoints_answer_503_without_keys(buyer_client, settings, path, data):
    settings.STRIPE_SECRET_KEY = ""
    response = buyer_client.post(path, data, format="json")
    assert response.status_code == 503
    assert response.json()["error"] == "stripe_not_configured"


def test_history_still_works_without_keys(buyer_client, buyer, settings):
    settings.STRIPE_SECRET_KEY = ""
    response = buyer_client.get(f"/billing/history/{buyer.public_id}")
    assert response.status_code == 200 and response.json()["count"] == 0


def test_stripe_outage_is_503(buyer_client, stripe_keys):
    stripe_keys.failures = [500, 500, 500]  # the client retries twice, then gives up
    response = buyer_client.post("/billing/checkout", {"product": "cafe_luna"}, format="json")
    assert response.status_code == 503 and response.json()["error"] == "stripe_unavailable"
    assert not Payment.objects.exists()


def test_wrong_secret_key_is_reported_as_refused(buyer_client, stripe_keys, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_wrong"
    response = buyer_client.post("/billing/checkout", {"product": "cafe_luna"}, format="json")
    assert response.status_code == 503 and response.json()["error"] == "stripe_request_refused"


# --- PaymentIntent flow -------------------------------------------------------------------


def _create_intent(client_, product="cafe_luna"):
    response = client_.post("/billing/create-intent", {"product": product}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_intent_then_confirm_credits_once(buyer_client, buyer, stripe_keys):
    body = _create_intent(buyer_client)
    assert body["client_secret"].startswith(body["payment_intent_id"] + "_secret_")
    assert (body["amount_cents"], body["currency"], body["publishable_key"]) == (299, "eur", "pk_test_phoenix_local")
    intent_id = body["payment_intent_id"]

    pending = buyer_client.post("/billing/confirm-payment", {"payment_intent_id": intent_id}, format="json")
    assert pending.status_code == 200 and pending.json()["status"] == "pending"
    assert balance(buyer) == WELCOME

    stripe_keys.pay_intent(intent_id)  # the customer confirmed with Stripe.js
    for _ in range(2):
        done = buyer_client.post("/billing/confirm-payment", {"payment_intent_id": intent_id}, format="json")
        assert done.status_code == 200
        assert done.json()["status"] == "succeeded" and done.json()["energy_credited"] == 110
    assert balance(buyer) == WELCOME + 110
    payment = Payment.objects.get(public_id=body["payment_id"])
    assert payment.stripe_charge_id == stripe_keys.intents[intent_id]["latest_charge"]


def test_confirm_applies_cancellation(buyer_client, stripe_keys):
    body = _create_intent(buyer_client)
    stripe_keys.cancel_intent(body["payment_intent_id"])
    done = buyer_client.post("/billing/confirm-payment", {"payment_intent_id": body["payment_intent_id"]},
                             format="json")
    assert done.json()["status"] == "canceled"


def test_confirm_someone_elses_intent_is_404(buyer_client, stripe_keys):
    other = make_buyer()
    body = _create_intent(token_client_for(other))
    response = buyer_client.post("/billing/confirm-payment",
                                 {"payment_intent_id": body["payment_intent_id"]}, format="json")
    assert response.status_code == 404 and response.json()["error"] == "payment_not_found"


@pytest.mark.django_db(transaction=True)
def test_confirm_payment_racing_the_webhook_credits_once(stripe_keys, webhook_secret, packs):
    from django.test import Client

    user = make_buyer()
    user_client = token_client_for(user)
    body = _create_intent(user_client)
    intent = stripe_keys.pay_intent(body["payment_intent_id"])
    webhook_body = f.encode(f.event("payment_intent.succeeded", intent))
    barrier = threading.Barrier(6)
    results: list = []

    def confirm():
        barrier.wait(timeout=30)
        try:
            results.append(token_client_for(user).post(
                "/billing/confirm-payment", {"payment_intent_id": intent["id"]}, format="json").status_code)
        finally:
            connection.close()

    def webhook():
        barrier.wait(timeout=30)
        try:
            results.append(f.post_event(Client(), webhook_body).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=t) for t in [confirm, webhook] * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert results == [200] * 6
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(credits_for(payment)) == 1
    assert balance(user) == WELCOME + 110


# --- History ------------------------------------------------------------------------------


def test_history_lists_own_payments_newest_first(buyer_client, buyer, stripe_keys):
    first = f.PaymentFactory(user=buyer)
    second = f.PaymentFactory(user=buyer, product_code="repas_luna", amount_cents=999)
    f.PaymentFactory()  # someone else's

    response = buyer_client.get(f"/billing/history/{buyer.public_id}?page_size=1")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and body["next"]
    [row] = body["results"]
    assert row["id"] == str(second.public_id)
    assert set(row) == {"id", "status", "flow", "product_kind", "product", "amount_cents", "currency",
                        "amount_refunded_cents", "energy_credited", "created_at", "status_changed_at"}
    assert buyer_client.get(body["next"]).json()["results"][0]["id"] == str(first.public_id)


def test_history_of_someone_else_is_404(buyer_client):
    other = make_buyer()
    assert buyer_client.get(f"/billing/history/{other.public_id}").status_code == 404


def test_satellite_reads_any_history(satellite_client, buyer):
    f.PaymentFactory(user=buyer)
    assert satellite_client.get(f"/billing/history/{buyer.public_id}").json()["count"] == 1


def test_schema_documents_billing(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ["/luna/energy/purchase", "/billing/checkout", "/billing/create-intent",
                 "/billing/confirm-payment", "/billing/history/{user_id}", "/stripe/webhook/"]:
        assert path in schema
    assert "unlimited_cannot_buy_packs" in schema and "stripe_not_configured" in schema
