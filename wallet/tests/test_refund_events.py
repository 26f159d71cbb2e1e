"""A refund's compensating usage event: linked to the original, append-only, netted out of
the narrative, analytics, leaderboard and the admin energy panel."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from conftest import token_client_for
from phoenix.accounts.services import user_register
from wallet import selectors, services
from wallet.models import BalanceOperation, UsageEvent

pytestmark = pytest.mark.django_db

WELCOME = 85


def uid(user) -> str:
    return str(user.public_id)


def consume(client, action: str) -> dict:
    response = client.post("/luna/energy/consume", {"action": action}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def refund(client, transaction_id: int) -> None:
    response = client.post("/luna/energy/refund", {"transaction_id": transaction_id, "reason": "generation failed"},
                           format="json")
    assert response.status_code == 200, response.content


def test_a_consume_then_its_refund_drops_back_everywhere_over_http(user_client, registered_user):
    """The floor: narrative totals and analytics consumed drop back, the events list shows both
    with the link, the leaderboard does not count it."""
    other, _ = user_register(email="steady@example.com", password="a-long-Password-123")
    other_client = token_client_for(other)
    consume(other_client, "conseil_rapide")
    kept = consume(user_client, "conseil_rapide")
    narrative_path = f"/luna/narrative/{uid(registered_user)}"
    analytics_path = f"/luna/energy/analytics/{uid(registered_user)}"
    before_narrative = user_client.get(narrative_path).json()
    before_analytics = user_client.get(analytics_path).json()
    assert (before_narrative["actions"], before_narrative["energy_consumed"]) == (1, 5)

    refunded = consume(user_client, "lettre_motivation")
    during = user_client.get(narrative_path).json()
    assert (during["actions"], during["energy_consumed"]) == (2, 20)
    cache.clear()  # the on-commit invalidation does not run inside the test transaction
    assert user_client.get(analytics_path).json()["consumed"] == 20
    refund(user_client, refunded["transaction_id"])

    cache.clear()  # the on-commit invalidation does not run inside the test transaction
    after_narrative = user_client.get(narrative_path).json()
    for key in ("actions", "energy_consumed", "by_category", "by_app", "timeline", "milestones"):
        assert after_narrative[key] == before_narrative[key], key
    assert after_narrative["latest_action"]["action"] == "conseil_rapide"
    analytics = user_client.get(analytics_path).json()
    assert (analytics["actions"], analytics["consumed"], analytics["average_per_action"]) == (1, 5, 5)
    assert analytics["top_actions"] == before_analytics["top_actions"] == [
        {"action": "conseil_rapide", "count": 1, "energy": 5}]
    assert analytics["refunded"] == 15

    events = user_client.get(f"/luna/events/{uid(registered_user)}").json()["results"]
    assert [(e["action_code"], e["energy_consumed"]) for e in events] == [
        ("lettre_motivation", -15), ("lettre_motivation", 15), ("conseil_rapide", 5)]
    compensation, original, plain = events
    assert compensation["refund_of"] == original["event_id"] and original["refunded_by"] == compensation["event_id"]
    assert compensation["transaction_id"] == BalanceOperation.objects.get(refund_of_id=refunded["transaction_id"]).pk
    assert original["transaction_id"] == refunded["transaction_id"] == kept["transaction_id"] + 1
    assert plain["refund_of"] is None and plain["refunded_by"] is None

    entries = user_client.get("/luna/energy/leaderboard").json()["entries"]
    board = {(e["actions"], e["energy_consumed"]) for e in entries}
    assert board == {(1, 5)}  # both users: one action of 5 each; the refunded one is not counted


def test_a_refunded_commit_is_netted_out_too(user_client, registered_user):
    hold = user_client.post("/luna/energy/freeze", {"action": "lettre_motivation"}, format="json").json()
    commit = user_client.post("/luna/energy/commit", {"hold_id": hold["hold_id"]}, format="json").json()
    refund(user_client, commit["transaction_id"])
    original = UsageEvent.objects.get(operation_id=commit["transaction_id"])
    assert original.refunded_by.energy_consumed == -15 and original.refunded_by.user_id == registered_user.pk
    narrative = selectors.usage_narrative(user=registered_user)
    assert (narrative["actions"], narrative["energy_consumed"]) == (0, 0)
    assert selectors.energy_analytics(user=registered_user, now=timezone.now())["consumed"] == 0


def test_a_released_hold_or_an_operator_debit_writes_no_compensation(user_client, registered_user):
    hold = user_client.post("/luna/energy/freeze", {"action": "lettre_motivation"}, format="json").json()
    user_client.post("/luna/energy/refund", {"hold_id": hold["hold_id"]}, format="json")
    debit = services.wallet_debit(user=registered_user, amount=3, source="admin", reason="fix")
    services.wallet_refund_debit(operation_id=debit.pk, reason="undo")
    assert UsageEvent.objects.filter(user=registered_user).count() == 0


def test_a_second_refund_is_refused_and_writes_no_second_compensation(user_client, registered_user):
    consumed = consume(user_client, "lettre_motivation")
    refund(user_client, consumed["transaction_id"])
    again = user_client.post("/luna/energy/refund", {"transaction_id": consumed["transaction_id"]}, format="json")
    assert again.status_code == 409 and again.json()["error"] == "already_refunded"
    assert UsageEvent.objects.filter(refund_of__isnull=False).count() == 1


def test_the_database_refuses_a_compensation_that_does_not_cancel_its_original_exactly(user_client,
                                                                                       registered_user):
    consumed = consume(user_client, "lettre_motivation")
    original = UsageEvent.objects.get(operation_id=consumed["transaction_id"])
    refund(user_client, consumed["transaction_id"])
    credit = BalanceOperation.objects.get(refund_of_id=consumed["transaction_id"])
    other_debit = consume(user_client, "conseil_rapide")
    other_event = UsageEvent.objects.get(operation_id=other_debit["transaction_id"])
    other_credit = services.wallet_credit(user=registered_user, amount=5, source="admin", reason="x")
    bad = [
        # a second compensation of the same event (UNIQUE refund_of)
        {"refund_of": original, "energy_consumed": -15, "operation": other_credit},
        # the wrong amount, and a credit that does not refund the original's operation
        {"refund_of": other_event, "energy_consumed": -4, "operation": other_credit},
        {"refund_of": other_event, "energy_consumed": -5, "operation": other_credit},
        # a positive amount on a compensation
        {"refund_of": other_event, "energy_consumed": 5, "operation": credit},
    ]
    for fields in bad:
        with pytest.raises(IntegrityError), transaction.atomic():
            UsageEvent.objects.create(user=registered_user, action_code="conseil_rapide", **fields)
    compensation = UsageEvent.objects.get(refund_of_id=original.pk)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE wallet_usageevent SET refund_of_id = NULL WHERE id = %s", [compensation.pk])


def test_the_admin_energy_panel_nets_refunds_of_consumptions_out(registered_user):
    now = timezone.now()
    paid = services.wallet_debit(user=registered_user, amount=15, source="api", reason="action",
                                 reference="lettre_motivation")
    services.wallet_debit(user=registered_user, amount=5, source="api", reason="action", reference="conseil_rapide")
    services.wallet_refund_debit(operation_id=paid.pk, reason="action failed")
    admin_debit = services.wallet_debit(user=registered_user, amount=7, source="admin", reason="fix")
    services.wallet_refund_debit(operation_id=admin_debit.pk, reason="undo")  # not a consumption
    later = timezone.now()
    assert later >= now
    assert selectors.energy_consumed_totals(now=later) == {"today": 5, "week": 5, "month": 5, "refunded_week": 22}
    assert selectors.energy_consumed_by_action(now=later) == [("conseil_rapide", 5)]
