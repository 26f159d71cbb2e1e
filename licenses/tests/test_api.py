"""The /pro API through the real URL routing, with token auth."""

from datetime import timedelta

import pytest
import time_machine

from conftest import token_client_for
from licenses import services
from licenses.models import License, LicenseEvent, ProAccount
from licenses.tests.factories import T0, trial_user
from subscriptions import services as access_services
from subscriptions.models import Access

pytestmark = pytest.mark.django_db



@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(T0, tick=False):
        yield


@pytest.fixture
def account(owner, pro) -> ProAccount:
    assert pro.post("/pro/account").status_code == 201
    account = ProAccount.objects.get(owner=owner)
    services.license_purchase(pro_account=account, kind="monthly", quantity=2, event_time=T0)
    services.license_purchase(pro_account=account, kind="lifetime", quantity=1, event_time=T0)
    return account


def _link(pro, user, *, consent=False):
    """Invite the user and have them accept (the only way a collaborator is linked)."""
    invited = pro.post("/pro/invitations", {"email": user.email}, format="json")
    assert invited.status_code == 202, invited.content
    accepted = token_client_for(user).post(f"/pro/invitations/{invited.json()['id']}/accept",
                                           {"premium_cancel_consent": consent}, format="json")
    return accepted


def _first_free(account, kind="monthly") -> License:
    return License.objects.filter(pro_account=account, kind=kind, status="available").order_by("id").first()


def test_open_and_get_the_account(owner, pro):
    assert pro.get("/pro/account").json()["error"] == "pro_account_not_found"
    created = pro.post("/pro/account")
    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "trial" and body["regularize_required"] is False
    assert body["trial_ends_at"].startswith("2027-02-07T10:00")
    assert pro.get("/pro/account").json()["id"] == body["id"]
    again = pro.post("/pro/account")
    assert (again.status_code, again.json()["error"]) == (409, "pro_account_exists")


def test_anonymous_is_refused(api_client):
    assert api_client.get("/pro/account").status_code == 401
    assert api_client.get("/pro/licenses").status_code == 401


def test_collaborators_profile_always_activity_only_with_premium(account, pro):
    premium_user = trial_user(now=T0)
    lapsed_user = trial_user(now=T0 - timedelta(days=30))
    assert _link(pro, premium_user).status_code == 200
    assert _link(pro, lapsed_user).status_code == 200
    rows = {row["user"]["email"]: row for row in pro.get("/pro/collaborators").json()}
    assert rows[premium_user.email]["activity_visible"] is True
    assert rows[premium_user.email]["activity_url"] == f"/pro/collaborators/{premium_user.public_id}/activity"
    assert rows[lapsed_user.email]["activity_visible"] is False and rows[lapsed_user.email]["activity_url"] is None
    assert rows[lapsed_user.email]["user"]["id"] == str(lapsed_user.public_id)


def test_invite_errors(account, pro, owner):
    response = pro.post("/pro/invitations", {"email": owner.email}, format="json")
    assert (response.status_code, response.json()["error"]) == (400, "cannot_link_owner")
    user = trial_user(now=T0)
    _link(pro, user)
    response = pro.post("/pro/invitations", {"email": user.email}, format="json")
    assert (response.status_code, response.json()["error"]) == (409, "already_linked")


def test_license_pool_with_counts(account, pro):
    body = pro.get("/pro/licenses").json()
    assert body["counts"] == {"available": 3, "active": 0, "suspended": 0, "canceled": 0, "unlinked": 0}
    assert body["total"] == 3 and {lic["kind"] for lic in body["licenses"]} == {"monthly", "lifetime"}


