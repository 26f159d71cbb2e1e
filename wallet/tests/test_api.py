"""The /luna API through the real URL routing, with Token and Api-Key auth."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from conftest import token_client_for
from phoenix.accounts.services import user_register
from phoenix.core.models import IdempotentResponse
from subscriptions.services import access_grant_lifetime
from wallet import services
from wallet.api.serializers import ConsumeSerializer
from wallet.cache import LEADERBOARD_KEY, analytics_key
from wallet.models import BalanceOperation, EnergyAction, EnergyPack, UsageEvent
from wallet.selectors import wallet_balance
from wallet.selectors.energy import analytics_state

pytestmark = pytest.mark.django_db

WELCOME = 85


def other_user(email="other@example.com"):
    user, _ = user_register(email=email, password="a-long-Password-123")
    return user


def uid(user) -> str:
    return str(user.public_id)


def drain_to(user, available: int) -> None:
    current = wallet_balance(user)["available"]
    if current > available:
        services.wallet_debit(user=user, amount=current - available, source="admin", reason="test")
    elif current < available:
        services.wallet_credit(user=user, amount=available - current, source="admin", reason="test")


@pytest.fixture
def unlimited_user(db):
    user = other_user("lifetime@example.com")
    access_grant_lifetime(user=user, event_time=timezone.now())
    return user


# --- Auth -------------------------------------------------------------------------------------


def test_unauthenticated_is_401(api_client):
    response = api_client.post("/luna/energy/check", {}, format="json")
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"


@pytest.mark.parametrize("method,path,body", [
    ("post", "/luna/energy/check", {"user_id": "{other}"}),
    ("post", "/luna/energy/can-perform", {"user_id": "{other}", "action": "conseil_rapide"}),
    ("post", "/luna/energy/consume", {"user_id": "{other}", "action": "conseil_rapide"}),
    ("post", "/luna/energy/freeze", {"user_id": "{other}", "action": "conseil_rapide"}),
    ("post", "/luna/events", {"user_id": "{other}", "action": "conseil_rapide"}),
    ("get", "/luna/energy/transactions/{other}", None),
    ("get", "/luna/energy/analytics/{other}", None),
    ("get", "/luna/events/{other}", None),
    ("get", "/luna/narrative/{other}", None),
])
def test_end_user_naming_another_user_gets_404_and_nothing_happens(user_client, method, path, body):
    other = other_user()
    path = path.replace("{other}", uid(other))
    if body is not None:
        body = {k: (uid(other) if v == "{other}" else v) for k, v in body.items()}
        response = getattr(user_client, method)(path, body, format="json")
    else:
        response = getattr(user_client, method)(path)
    assert response.status_code == 404 and response.json()["error"] == "user_not_found"
    assert wallet_balance(other)["available"] == WELCOME and not UsageEvent.objects.exists()


def test_satellite_acts_for_any_user_and_must_name_one(satellite_client, registered_user):
    response = satellite_client.post("/luna/energy/check", {"user_id": uid(registered_user)}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body.pop("next_expiry")["amount"] == WELCOME  # the welcome lot expires (validity setting)
    assert body == {"balance": WELCOME, "held": 0, "available": WELCOME, "paid": 0, "free": WELCOME,
                    "unlimited": False}
    missing = satellite_client.post("/luna/energy/check", {}, format="json")
    assert missing.status_code == 400 and missing.json()["error"] == "user_id_required"
    unknown = satellite_client.post("/luna/energy/check", {"user_id": "00000000-0000-0000-0000-000000000000"},
                                    format="json")
    assert unknown.status_code == 404 and unknown.json()["error"] == "user_not_found"


def test_check_for_oneself_with_or_without_user_id(user_client, registered_user):
    assert user_client.post("/luna/energy/check", {}, format="json").json()["available"] == WELCOME
    response = user_client.post("/luna/energy/check", {"user_id": uid(registered_user)}, format="json")
    assert response.status_code == 200 and response.json()["balance"] == WELCOME


# --- Catalogues -----------------------------------------------------------------------------------


def test_actions_and_packs_catalogues(user_client):
    EnergyAction.objects.filter(code="mirror_match").update(is_active=False)
    actions = user_client.get("/luna/energy/actions").json()
    assert len(actions) == 18 and "mirror_match" not in {a["code"] for a in actions}
    assert {"code": "lettre_motivation", "label": actions[[a["code"] for a in actions].index("lettre_motivation")][
        "label"], "category": "medium", "cost": 15, "source_app": actions[
        [a["code"] for a in actions].index("lettre_motivation")]["source_app"]} in actions
    packs = user_client.get("/luna/energy/packs").json()
    assert [p["code"] for p in packs] == ["cafe_luna", "petit_dej_luna", "repas_luna", "luna_unlimited"]
    assert packs[0]["price_cents"] == 299 and packs[0]["energy_points"] == 100 and packs[-1]["is_unlimited"]


# --- can-perform and consume ----------------------------------------------------------------------


def test_can_perform_true_false_and_required_pack(user_client, registered_user):
    ok = user_client.post("/luna/energy/can-perform", {"action": "lettre_motivation"}, format="json").json()
    assert ok == {"can_perform": True, "energy_required": 15, "available": WELCOME, "unlimited": False,
                  "required_pack": None}
    drain_to(registered_user, 10)
    short = user_client.post("/luna/energy/can-perform", {"action": "lettre_motivation"}, format="json").json()
    assert short["can_perform"] is False and short["available"] == 10
    assert short["required_pack"]["code"] == "cafe_luna"
    assert wallet_balance(registered_user)["available"] == 10  # a read: nothing moved


def test_unknown_or_inactive_action_is_400(user_client):
    EnergyAction.objects.filter(code="mirror_match").update(is_active=False)
    for path in ("/luna/energy/can-perform", "/luna/energy/consume", "/luna/energy/freeze", "/luna/events"):
        for action in ("no_such_action", "mirror_match"):
            response = user_client.post(path, {"action": action}, format="json")
            assert response.status_code == 400 and response.json()["error"] == "unknown_action", (path, action)
    assert not UsageEvent.objects.exists()


def test_consume_debits_and_records_the_event_in_one_go(user_client, registered_user):
    response = user_client.post("/luna/energy/consume", {"action": "lettre_motivation",
                                                         "metadata": {"job": "dev"}}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["energy_consumed"] == 15 and body["available"] == WELCOME - 15 and body["unlimited"] is False
    operation = BalanceOperation.objects.get(pk=body["transaction_id"])
    assert operation.type == "debit" and operation.amount == 15 and operation.reference == "lettre_motivation"
    event = UsageEvent.objects.get(pk=body["event_id"])
    assert (event.operation_id, event.energy_consumed, event.category, event.metadata) == (
        operation.pk, 15, "medium", {"job": "dev"})
    # The view answers a dict of its own (the hot path): exactly the documented serializer's answer.
    assert body == ConsumeSerializer(body).data
    assert set(body) == set(ConsumeSerializer().fields)


def test_consume_short_is_402_with_required_pack(user_client, registered_user):
    drain_to(registered_user, 10)
    response = user_client.post("/luna/energy/consume", {"action": "plan_reconversion"}, format="json")
    assert response.status_code == 402
    body = response.json()
    assert body["error"] == "insufficient_energy" and body["detail"]
    assert body["energy_required"] == 50 and body["available"] == 10
    assert body["required_pack"] == {"code": "cafe_luna", "label": body["required_pack"]["label"],
                                     "price_cents": 299, "currency": "EUR", "energy_points": 100}
    assert wallet_balance(registered_user)["available"] == 10 and not UsageEvent.objects.exists()


def test_required_pack_is_the_cheapest_covering_the_shortfall(user_client, registered_user):
    EnergyPack.objects.filter(code="cafe_luna").update(energy_points=20)
    drain_to(registered_user, 10)
    small = user_client.post("/luna/energy/consume", {"action": "lettre_motivation"}, format="json").json()
    assert small["required_pack"]["code"] == "cafe_luna"  # shortfall 5 <= 20
    big = user_client.post("/luna/energy/consume", {"action": "plan_reconversion"}, format="json").json()
    assert big["required_pack"]["code"] == "petit_dej_luna"  # shortfall 40 > 20
    EnergyPack.objects.filter(is_unlimited=False).update(energy_points=30)
    assert user_client.post("/luna/energy/consume", {"action": "plan_reconversion"},
                            format="json").json()["required_pack"] is None


def test_free_action_records_an_event_without_a_ledger_operation(user_client, registered_user):
    before = BalanceOperation.objects.count()
    body = user_client.post("/luna/energy/consume", {"action": "luna_conversation"}, format="json").json()
    assert body["transaction_id"] is None and body["energy_consumed"] == 0 and body["available"] == WELCOME
    assert BalanceOperation.objects.count() == before
    assert UsageEvent.objects.get(pk=body["event_id"]).unlimited is False


def test_unlimited_user_consumes_nothing_but_the_event_is_recorded(satellite_client, unlimited_user):
    drain_to(unlimited_user, 0)
    payload = {"user_id": uid(unlimited_user), "action": "plan_reconversion"}
    can = satellite_client.post("/luna/energy/can-perform", payload, format="json").json()
    assert can == {"can_perform": True, "energy_required": 0, "available": 0, "unlimited": True,
                   "required_pack": None}
    response = satellite_client.post("/luna/energy/consume", payload, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["transaction_id"] is None and body["energy_consumed"] == 0 and body["unlimited"] is True
    event = UsageEvent.objects.get(pk=body["event_id"])
    assert event.unlimited and event.energy_consumed == 0 and event.operation is None
    check = satellite_client.post("/luna/energy/check", {"user_id": uid(unlimited_user)}, format="json").json()
    assert check["unlimited"] is True and check["available"] == 0
    freeze = satellite_client.post("/luna/energy/freeze", payload, format="json")
    assert freeze.status_code == 201
    assert freeze.json()["hold_id"] is None and freeze.json()["amount"] == 0 and freeze.json()["event_id"]


def test_malformed_body_is_a_validation_error(user_client):
    response = user_client.post("/luna/energy/consume", {"action": "conseil_rapide", "metadata": [1, 2]},
                                format="json")
    assert response.status_code == 400 and response.json()["error"] == "validation_error"
    assert "metadata" in response.json()["fields"]


# --- Idempotency ----------------------------------------------------------------------------------------


def test_retry_with_the_same_key_returns_the_first_answer(user_client, registered_user):
    payload = {"action": "lettre_motivation", "idempotency_key": "k-1"}
    first = user_client.post("/luna/energy/consume", payload, format="json")
    second = user_client.post("/luna/energy/consume", payload, format="json")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json() and second.headers["Idempotent-Replayed"] == "true"
    assert wallet_balance(registered_user)["available"] == WELCOME - 15
    assert UsageEvent.objects.count() == 1


def test_header_key_and_body_key_are_the_same_key(user_client, registered_user):
    first = user_client.post("/luna/energy/consume", {"action": "conseil_rapide"}, format="json",
                             HTTP_IDEMPOTENCY_KEY="h-1")
    second = user_client.post("/luna/energy/consume", {"action": "conseil_rapide", "idempotency_key": "h-1"},
                              format="json")
    assert second.json() == first.json() and wallet_balance(registered_user)["available"] == WELCOME - 5
    mismatch = user_client.post("/luna/energy/consume", {"action": "conseil_rapide", "idempotency_key": "a"},
                                format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_idempotency_key"


def test_same_key_with_another_body_is_409(user_client, registered_user):
    user_client.post("/luna/energy/consume", {"action": "conseil_rapide", "idempotency_key": "k"}, format="json")
    response = user_client.post("/luna/energy/consume", {"action": "lettre_motivation", "idempotency_key": "k"},
                                format="json")
    assert response.status_code == 409 and response.json()["error"] == "idempotency_conflict"
    # Another endpoint with the same key is another request too.
    other = user_client.post("/luna/events", {"action": "conseil_rapide", "idempotency_key": "k"}, format="json")
    assert other.status_code == 409
    assert wallet_balance(registered_user)["available"] == WELCOME - 5


def test_keys_are_scoped_per_caller(user_client, satellite_client, registered_user):
    payload = {"action": "conseil_rapide", "idempotency_key": "shared"}
    user_client.post("/luna/energy/consume", payload, format="json")
    response = satellite_client.post("/luna/energy/consume", {**payload, "user_id": uid(registered_user)},
                                     format="json")
    assert response.status_code == 200 and wallet_balance(registered_user)["available"] == WELCOME - 10


def test_a_retry_of_a_consume_that_spent_the_last_energy_is_its_answer_not_a_402(user_client, registered_user):
    # The consume claims its key last (idempotent_database_only): the retry runs, fails for want
    # of energy, finds the first answer stored and answers it.
    drain_to(registered_user, 15)
    payload = {"action": "lettre_motivation", "idempotency_key": "last-points"}
    first = user_client.post("/luna/energy/consume", payload, format="json")
    retry = user_client.post("/luna/energy/consume", payload, format="json")
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json() and retry.headers["Idempotent-Replayed"] == "true"
    assert wallet_balance(registered_user)["available"] == 0
    other_body = user_client.post("/luna/energy/consume", {**payload, "action": "conseil_rapide"}, format="json")
    assert other_body.status_code == 409 and other_body.json()["error"] == "idempotency_conflict"


def test_an_error_is_not_remembered_and_a_later_retry_runs(user_client, registered_user):
    drain_to(registered_user, 10)
    payload = {"action": "lettre_motivation", "idempotency_key": "after-topup"}
    assert user_client.post("/luna/energy/consume", payload, format="json").status_code == 402
    assert not IdempotentResponse.objects.exists()
    drain_to(registered_user, 100)
    assert user_client.post("/luna/energy/consume", payload, format="json").status_code == 200
    assert wallet_balance(registered_user)["available"] == 85


@pytest.mark.parametrize("path,payload,expected", [
    ("/luna/energy/freeze", {"action": "lettre_motivation"}, 201),
    ("/luna/events", {"action": "lettre_motivation"}, 201),
])
def test_every_mutating_endpoint_is_idempotent(user_client, registered_user, path, payload, expected):
    payload = {**payload, "idempotency_key": "once"}
    first = user_client.post(path, payload, format="json")
    second = user_client.post(path, payload, format="json")
    assert first.status_code == second.status_code == expected and first.json() == second.json()
    assert UsageEvent.objects.count() == (1 if path == "/luna/events" else 0)
    assert wallet_balance(registered_user)["held"] == (15 if path == "/luna/energy/freeze" else 0)


# --- freeze, commit, refund ------------------------------------------------------------------------------


def test_freeze_then_commit_records_the_event(user_client, registered_user):
    freeze = user_client.post("/luna/energy/freeze", {"action": "mirror_match"}, format="json")
    assert freeze.status_code == 201
    hold = freeze.json()
    assert hold["amount"] == 30 and hold["available"] == WELCOME - 30 and hold["expires_at"]
    assert not UsageEvent.objects.exists()
    commit = user_client.post("/luna/energy/commit", {"hold_id": hold["hold_id"], "amount": 20,
                                                      "idempotency_key": "c1"}, format="json")
    assert commit.status_code == 200
    body = commit.json()
    assert body["energy_consumed"] == 20 and body["available"] == WELCOME - 20
    assert wallet_balance(registered_user) == {"balance": WELCOME - 20, "held": 0, "available": WELCOME - 20}
    event = UsageEvent.objects.get(pk=body["event_id"])
    assert event.operation_id == body["transaction_id"] and event.energy_consumed == 20
    replay = user_client.post("/luna/energy/commit", {"hold_id": hold["hold_id"], "amount": 20,
                                                      "idempotency_key": "c1"}, format="json")
    assert replay.json() == body
    again = user_client.post("/luna/energy/commit", {"hold_id": hold["hold_id"]}, format="json")
    assert again.status_code == 409 and again.json()["error"] == "hold_not_pending"


def test_freeze_short_is_402(user_client, registered_user):
    drain_to(registered_user, 20)
    response = user_client.post("/luna/energy/freeze", {"action": "mirror_match"}, format="json")
    assert response.status_code == 402 and response.json()["required_pack"]["code"] == "cafe_luna"


def test_commit_errors(user_client, satellite_client, registered_user):
    hold = user_client.post("/luna/energy/freeze", {"action": "lettre_motivation"}, format="json").json()
    too_much = user_client.post("/luna/energy/commit", {"hold_id": hold["hold_id"], "amount": 16}, format="json")
    # More than held with no overrun cap on the action: 402 overrun_beyond_cap, the hold untouched.
    assert too_much.status_code == 402 and too_much.json()["error"] == "overrun_beyond_cap"
    missing = user_client.post("/luna/energy/commit", {"hold_id": "00000000-0000-0000-0000-000000000001"},
                               format="json")
    assert missing.status_code == 404 and missing.json()["error"] == "hold_not_found"
    # Another user's hold is "not found" for an end user; a satellite may commit it.
    other = other_user()
    other_hold = services.wallet_freeze(user=other, amount=5, action_code="conseil_rapide")
    foreign = user_client.post("/luna/energy/commit", {"hold_id": str(other_hold.pk)}, format="json")
    assert foreign.status_code == 404 and foreign.json()["error"] == "hold_not_found"
    assert satellite_client.post("/luna/energy/commit", {"hold_id": str(other_hold.pk)},
                                 format="json").status_code == 200


def test_commit_of_an_expired_hold_is_409(user_client):
    hold = user_client.post("/luna/energy/freeze", {"action": "conseil_rapide", "ttl_seconds": 1},
                            format="json").json()
    time.sleep(1.1)
    response = user_client.post("/luna/energy/commit", {"hold_id": hold["hold_id"]}, format="json")
    assert response.status_code == 409 and response.json()["error"] == "hold_expired"


def test_refund_of_a_consume_once(user_client, registered_user):
    consume = user_client.post("/luna/energy/consume", {"action": "lettre_motivation"}, format="json").json()
    refund = user_client.post("/luna/energy/refund", {"transaction_id": consume["transaction_id"],
                                                      "reason": "generation failed"}, format="json")
    assert refund.status_code == 200 and refund.json() == {"refunded": 15, "available": WELCOME}
    twice = user_client.post("/luna/energy/refund", {"transaction_id": consume["transaction_id"]}, format="json")
    assert twice.status_code == 409 and twice.json()["error"] == "already_refunded"
    assert wallet_balance(registered_user)["available"] == WELCOME


def test_refund_of_a_hold_releases_it_once(user_client, registered_user):
    hold = user_client.post("/luna/energy/freeze", {"action": "lettre_motivation"}, format="json").json()
    refund = user_client.post("/luna/energy/refund", {"hold_id": hold["hold_id"]}, format="json")
    assert refund.status_code == 200 and refund.json() == {"refunded": 15, "available": WELCOME}
    twice = user_client.post("/luna/energy/refund", {"hold_id": hold["hold_id"]}, format="json")
    assert twice.status_code == 409 and twice.json()["error"] == "already_refunded"


def test_refund_errors(user_client, registered_user):
    welcome = BalanceOperation.objects.get(wallet__user=registered_user, type="credit")
    not_refundable = user_client.post("/luna/energy/refund", {"transaction_id": welcome.pk}, format="json")
    assert not_refundable.status_code == 409 and not_refundable.json()["error"] == "operation_not_refundable"
    missing = user_client.post("/luna/energy/refund", {"transaction_id": 10**9}, format="json")
    assert missing.status_code == 404 and missing.json()["error"] == "operation_not_found"
    other = other_user()
    foreign = services.wallet_debit(user=other, amount=5, source="api", reason="x")
    assert user_client.post("/luna/energy/refund", {"transaction_id": foreign.pk},
                            format="json").json()["error"] == "operation_not_found"
    for body in ({}, {"transaction_id": 1, "hold_id": "00000000-0000-0000-0000-000000000001"}):
        response = user_client.post("/luna/energy/refund", body, format="json")
        assert response.status_code == 400 and response.json()["error"] == "validation_error"
    hold = user_client.post("/luna/energy/freeze", {"action": "conseil_rapide"}, format="json").json()
    user_client.post("/luna/energy/commit", {"hold_id": hold["hold_id"]}, format="json")
    captured = user_client.post("/luna/energy/refund", {"hold_id": hold["hold_id"]}, format="json")
    assert captured.status_code == 409 and captured.json()["error"] == "hold_not_pending"


# --- Reads: transactions, analytics, leaderboard, events, narrative -----------------------------------------


def test_transactions_are_cursor_paginated_newest_first(user_client, registered_user):
    for _ in range(4):
        user_client.post("/luna/energy/consume", {"action": "conseil_rapide"}, format="json")
    page = user_client.get(f"/luna/energy/transactions/{uid(registered_user)}?page_size=2").json()
    assert [op["seq"] for op in page["results"]] == [5, 4] and page["previous"] is None
    second = user_client.get(page["next"]).json()
    assert [op["seq"] for op in second["results"]] == [3, 2]
    last = user_client.get(second["next"]).json()
    assert [(op["seq"], op["type"], op["amount"]) for op in last["results"]] == [(1, "credit", WELCOME)]
    assert last["next"] is None
    assert page["results"][0]["available_after"] == WELCOME - 20


def test_analytics_over_30_days(satellite_client, registered_user):
    path = f"/luna/energy/analytics/{uid(registered_user)}"
    for action in ("lettre_motivation", "lettre_motivation", "conseil_rapide", "luna_conversation"):
        satellite_client.post("/luna/energy/consume", {"user_id": uid(registered_user), "action": action},
                              format="json")
    services.wallet_credit(user=registered_user, amount=100, source="stripe", reason="pack")
    body = satellite_client.get(path).json()
    assert body["window_days"] == 30 and body["actions"] == 4 and body["consumed"] == 35
    assert body["purchased"] == 100 and body["average_per_action"] == 35 // 4
    assert body["top_actions"][0] == {"action": "lettre_motivation", "count": 2, "energy": 30}


def _analytics_cache_entries(user) -> list[str]:
    return list(cache.redis_client().scan_iter(match=f"*luna:analytics:v2:{user.pk}:*"))


def test_analytics_are_cached_under_the_state_they_were_computed_from(user_client, registered_user):
    path = f"/luna/energy/analytics/{uid(registered_user)}"
    assert user_client.get(path).json()["actions"] == 0
    state = analytics_state(user_id=registered_user.pk)
    assert cache.get(analytics_key(registered_user.pk, **state)) is not None
    assert user_client.get(path).json()["actions"] == 0  # a hit: still one entry
    assert len(_analytics_cache_entries(registered_user)) == 1
    user_client.get("/luna/energy/leaderboard")
    assert cache.get(LEADERBOARD_KEY) is not None
    # Any write shows at the next read, without a commit hook: an event written by hand (no
    # service, no Redis), a consume (event and debit), a pack purchase (a credit, no event).
    UsageEvent.objects.create(user=registered_user, action_code="x")
    assert user_client.get(path).json()["actions"] == 1
    user_client.post("/luna/energy/consume", {"action": "conseil_rapide"}, format="json")
    assert cache.get(LEADERBOARD_KEY) is not None  # a ranking: left to its TTL, not deleted per consume
    assert user_client.get(path).json()["actions"] == 2
    services.wallet_credit(user=registered_user, amount=100, source="stripe", reason="pack")
    assert user_client.get(path).json()["purchased"] == 100
    assert analytics_state(user_id=registered_user.pk) == {"last_seq": state["last_seq"] + 2,
                                                           "events": state["events"] + 2}


def test_a_refund_shows_in_the_cached_analytics(satellite_client, registered_user):
    path = f"/luna/energy/analytics/{uid(registered_user)}"
    consumed = satellite_client.post("/luna/energy/consume", {"user_id": uid(registered_user),
                                                              "action": "conseil_rapide"}, format="json").json()
    assert satellite_client.get(path).json()["actions"] == 1
    refund = satellite_client.post("/luna/energy/refund", {"transaction_id": consumed["transaction_id"]},
                                   format="json")
    assert refund.status_code == 200, refund.content
    after = satellite_client.get(path).json()
    assert after["actions"] == 0 and after["refunded"] == 5


def test_leaderboard_is_pseudonymous(user_client, registered_user, unlimited_user):
    for _ in range(2):
        token_client_for(unlimited_user).post("/luna/energy/consume", {"action": "mirror_match"}, format="json")
    user_client.post("/luna/energy/consume", {"action": "conseil_rapide"}, format="json")
    body = user_client.get("/luna/energy/leaderboard").json()
    entries = body["entries"]
    expected = hmac.new(settings.SECRET_KEY.encode(), f"luna-leaderboard:{unlimited_user.public_id}".encode(),
                        hashlib.sha256).hexdigest()[:16]
    assert [(e["rank"], e["user"], e["actions"]) for e in entries][0] == (1, expected, 2)
    assert entries[1]["actions"] == 1 and entries[1]["energy_consumed"] == 5
    text = str(body)
    assert str(registered_user.public_id) not in text and str(unlimited_user.public_id) not in text


def test_post_and_list_events(satellite_client, registered_user):
    response = satellite_client.post("/luna/events", {"user_id": uid(registered_user), "action": "analyse_offre",
                                                      "source_app": "letters", "metadata": {"offer": 7}},
                                     format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["energy_consumed"] == 0 and body["source_app"] == "letters" and body["category"] == "medium"
    assert wallet_balance(registered_user)["available"] == WELCOME  # an event moves no energy
    satellite_client.post("/luna/energy/consume", {"user_id": uid(registered_user), "action": "conseil_rapide"},
                          format="json")
    listing = satellite_client.get(f"/luna/events/{uid(registered_user)}?page_size=1").json()
    assert [e["action_code"] for e in listing["results"]] == ["conseil_rapide"]
    assert [e["action_code"] for e in satellite_client.get(listing["next"]).json()["results"]] == ["analyse_offre"]


def test_narrative_is_rebuilt_from_events(user_client, registered_user):
    path = f"/luna/narrative/{uid(registered_user)}"
    empty = user_client.get(path).json()
    assert empty["actions"] == 0 and empty["first_action"] is None and empty["milestones"] == []
    drain_to(registered_user, 1000)
    for action in ["conseil_rapide"] * 8 + ["lettre_motivation", "luna_conversation"]:
        user_client.post("/luna/energy/consume", {"action": action}, format="json")
    body = user_client.get(path).json()
    assert body["actions"] == 10 and body["energy_consumed"] == 8 * 5 + 15
    assert body["by_category"][0] == {"name": "simple", "actions": 8, "energy": 40}
    assert {c["name"] for c in body["by_category"]} == {"simple", "medium", "luna"}
    assert sum(app["actions"] for app in body["by_app"]) == 10
    assert len(body["timeline"]) == 1 and body["timeline"][0]["actions"] == 10
    assert body["first_action"]["action"] == "conseil_rapide"
    assert body["latest_action"]["action"] == "luna_conversation"
    assert [m["count"] for m in body["milestones"]] == [1, 10]
    user_client.post("/luna/events", {"action": "analyse_offre"}, format="json")
    assert user_client.get(path).json()["actions"] == 11  # live, not cached


# --- Throttling -----------------------------------------------------------------------------------------


@override_settings(LUNA_USER_THROTTLE_RATE="2/min", LUNA_SATELLITE_THROTTLE_RATE="3/min")
def test_throttled_per_user_and_per_api_key(user_client, satellite_client, registered_user):
    statuses = [user_client.post("/luna/energy/check", {}, format="json").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    throttled = user_client.post("/luna/energy/check", {}, format="json")
    assert throttled.json()["error"] == "throttled" and "retry_after" in throttled.json()
    # The satellite has its own budget (per key), not the user's.
    body = {"user_id": uid(registered_user)}
    statuses = [satellite_client.post("/luna/energy/check", body, format="json").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


# --- Event store rules ----------------------------------------------------------------------------------


def test_usage_events_are_append_only_in_the_database(user_client):
    event_id = user_client.post("/luna/events", {"action": "conseil_rapide"}, format="json").json()["event_id"]
    for statement in ("UPDATE wallet_usageevent SET energy_consumed = 5 WHERE id = %s",
                      "DELETE FROM wallet_usageevent WHERE id = %s"):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement, [event_id])


def test_an_unlimited_event_cannot_claim_energy(registered_user):
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageEvent.objects.create(user=registered_user, action_code="x", unlimited=True, energy_consumed=5)


def test_profile_has_the_energy_section(user_client, registered_user):
    services.wallet_freeze(user=registered_user, amount=20, action_code="a", ttl_seconds=60)
    body = user_client.get("/auth/profile").json()
    next_expiry = body["energy"].pop("next_expiry")
    assert body["energy"] == {"balance": 85, "held": 20, "available": 65, "paid": 0, "free": 85}
    assert next_expiry["amount"] == 85 and next_expiry["expires_at"] > body["date_joined"]
