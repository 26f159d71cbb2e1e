"""Cancel at period end / resume through Stripe, and 503 without Stripe keys."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from billing.tests import factories as f
from billing.tests.test_subscription_webhooks import f_token, start_monthly
from subscriptions.models import Access, AccessEvent, AccessType

pytestmark = pytest.mark.django_db


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
    from billing.tests.conftest import make_buyer

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
    from licenses.services import pro_account_open

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
