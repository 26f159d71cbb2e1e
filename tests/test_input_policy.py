"""The one input policy over HTTP (issue 14): each bad input is a 4xx with its code and
writes nothing (balance, ledger, usage events, idempotency rows unchanged)."""

from __future__ import annotations

import json

import pytest

from billing.models import WebhookEvent
from phoenix.core.models import IdempotentResponse
from wallet.models import BalanceOperation, Hold, UsageEvent
from wallet.selectors import wallet_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def nothing_written(registered_user):
    """Asserts, after the test, that no energy row or idempotency row was written."""
    before = (wallet_balance(registered_user), BalanceOperation.objects.count(), UsageEvent.objects.count(),
              Hold.objects.count(), IdempotentResponse.objects.count())
    yield
    after = (wallet_balance(registered_user), BalanceOperation.objects.count(), UsageEvent.objects.count(),
             Hold.objects.count(), IdempotentResponse.objects.count())
    assert after == before


def _post_raw(client, path, raw: str, **extra):
    return client.post(path, raw, content_type="application/json", **extra)


@pytest.mark.parametrize("path", ["/luna/energy/consume", "/luna/events"])
@pytest.mark.parametrize("raw, field", [
    ('{"action": "lettre_motivation", "metadata": {"note": "a\\u0000b"}}', "metadata.note"),
    ('{"action": "lettre_motivation", "metadata": {"note": "\\udfff"}}', "metadata.note"),
    ('{"action": "lettre_motivation", "metadata": {"\\ud800": 1}}', "metadata"),
    ('{"action": "lettre_motivation", "idempotency_key": "k\\u0000"}', "idempotency_key"),
])
def test_unstorable_text_is_400_naming_the_field(user_client, nothing_written, path, raw, field):
    response = _post_raw(user_client, path, raw)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_characters" and response.json()["field"] == field


def test_a_nul_in_the_commit_idempotency_key(user_client, nothing_written):
    raw = '{"hold_id": "4834d1f9-1bad-4833-93d3-6cf1e3c0c5ac", "idempotency_key": "\\u0000"}'
    response = _post_raw(user_client, "/luna/energy/commit", raw)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_characters")


def test_deep_nesting_is_400(user_client, nothing_written):
    deep = '{"action": "lettre_motivation", "metadata": {"a": ' + "[" * 1000 + "]" * 1000 + "}}"
    assert len(deep) < 2100
    response = _post_raw(user_client, "/luna/energy/consume", deep)
    assert (response.status_code, response.json()["error"]) == (400, "nesting_too_deep")
    moderately = '{"action": "lettre_motivation", "metadata": {"a": ' + "[" * 40 + "]" * 40 + "}}"
    assert _post_raw(user_client, "/luna/energy/consume", moderately).json()["error"] == "nesting_too_deep"


def test_an_oversized_body_is_413(user_client, nothing_written, settings):
    big = json.dumps({"action": "lettre_motivation", "metadata": {"x": "a" * (settings.API_MAX_BODY_BYTES + 1)}})
    response = _post_raw(user_client, "/luna/energy/consume", big)
    assert (response.status_code, response.json()["error"]) == (413, "payload_too_large")


def test_an_oversized_unsigned_webhook_is_413(api_client, settings):


    big = json.dumps({"object": "event", "pad": "a" * (settings.API_MAX_BODY_BYTES + 1)})
    response = _post_raw(api_client, "/stripe/webhook/", big)
    assert (response.status_code, response.json()["error"]) == (413, "payload_too_large")
    assert not WebhookEvent.objects.exists()


def test_ttl_seconds_as_a_string_is_refused(user_client, nothing_written):
    response = user_client.post("/luna/energy/freeze", {"action": "lettre_motivation", "ttl_seconds": "300"},
                                format="json")
    assert response.status_code == 400 and response.json()["error"] == "validation_error"
    assert "ttl_seconds" in response.json()["fields"]
    for bad in (True, 3.5):
        response = user_client.post("/luna/energy/freeze", {"action": "lettre_motivation", "ttl_seconds": bad},
                                    format="json")
        assert response.status_code == 400


def test_a_code_is_not_trimmed(user_client, nothing_written):
    response = user_client.post("/luna/energy/consume", {"action": "lettre_motivation "}, format="json")
    assert (response.status_code, response.json()["error"]) == (400, "unknown_action")


def test_unknown_query_parameters_and_bad_paging_are_400(user_client, registered_user):
    path = f"/luna/energy/transactions/{registered_user.public_id}"
    assert user_client.get(path, {"page_size": "10"}).status_code == 200
    for params in ({"page_size": "abc"}, {"page_size": "0"}, {"page_size": "100000"}, {"cursor": "garbage"}):
        response = user_client.get(path, params)
        assert (response.status_code, response.json()["error"]) == (400, "invalid_paging"), params
    response = user_client.get(path, {"colour": "blue"})
    assert (response.status_code, response.json()["error"]) == (400, "unknown_query_parameter")
    assert response.json()["parameters"] == ["colour"]
    history = f"/billing/history/{registered_user.public_id}"
    for params in ({"page": "x"}, {"page": "99"}, {"page_size": "-1"}):
        response = user_client.get(history, params)
        assert (response.status_code, response.json()["error"]) == (400, "invalid_paging"), params
    assert user_client.get("/auth/profile", {"x": "1"}).json()["error"] == "unknown_query_parameter"


def test_a_bad_api_key_is_authentication_failed(api_client, registered_user, nothing_written):
    api_client.credentials(HTTP_AUTHORIZATION="Api-Key abcdefgh.not-a-real-key")
    response = api_client.post("/luna/energy/consume", {"user_id": str(registered_user.public_id),
                                                        "action": "lettre_motivation"}, format="json")
    assert (response.status_code, response.json()["error"]) == (401, "authentication_failed")
    api_client.credentials()
    response = api_client.post("/luna/energy/consume", {"action": "lettre_motivation"}, format="json")
    assert (response.status_code, response.json()["error"]) == (401, "not_authenticated")


def test_a_webhook_body_that_is_not_utf8_is_400(api_client, settings):
    """Found by the schema fuzzer: Stripe's verifier decodes the body before checking it."""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test"
    response = api_client.post("/stripe/webhook/", b"\xe7\xa0Ia", content_type="application/json",
                               HTTP_STRIPE_SIGNATURE="t=1,v1=00")
    assert response.status_code == 400 and response.json()["error"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()


def test_billing_codes_and_quantities_are_strict(user_client):
    for body in ({"product": "cafe_luna "}, {"product": " cafe_luna"}):
        response = user_client.post("/billing/checkout", body, format="json")
        assert (response.status_code, response.json()["error"]) == (400, "validation_error"), body
    assert user_client.post("/pro/account").status_code == 201
    response = user_client.post("/pro/licenses/purchase", {"kind": "monthly", "quantity": "3"}, format="json")
    assert (response.status_code, response.json()["error"]) == (400, "validation_error")
    assert "quantity" in response.json()["fields"]