def test_assign_cancel_and_pool(account, pro):
    user = trial_user(now=T0)
    _link(pro, user)
    lic = _first_free(account)
    response = pro.post(f"/pro/licenses/{lic.public_id}/assign", {"user_id": str(user.public_id)}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["outcome"] == "assigned"
    assert response.json()["license"]["assignee"]["id"] == str(user.public_id)
    assert Access.objects.get(user=user).type == "LICENSED"

    canceled = pro.post(f"/pro/licenses/{lic.public_id}/cancel")
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["effective_at"].startswith("2027-02-28T00:00")
    assert pro.get("/pro/licenses").json()["counts"]["canceled"] == 1


def test_assign_refusals_carry_machine_codes(account, pro):
    lifetime_user, licensed_user = trial_user(now=T0), trial_user(now=T0)
    for user in (lifetime_user, licensed_user):
        _link(pro, user)
    access_services.access_grant_lifetime(user=lifetime_user, event_time=T0)
    first = _first_free(account)
    pro.post(f"/pro/licenses/{first.public_id}/assign", {"user_id": str(licensed_user.public_id)}, format="json")
    second = _first_free(account)
    for user, code in ((lifetime_user, "already_lifetime"), (licensed_user, "already_licensed")):
        response = pro.post(f"/pro/licenses/{second.public_id}/assign", {"user_id": str(user.public_id)}, format="json")
        assert (response.status_code, response.json()["error"]) == (409, code)
    stranger = trial_user(now=T0)
    response = pro.post(f"/pro/licenses/{second.public_id}/assign", {"user_id": str(stranger.public_id)}, format="json")
    # An existing account that is not a collaborator: the same answer as a random id.
    assert (response.status_code, response.json()["error"]) == (404, "collaborator_not_found")
    assert pro.post("/pro/licenses/not-a-uuid/assign", {"user_id": str(stranger.public_id)},
                    format="json").status_code == 404


def test_assign_to_a_premium_collaborator_is_pending(account, pro):
    user = trial_user(now=T0)
    _link(pro, user, consent=True)
    access_services.access_activate_premium(user=user, period_end=T0 + timedelta(days=30), event_time=T0,
                                            stripe_subscription_id="sub_x")
    lic = _first_free(account)
    response = pro.post(f"/pro/licenses/{lic.public_id}/assign", {"user_id": str(user.public_id)}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["outcome"] == "needs_cancel_existing"
    assert body["license"]["status"] == "available"
    assert body["license"]["pending_assignment"]["collaborator"]["id"] == str(user.public_id)


def test_another_pros_license_is_not_found(account):
    other = token_client_for(trial_user(now=T0))
    other.post("/pro/account")
    lic = _first_free(account)
    assert other.post(f"/pro/licenses/{lic.public_id}/cancel").json()["error"] == "license_not_found"


def test_unlink_by_pro_and_collaborator_leaving(account, pro):
    alice, bob = trial_user(now=T0), trial_user(now=T0)
    for user in (alice, bob):
        _link(pro, user)
        lic = _first_free(account)
        pro.post(f"/pro/licenses/{lic.public_id}/assign", {"user_id": str(user.public_id)}, format="json")
    alice_lic = License.objects.get(assignee=alice)
    response = pro.post(f"/pro/licenses/{alice_lic.public_id}/unlink")
    assert (response.status_code, response.json()["status"]) == (200, "unlinked")

    bob_client = token_client_for(bob)
    memberships = bob_client.get("/pro/memberships").json()
    assert [m["pro_account_id"] for m in memberships] == [str(account.public_id)]
    assert bob_client.post(f"/pro/accounts/{account.public_id}/leave").status_code == 204
    assert License.objects.get(assignee=bob).status == "unlinked"
    # Leaving twice is idempotent while the seat is still held until the grouped date.
    assert bob_client.post(f"/pro/accounts/{account.public_id}/leave").status_code == 204
    stranger = token_client_for(trial_user(now=T0)).post(f"/pro/accounts/{account.public_id}/leave")
    assert (stranger.status_code, stranger.json()["error"]) == (409, "not_a_collaborator")
    assert pro.get("/pro/licenses").json()["counts"]["unlinked"] == 2
    carol = trial_user(now=T0)
    _link(pro, carol)
    assert pro.delete(f"/pro/collaborators/{carol.public_id}").status_code == 204
    assert pro.get("/pro/collaborators").json() == []


# --- a client's retry with the same Idempotency-Key: the first answer, no second effect -----


def test_retried_pro_writes_replay_their_first_answer(owner, pro, account):
    collaborator = trial_user(now=T0)
    first = pro.post("/pro/invitations", {"email": collaborator.email}, format="json", HTTP_IDEMPOTENCY_KEY="k-link")
    again = pro.post("/pro/invitations", {"email": collaborator.email}, format="json", HTTP_IDEMPOTENCY_KEY="k-link")
    assert first.status_code == again.status_code == 202 and first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert account.invitations.count() == 1
    invitee = token_client_for(collaborator)
    url = f"/pro/invitations/{first.json()['id']}/accept"
    accepted = [invitee.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k-accept") for _ in range(2)]
    assert [r.status_code for r in accepted] == [200, 200] and accepted[1]["Idempotent-Replayed"] == "true"
    assert account.memberships.count() == 1

    seat = _first_free(account)
    url = f"/pro/licenses/{seat.public_id}/assign"
    body = {"user_id": str(collaborator.public_id)}
    assigned = [pro.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-assign") for _ in range(2)]
    assert [r.status_code for r in assigned] == [200, 200] and assigned[0].json() == assigned[1].json()
    events_of_seat = LicenseEvent.objects.filter(license_pk=seat.pk)
    assert events_of_seat.count() == 1, list(events_of_seat.values_list("kind", flat=True))

    unlinked = [pro.delete(f"/pro/collaborators/{collaborator.public_id}", HTTP_IDEMPOTENCY_KEY="k-unlink")
                for _ in range(2)]
    assert [r.status_code for r in unlinked] == [204, 204]  # the retry replays the 204, not a 409
    assert unlinked[1]["Idempotent-Replayed"] == "true"
    assert events_of_seat.count() == 2  # assigned, then unlinked: once each

    other = pro.post("/pro/invitations", {"email": "someone-else@example.com"}, format="json",
                     HTTP_IDEMPOTENCY_KEY="k-link")
    assert other.status_code == 409 and other.json()["error"] == "idempotency_conflict"
