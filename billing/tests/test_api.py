"""Billing's HTTP endpoints: /billing/..., /luna/energy/purchase, /subscriptions/cancel|resume,
/pro/licenses/purchase, /pro/account/regularize (their idempotency included)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import Payment, PaymentFlow, PaymentStatus
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.helpers import (
    REGULARIZE_URL,
    WELCOME,
    balance,
    buy_seats,
    create_intent,
    credits_for,
    f_token,
    monthly_pro,
    pro_owner,
    quantity_writes,
    seats,
    start_monthly,
    stripe_quantity,
    suspended_pro,
    ts,
)
from conftest import token_client_for
from licenses import services as license_services
from licenses.models import LicenseKind, LicenseStatus, ProAccount, ProAccountStatus
from licenses.services import pro_account_open
from subscriptions.models import Access, AccessEvent, AccessType
from subscriptions.selectors import check_premium_access
from subscriptions.services import access_grant_lifetime

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer_client(buyer):
    return token_client_for(buyer)


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
    # The first purchase creates the user's Stripe Customer; the session bills it.
    posts = [(path, params, key) for method, path, params, key in stripe_keys.requests if method == "POST"]
    assert [path for path, _, _ in posts] == ["/v1/customers", "/v1/checkout/sessions"]
    (_, params, idempotency_key) = posts[1]
    assert params["customer"] == session["customer"] == buyer.djstripe_customers.get().id
    assert "customer_email" not in params
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


def test_create_intent_then_confirm_credits_once(buyer_client, buyer, stripe_keys):
    body = create_intent(buyer_client)
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
    body = create_intent(buyer_client)
    stripe_keys.cancel_intent(body["payment_intent_id"])
    done = buyer_client.post("/billing/confirm-payment", {"payment_intent_id": body["payment_intent_id"]},
                             format="json")
    assert done.json()["status"] == "canceled"


def test_confirm_someone_elses_intent_is_404(buyer_client, stripe_keys):
    other = make_buyer()
    body = create_intent(token_client_for(other))
    response = buyer_client.post("/billing/confirm-payment",
                                 {"payment_intent_id": body["payment_intent_id"]}, format="json")
    assert response.status_code == 404 and response.json()["error"] == "payment_not_found"


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


def test_first_monthly_seats_open_the_grouped_subscription_then_more_are_prorated(client, stripe_keys, packs, plans):
    owner = pro_owner()
    start = datetime(2026, 12, 15, 0, 0, 0, tzinfo=UTC)  # a grouped date (00:00 UTC on the anchor day)
    with time_machine.travel(start, tick=True):
        first = buy_seats(client, stripe_keys, owner, kind="monthly", quantity=3, now=ts(start))
    assert first["outcome"] == "checkout" and first["amount_cents"] == 3 * 2999
    session_request = next(p for _, path, p, _ in stripe_keys.requests if path == "/v1/checkout/sessions")
    assert session_request["mode"] == "subscription"
    assert session_request["line_items"][0]["quantity"] == "3"
    assert session_request["subscription_data"]["metadata"]["phoenix_kind"] == "pro_seats"

    account = ProAccount.objects.get(owner=owner)
    [sub_id] = stripe_keys.subscriptions
    assert account.status == ProAccountStatus.ACTIVE
    assert account.stripe_subscription_id == sub_id
    assert account.billing_anchor_day == 15
    assert account.next_billing_at == datetime(2027, 1, 15, tzinfo=UTC)
    assert seats(owner, kind=LicenseKind.MONTHLY, status=LicenseStatus.AVAILABLE).count() == 3

    # Ten and a half days later: two more, added to the grouped subscription, prorated.
    mid = datetime(2026, 12, 25, 12, 0, 0, tzinfo=UTC)
    with time_machine.travel(mid, tick=False):
        more = buy_seats(client, stripe_keys, owner, kind="monthly", quantity=2)
    assert more["outcome"] == "added" and more["billed"] == "next_grouped_date"
    assert len(more["license_ids"]) == 2
    left, cycle = (datetime(2027, 1, 15, tzinfo=UTC) - mid), timedelta(days=31)
    cycle_s, left_s = int(cycle.total_seconds()), int(left.total_seconds())
    expected_unit = (2999 * left_s * 2 + cycle_s) // (2 * cycle_s)
    assert more["prorated_unit_cents"] == expected_unit and more["amount_cents"] == 2 * expected_unit
    item = stripe_keys.subscriptions[sub_id]["items"]["data"][0]
    assert item["quantity"] == 5
    [proration] = stripe_keys.prorations
    # Stripe prorates the same seats over the same cycle to the same amount.
    assert proration == {"subscription": sub_id, "quantity": 2, "proration_date": ts(mid),
                         "unit_amount": expected_unit}
    assert seats(owner, kind=LicenseKind.MONTHLY).count() == 5
    assert Payment.objects.filter(user=owner).count() == 1  # no checkout for the addition


def test_lifetime_seats_are_paid_at_once(client, stripe_keys, packs, plans):
    owner = pro_owner()
    body = buy_seats(client, stripe_keys, owner, kind="lifetime", quantity=2)
    assert body["outcome"] == "checkout" and body["amount_cents"] == 2 * 29900
    session = next(p for _, path, p, _ in stripe_keys.requests if path == "/v1/checkout/sessions")
    assert session["mode"] == "payment" and session["line_items"][0]["quantity"] == "2"
    payment = Payment.objects.get(user=owner)
    assert payment.amount_cents == 2 * 29900 and payment.fulfilled_quantity == 2
    assert seats(owner, kind=LicenseKind.LIFETIME, status=LicenseStatus.AVAILABLE).count() == 2
    account = ProAccount.objects.get(owner=owner)
    assert account.status == ProAccountStatus.ACTIVE and account.billing_anchor_day is None
    # The same completion delivered again buys nothing more.
    session_obj = stripe_keys.public(stripe_keys.sessions[payment.stripe_checkout_session_id])
    assert f.post_event(client, f.event("checkout.session.completed", session_obj)).status_code == 200
    assert seats(owner).count() == 2


def test_seat_purchase_refusals(client, stripe_keys, packs, plans):
    nobody = make_buyer()
    response = f_token(nobody).post("/pro/licenses/purchase", {"kind": "monthly", "quantity": 1}, format="json")
    assert response.status_code == 404 and response.json()["error"] == "pro_account_not_found"
    owner = pro_owner()
    response = f_token(owner).post("/pro/licenses/purchase", {"kind": "monthly", "quantity": 0}, format="json")
    assert response.status_code == 400
    response = f_token(owner).post("/pro/licenses/purchase", {"kind": "yearly", "quantity": 1}, format="json")
    assert response.status_code == 400
    assert Client().post("/pro/licenses/purchase", {"kind": "monthly", "quantity": 1}).status_code == 401


def test_regularize_pay_the_open_invoice_then_invoice_paid_reactivates(client, stripe_keys, packs, plans):
    owner, account, collaborator, invoice = suspended_pro(client, stripe_keys)
    assert f_token(owner).get("/pro/account").json()["regularize_required"] is True

    response = f_token(owner).post(REGULARIZE_URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["invoice_id"] == invoice["id"]
    assert body["hosted_invoice_url"] == invoice["hosted_invoice_url"]
    assert body["hosted_invoice_url"].startswith("https://invoice.stripe.com/")
    assert body["amount_due"] == 3 * 2999 and body["currency"] == "eur" and body["status"] == "suspended"
    [(_, _, params, _)] = [r for r in stripe_keys.requests if r[1] == "/v1/invoices"]
    assert params["subscription"] == account.stripe_subscription_id and params["status"] == "open"

    # The pro pays on the hosted page; Stripe reports invoice.paid.
    paid = stripe_keys.pay_invoice(invoice["id"])
    event = f.event("invoice.paid", paid, created=int(time.time()) + 120)
    assert f.post_event(client, event).status_code == 200
    assert f.post_event(client, event).status_code == 200  # delivered twice: once

    account.refresh_from_db()
    assert account.status == ProAccountStatus.ACTIVE
    assert sorted(seats(owner, kind=LicenseKind.MONTHLY).values_list("status", flat=True)) == [
        LicenseStatus.ACTIVE, LicenseStatus.AVAILABLE, LicenseStatus.AVAILABLE]
    assert check_premium_access(collaborator)
    assert account.events.filter(kind="renewal_paid").count() == 1
    assert f_token(owner).get("/pro/account").json()["regularize_required"] is False
    again = f_token(owner).post(REGULARIZE_URL)
    assert again.status_code == 409 and again.json()["error"] == "pro_account_not_suspended"


def test_regularize_refused_when_the_account_is_active(client, stripe_keys, packs, plans):
    owner = pro_owner()
    buy_seats(client, stripe_keys, owner, kind="monthly", quantity=1)
    response = f_token(owner).post(REGULARIZE_URL)
    assert response.status_code == 409
    assert response.json()["error"] == "pro_account_not_suspended"
    assert not [r for r in stripe_keys.requests if r[1] == "/v1/invoices"]


def test_regularize_without_stripe_keys(settings, packs, plans):
    settings.STRIPE_SECRET_KEY = ""
    owner = pro_owner()
    account = ProAccount.objects.get(owner=owner)
    license_services.license_purchase(pro_account=account, kind="monthly", quantity=1, event_time=account.created_at)
    license_services.pro_account_suspend(pro_account=account, actor=None, reason="test")
    response = f_token(owner).post(REGULARIZE_URL)
    assert response.status_code == 503 and response.json()["error"] == "stripe_not_configured"


def test_regularize_without_an_open_invoice_or_account(client, stripe_keys, packs, plans):
    nobody = make_buyer()
    response = f_token(nobody).post(REGULARIZE_URL)
    assert response.status_code == 404 and response.json()["error"] == "pro_account_not_found"
    # Suspended by an operator: nothing open at Stripe to pay.
    owner = pro_owner()
    buy_seats(client, stripe_keys, owner, kind="monthly", quantity=1)
    license_services.pro_account_suspend(pro_account=ProAccount.objects.get(owner=owner), actor=None, reason="x")
    response = f_token(owner).post(REGULARIZE_URL)
    assert response.status_code == 409 and response.json()["error"] == "no_open_invoice"

    assert Client().post(REGULARIZE_URL).status_code == 401


def test_cancel_at_period_end_then_resume_through_stripe(client, stripe_keys, buyer, plans):
    _, sub, _ = start_monthly(client, stripe_keys, buyer)
    api = f_token(buyer)

    response = api.post("/subscriptions/cancel", {}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "PREMIUM" and body["cancel_at_period_end"] is True and body["premium"] is True
    assert stripe_keys.subscriptions[sub["id"]]["cancel_at_period_end"] is True
    method, path, params, key = stripe_keys.requests[-1]
    assert (method, path, params) == ("POST", f"/v1/subscriptions/{sub['id']}", {"cancel_at_period_end": "true"})
    assert key  # an idempotency key on every write

    # Stripe's own event for that change arrives afterwards: already applied.
    updated = f.event("customer.subscription.updated", stripe_keys.subscriptions[sub["id"]],
                      previous_attributes={"cancel_at_period_end": False})
    assert f.post_event(client, updated).status_code == 200
    assert AccessEvent.objects.filter(access__user=buyer, kind="cancel_scheduled").count() == 1

    response = api.post("/subscriptions/resume", {}, format="json")
    assert response.status_code == 200
    assert response.json()["cancel_at_period_end"] is False
    assert stripe_keys.subscriptions[sub["id"]]["cancel_at_period_end"] is False
    assert Access.objects.get(user=buyer).cancel_at_period_end is False


def test_satellite_cancels_for_a_user(client, stripe_keys, buyer, plans, satellite_client):
    _, sub, _ = start_monthly(client, stripe_keys, buyer)
    response = satellite_client.post("/subscriptions/cancel", {"user_id": str(buyer.public_id)}, format="json")
    assert response.status_code == 200 and response.json()["cancel_at_period_end"] is True
    response = satellite_client.post("/subscriptions/cancel", {}, format="json")
    assert response.status_code == 400 and response.json()["error"] == "user_id_required"


def test_cancel_without_a_monthly_subscription_is_409_and_calls_no_one(stripe_keys, buyer, plans):
    for path in ("/subscriptions/cancel", "/subscriptions/resume"):
        response = f_token(buyer).post(path, {}, format="json")
        assert response.status_code == 409 and response.json()["error"] == "not_premium"
    assert not stripe_keys.requests
    assert Access.objects.get(user=buyer).type == AccessType.TRIAL


def test_an_end_user_cannot_cancel_someone_else(client, stripe_keys, buyer, plans):
    start_monthly(client, stripe_keys, buyer)
    other = make_buyer()
    response = f_token(other).post("/subscriptions/cancel", {"user_id": str(buyer.public_id)}, format="json")
    assert response.status_code == 404 and response.json()["error"] == "user_not_found"
    assert Access.objects.get(user=buyer).cancel_at_period_end is False


def test_stripe_outage_changes_nothing(client, stripe_keys, buyer, plans):
    start_monthly(client, stripe_keys, buyer)
    stripe_keys.failures.extend([500, 500, 500])
    response = f_token(buyer).post("/subscriptions/cancel", {}, format="json")
    assert response.status_code == 503 and response.json()["error"] == "stripe_unavailable"
    assert Access.objects.get(user=buyer).cancel_at_period_end is False


def test_paying_endpoints_answer_503_without_stripe_keys(settings, buyer, plans):
    settings.STRIPE_SECRET_KEY = ""
    pro_account_open(owner=buyer)
    api = f_token(buyer)
    for path, data in [
        ("/billing/checkout", {"product": "luna_unlimited"}),
        ("/billing/checkout", {"product": "luna_lifetime"}),
        ("/subscriptions/cancel", {}),
        ("/subscriptions/resume", {}),
        ("/pro/licenses/purchase", {"kind": "monthly", "quantity": 2}),
        ("/pro/licenses/purchase", {"kind": "lifetime", "quantity": 1}),
    ]:
        response = api.post(path, data, format="json")
        assert response.status_code == 503, (path, response.content)
        assert response.json()["error"] == "stripe_not_configured"
    # The rest of Phoenix is unaffected.
    assert api.get(f"/subscriptions/access/{buyer.public_id}").status_code == 200
    assert api.get("/pro/licenses").status_code == 200


def test_subscription_endpoints_need_authentication(db):
    for path in ("/subscriptions/cancel", "/subscriptions/resume"):
        assert APIClient().post(path, {}, format="json").status_code == 401


# --- Idempotency: a retry with the same key replays the first answer, never a second Stripe call ---


def stripe_calls(stripe, method: str, path: str) -> int:
    return sum(1 for m, p, _, _ in stripe.requests if m == method and p == path)


def post_twice(api, path: str, payload: dict | None = None, *, key: str = "retry-1"):
    """The same request twice: the key once in the body, once in the header."""
    first = api.post(path, {**(payload or {}), "idempotency_key": key}, format="json")
    second = api.post(path, payload or {}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert 200 <= first.status_code < 300, first.content
    assert (second.status_code, second.json()) == (first.status_code, first.json())
    assert second["Idempotent-Replayed"] == "true"
    return first.json()


@pytest.mark.parametrize("path,payload", [
    ("/luna/energy/purchase", {"pack": "cafe_luna"}),
    ("/billing/checkout", {"product": "cafe_luna"}),
])
def test_a_checkout_retried_with_the_same_key_creates_one_session(buyer_client, stripe_keys, path, payload):
    post_twice(buyer_client, path, payload)
    assert stripe_calls(stripe_keys, "POST", "/v1/checkout/sessions") == 1
    assert Payment.objects.count() == 1
    # Another key is another purchase.
    assert buyer_client.post(path, {**payload, "idempotency_key": "retry-2"}, format="json").status_code == 201
    assert Payment.objects.count() == 2


def test_create_intent_retried_with_the_same_key_creates_one_payment_intent(buyer_client, stripe_keys):
    body = post_twice(buyer_client, "/billing/create-intent", {"product": "cafe_luna"})
    assert stripe_calls(stripe_keys, "POST", "/v1/payment_intents") == 1
    assert Payment.objects.get().stripe_payment_intent_id == body["payment_intent_id"]


def test_confirm_payment_retried_with_the_same_key_asks_stripe_once(buyer_client, buyer, stripe_keys):
    intent_id = create_intent(buyer_client)["payment_intent_id"]
    stripe_keys.pay_intent(intent_id)
    post_twice(buyer_client, "/billing/confirm-payment", {"payment_intent_id": intent_id})
    assert stripe_calls(stripe_keys, "GET", f"/v1/payment_intents/{intent_id}") == 1
    assert len(credits_for(Payment.objects.get())) == 1


@pytest.mark.parametrize("path", ["/subscriptions/cancel", "/subscriptions/resume"])
def test_cancel_and_resume_retried_with_the_same_key_call_stripe_once(client, stripe_keys, buyer, plans, path):
    _, sub, _ = start_monthly(client, stripe_keys, buyer)
    post_twice(f_token(buyer), path)
    assert stripe_calls(stripe_keys, "POST", f"/v1/subscriptions/{sub['id']}") == 1


@pytest.mark.parametrize("kind", ["lifetime", "monthly"])
def test_a_seat_purchase_retried_with_the_same_key_creates_one_session(stripe_keys, packs, plans, kind):
    owner = pro_owner()
    body = post_twice(f_token(owner), "/pro/licenses/purchase", {"kind": kind, "quantity": 2})
    assert body["outcome"] == "checkout"
    assert stripe_calls(stripe_keys, "POST", "/v1/checkout/sessions") == 1
    assert Payment.objects.filter(user=owner).count() == 1


def test_added_seats_retried_with_the_same_key_raise_the_quantity_once(client, stripe_keys, packs, plans):
    owner, account = monthly_pro(client, stripe_keys, quantity=3)
    body = post_twice(f_token(owner), "/pro/licenses/purchase", {"kind": "monthly", "quantity": 2})
    assert body["outcome"] == "added" and len(body["license_ids"]) == 2
    assert len(quantity_writes(stripe_keys)) == 1 and stripe_quantity(stripe_keys, account) == 5
    assert seats(owner, kind=LicenseKind.MONTHLY).count() == 5


def test_regularize_retried_with_the_same_key_reads_the_invoice_once(client, stripe_keys, packs, plans):
    owner, _account, _collaborator, invoice = suspended_pro(client, stripe_keys)
    body = post_twice(f_token(owner), REGULARIZE_URL)
    assert body["invoice_id"] == invoice["id"]
    assert stripe_calls(stripe_keys, "GET", "/v1/invoices") == 1
