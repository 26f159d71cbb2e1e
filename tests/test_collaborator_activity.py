"""A pro owner sees a linked collaborator's activity exactly while the collaborator has premium
access (issue 19), over HTTP. Whole-site: the rule is licenses', the events wallet's (the two
meet through phoenix.core.visibility), so the test sits outside the apps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import token_client_for
from licenses import services as license_services
from licenses.models import License, ProAccount
from phoenix.accounts.services import user_register
from phoenix.core.visibility import activity_visible
from subscriptions.models import Access
from subscriptions.services import access_activate_premium, access_expire_due

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 3, 2, 10, tzinfo=UTC)
PASSWORD = "a-long-Password-123"
NOT_FOUND = {"error": "activity_not_found", "detail": "No collaborator activity you may see."}


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def user(email: str):
    created, _ = user_register(email=email, password=PASSWORD)
    return created


def pro_with_seats(email: str):
    """A pro owner with an account and one monthly seat (so the account is active)."""
    owner = user(email)
    client = token_client_for(owner)
    assert client.post("/pro/account").status_code == 201
    account = ProAccount.objects.get(owner=owner)
    license_services.license_purchase(pro_account=account, kind="monthly", quantity=1, event_time=T0)
    return client, account


def link(pro_client, collaborator) -> None:
    """The consenting link: the pro invites, the person accepts (the only way a member exists)."""
    invited = pro_client.post("/pro/invitations", {"email": collaborator.email}, format="json")
    assert invited.status_code == 202, invited.content
    accepted = token_client_for(collaborator).post(f"/pro/invitations/{invited.json()['id']}/accept",
                                                   {"premium_cancel_consent": False}, format="json")
    assert accepted.status_code == 200, accepted.content


def act(collaborator, action: str, **extra) -> dict:
    response = token_client_for(collaborator).post("/luna/energy/consume", {"action": action, **extra},
                                                   format="json")
    assert response.status_code == 200, response.content
    return response.json()


def activity(pro_client, collaborator, query: str = ""):
    return pro_client.get(f"/pro/collaborators/{collaborator.public_id}/activity{query}")


def seen(pro_client, collaborator, query: str = "") -> list[str]:
    response = activity(pro_client, collaborator, query)
    assert response.status_code == 200, response.content
    return [event["action"] for event in response.json()["results"]]


def refused(pro_client, collaborator) -> bool:
    response = activity(pro_client, collaborator)
    return response.status_code == 404 and response.json() == NOT_FOUND


def expire_trial(clock, collaborator) -> None:
    clock.move_to(T0 + timedelta(days=8))
    access_expire_due(now=T0 + timedelta(days=8))
    assert Access.objects.get(user=collaborator).type == "EXPIRED"


def test_trial_collaborator_seen_then_hidden_on_expiry_then_seen_again_once_licensed(clock):
    pro, account = pro_with_seats("pro@example.com")
    collaborator = user("collab@example.com")
    link(pro, collaborator)
    act(collaborator, "conseil_rapide", source_app="letters")
    clock.shift(timedelta(minutes=1))
    act(collaborator, "lettre_motivation", source_app="cv")

    body = activity(pro, collaborator).json()
    assert [e["action"] for e in body["results"]] == ["lettre_motivation", "conseil_rapide"]  # newest first
    newest = body["results"][0]
    assert set(newest) == {"event_id", "action", "label", "category", "source_app", "energy_consumed", "created_at"}
    assert (newest["label"], newest["category"], newest["source_app"], newest["energy_consumed"]) == (
        "Lettre de motivation", "medium", "cv", 15)
    row = pro.get("/pro/collaborators").json()[0]
    assert row["activity_visible"] is True
    assert row["activity_url"] == f"/pro/collaborators/{collaborator.public_id}/activity"

    expire_trial(clock, collaborator)
    assert refused(pro, collaborator)  # the same 404 as for a stranger
    row = pro.get("/pro/collaborators").json()[0]
    assert row["access_type"] == "EXPIRED" and row["activity_visible"] is False and row["activity_url"] is None

    seat = License.objects.get(pro_account=account)
    assigned = pro.post(f"/pro/licenses/{seat.public_id}/assign", {"user_id": str(collaborator.public_id)},
                        format="json")
    assert assigned.status_code == 200 and Access.objects.get(user=collaborator).type == "LICENSED"
    assert seen(pro, collaborator) == ["lettre_motivation", "conseil_rapide"]


def test_expired_collaborator_visible_again_once_premium(clock):
    pro, _account = pro_with_seats("pro@example.com")
    collaborator = user("collab@example.com")
    link(pro, collaborator)
    act(collaborator, "conseil_rapide")
    act(collaborator, "conseil_rapide")
    assert seen(pro, collaborator) == ["conseil_rapide", "conseil_rapide"]
    expire_trial(clock, collaborator)
    assert refused(pro, collaborator)
    now = T0 + timedelta(days=8)
    access_activate_premium(user=collaborator, period_end=now + timedelta(days=30), event_time=now,
                            stripe_subscription_id="sub_activity")
    assert Access.objects.get(user=collaborator).type == "PREMIUM"
    assert seen(pro, collaborator) == ["conseil_rapide", "conseil_rapide"]


def test_another_pro_an_unlinked_pro_a_stranger_and_the_collaborator_never_see_it(clock):
    pro, account = pro_with_seats("pro@example.com")
    other_pro, _ = pro_with_seats("other-pro@example.com")
    former_pro, former_account = pro_with_seats("former-pro@example.com")
    stranger = token_client_for(user("stranger@example.com"))  # no pro account at all
    collaborator = user("collab@example.com")
    link(pro, collaborator)
    link(former_pro, collaborator)
    act(collaborator, "conseil_rapide")
    act(collaborator, "lettre_motivation")
    assert seen(former_pro, collaborator) == ["lettre_motivation", "conseil_rapide"]
    unlinked = former_pro.delete(f"/pro/collaborators/{collaborator.public_id}")
    assert unlinked.status_code == 204

    assert seen(pro, collaborator) == ["lettre_motivation", "conseil_rapide"]
    for client in (other_pro, former_pro, stranger, token_client_for(collaborator)):
        assert refused(client, collaborator)
    # An unknown or malformed id: the very same answer.
    for path in ("00000000-0000-0000-0000-000000000001", "not-a-uuid"):
        response = pro.get(f"/pro/collaborators/{path}/activity")
        assert response.status_code == 404 and response.json() == NOT_FOUND
    assert pro.__class__().get(f"/pro/collaborators/{collaborator.public_id}/activity").status_code == 401
    # The owner is never their own "collaborator", and the rule answers the same outside HTTP.
    assert activity_visible(viewer=account.owner, subject=account.owner) is False
    assert activity_visible(viewer=former_account.owner, subject=collaborator) is False
    assert activity_visible(viewer=account.owner, subject=collaborator) is True


def test_filters_by_period_and_app_paginated_and_refunds_netted_out(clock):
    pro, _account = pro_with_seats("pro@example.com")
    collaborator = user("collab@example.com")
    link(pro, collaborator)
    act(collaborator, "conseil_rapide", source_app="letters")
    clock.shift(timedelta(hours=1))
    act(collaborator, "conseil_rapide", source_app="cv")
    clock.shift(timedelta(hours=1))
    refunded = act(collaborator, "lettre_motivation", source_app="cv")
    refund = token_client_for(collaborator).post("/luna/energy/refund",
                                                 {"transaction_id": refunded["transaction_id"]}, format="json")
    assert refund.status_code == 200
    cache.clear()

    assert [e["source_app"] for e in activity(pro, collaborator).json()["results"]] == ["cv", "letters"]
    assert seen(pro, collaborator, "?app=letters") == ["conseil_rapide"]
    since = (T0 + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    assert [e["source_app"] for e in activity(pro, collaborator, f"?since={since}").json()["results"]] == ["cv"]
    until = since
    assert [e["source_app"] for e in activity(pro, collaborator, f"?until={until}").json()["results"]] == ["letters"]
    page = activity(pro, collaborator, "?page_size=1").json()
    assert len(page["results"]) == 1 and page["next"]
    assert [e["source_app"] for e in pro.get(page["next"]).json()["results"]] == ["letters"]
    bad = activity(pro, collaborator, f"?since={since}&until={until}")
    assert bad.status_code == 400 and bad.json()["error"] == "validation_error"
    assert activity(pro, collaborator, "?since=yesterday").status_code == 400


def test_the_pro_accounts_admin_page_shows_what_the_pro_sees(clock, support_client):
    pro, account = pro_with_seats("pro@example.com")
    collaborator = user("collab@example.com")
    link(pro, collaborator)
    act(collaborator, "lettre_motivation", source_app="cv")
    page = support_client.get(f"/admin/licenses/proaccount/{account.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Activity the pro sees" in text and "Lettre de motivation (medium, cv) · 15 energy" in text
    expire_trial(clock, collaborator)
    text = support_client.get(f"/admin/licenses/proaccount/{account.pk}/change/").content.decode()
    assert "Hidden: no premium access now." in text and "Lettre de motivation" not in text


def test_a_page_costs_the_same_statements_whatever_its_length(clock):
    pro, _account = pro_with_seats("pro@example.com")
    collaborator = user("collab@example.com")
    link(pro, collaborator)

    def statements() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert activity(pro, collaborator).status_code == 200
        return len(captured.captured_queries)

    act(collaborator, "conseil_rapide")
    one = statements()
    for _ in range(8):
        act(collaborator, "conseil_rapide")
    assert statements() == one  # the label comes in the same SELECT (no query per event)
