"""Invitations over HTTP: nothing about the person reaches the pro, and nothing is linked,
assigned or canceled, before the person accepts (with consent for their own paid plan)."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from conftest import token_client_for
from licenses import services
from licenses.models import Invitation, License, LicenseEvent, Membership, PendingAssignment, ProAccount
from licenses.signals import license_assignment_pending
from licenses.tests.factories import T0, trial_user
from subscriptions import services as access_services
from subscriptions.models import Access

pytestmark = pytest.mark.django_db



@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def account(owner, pro) -> ProAccount:
    assert pro.post("/pro/account").status_code == 201
    account = ProAccount.objects.get(owner=owner)
    services.license_purchase(pro_account=account, kind="lifetime", quantity=2, event_time=T0)
    return account


@pytest.fixture
def premium_person():
    user = trial_user(now=T0)
    access_services.access_activate_premium(user=user, period_end=T0 + timedelta(days=30), event_time=T0,
                                            stripe_subscription_id="sub_personal")
    return user


@pytest.fixture
def stripe_requests():
    """Every request billing would send to Stripe for a seat starts with this signal."""
    sent = []

    def receiver(sender, pending, **kwargs):
        sent.append(pending.pk)

    license_assignment_pending.connect(receiver, weak=False)
    yield sent
    license_assignment_pending.disconnect(receiver)


@pytest.fixture
def invite(django_capture_on_commit_callbacks):
    """POST /pro/invitations, running its after-commit work (the e-mail) as a commit would."""

    def send(pro, email):
        with django_capture_on_commit_callbacks(execute=True):
            return pro.post("/pro/invitations", {"email": email}, format="json")

    return send


def _seat(account) -> License:
    return License.objects.filter(pro_account=account, status="available").order_by("id").first()


def _link_token(email: str) -> str:
    body = next(m.body for m in reversed(mail.outbox) if m.to == [email])
    return re.search(r"token=(\S+)", body).group(1)


def _shape(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("id", "email")}


def test_an_unknown_address_and_a_registered_one_get_the_same_answer(invite, account, pro, premium_person):
    registered = invite(pro, premium_person.email.upper())
    unknown = invite(pro, "nobody-here@example.com")
    assert registered.status_code == unknown.status_code == 202
    assert _shape(registered.json()) == _shape(unknown.json())
    assert set(registered.json()) == {"id", "email", "status", "expires_at", "responded_at", "created_at"}
    assert registered.json()["email"] == premium_person.email  # lower-cased, as typed
    # The pro's list says nothing about the person either; both got the same e-mail.
    listed = pro.get("/pro/invitations").json()
    assert [_shape(row) for row in listed] == [_shape(unknown.json()), _shape(registered.json())]
    assert sorted(m.to[0] for m in mail.outbox) == sorted([premium_person.email, "nobody-here@example.com"])
    events = LicenseEvent.objects.filter(pro_account=account, kind="invitation_sent")
    assert events.count() == 2 and not events.filter(collaborator__isnull=False).exists()
    assert not Membership.objects.filter(pro_account=account).exists()
    assert pro.get("/pro/collaborators").json() == []


def test_before_acceptance_no_seat_no_access_change_no_stripe(invite, account, pro, premium_person, stripe_requests):
    invite(pro, premium_person.email)
    response = pro.post(f"/pro/licenses/{_seat(account).public_id}/assign",
                        {"user_id": str(premium_person.public_id)}, format="json")
    assert (response.status_code, response.json()["error"]) == (404, "collaborator_not_found")
    access = Access.objects.get(user=premium_person)
    assert (access.type, access.stripe_subscription_id) == ("PREMIUM", "sub_personal")
    assert not PendingAssignment.objects.exists() and stripe_requests == []
    assert not License.objects.filter(assignee=premium_person).exists()


def test_accept_without_consent_keeps_the_persons_plan(invite, account, pro, premium_person, stripe_requests):
    invitation = invite(pro, premium_person.email).json()
    person = token_client_for(premium_person)
    received = person.get("/pro/invitations/received").json()
    assert [r["id"] for r in received] == [invitation["id"]] and received[0]["owner"]["email"] == account.owner.email
    accepted = person.post(f"/pro/invitations/{invitation['id']}/accept", {}, format="json")
    assert accepted.status_code == 200
    assert accepted.json() == {"id": invitation["id"], "status": "accepted", "premium_cancel_consent": False}
    assert [row["user"]["id"] for row in pro.get("/pro/collaborators").json()] == [str(premium_person.public_id)]
    response = pro.post(f"/pro/licenses/{_seat(account).public_id}/assign",
                        {"user_id": str(premium_person.public_id)}, format="json")
    assert (response.status_code, response.json()["error"]) == (409, "consent_required")
    assert not PendingAssignment.objects.exists() and stripe_requests == []
    assert Access.objects.get(user=premium_person).type == "PREMIUM"
    kinds = list(LicenseEvent.objects.filter(pro_account=account).values_list("kind", flat=True))
    assert kinds[-4:] == ["invitation_sent", "collaborator_linked", "invitation_accepted", "premium_cancel_consent"]


def test_accept_with_consent_lets_the_seat_cancel_the_plan(invite, django_capture_on_commit_callbacks, account, pro,
                                                           premium_person, stripe_requests):
    invitation = invite(pro, premium_person.email).json()
    accepted = token_client_for(premium_person).post(f"/pro/invitations/{invitation['id']}/accept",
                                                     {"premium_cancel_consent": True}, format="json")
    assert accepted.json()["premium_cancel_consent"] is True
    with django_capture_on_commit_callbacks(execute=True):
        response = pro.post(f"/pro/licenses/{_seat(account).public_id}/assign",
                            {"user_id": str(premium_person.public_id)}, format="json")
    assert (response.status_code, response.json()["outcome"]) == (202, "needs_cancel_existing")
    assert len(stripe_requests) == 1


def test_decline_links_nothing_and_closes_the_invitation(invite, account, pro, premium_person):
    invitation = invite(pro, premium_person.email).json()
    person = token_client_for(premium_person)
    declined = person.post(f"/pro/invitations/{invitation['id']}/decline")
    assert (declined.status_code, declined.json()["status"]) == (200, "declined")
    again = person.post(f"/pro/invitations/{invitation['id']}/accept", {}, format="json")
    assert (again.status_code, again.json()["error"]) == (409, "invitation_not_pending")
    assert not Membership.objects.exists()
    assert pro.get("/pro/invitations").json()[0]["status"] == "declined"
    assert LicenseEvent.objects.filter(kind="invitation_declined", collaborator=premium_person).count() == 1


def test_an_invitation_expires(invite, account, pro, premium_person, clock):
    invitation = invite(pro, premium_person.email).json()
    clock.shift(timedelta(days=7, seconds=1))
    person = token_client_for(premium_person)
    assert person.get("/pro/invitations/received").json() == []
    response = person.post(f"/pro/invitations/{invitation['id']}/accept", {}, format="json")
    assert (response.status_code, response.json()["error"]) == (409, "invitation_expired")
    assert pro.get("/pro/invitations").json()[0]["status"] == "expired"
    assert not Membership.objects.exists()
    # The hourly job stores it, audited; a new invitation can then be sent.
    report = services.pro_trial_expiry_run(now=T0 + timedelta(days=7, seconds=1))
    assert [step.action for step in report.steps] == ["expire_invitation"]
    assert Invitation.objects.get(public_id=invitation["id"]).status == "expired"
    assert LicenseEvent.objects.filter(kind="invitation_expired", pro_account=account).count() == 1
    assert services.pro_trial_expiry_run(now=T0 + timedelta(days=8)).steps == []
    assert invite(pro, premium_person.email).status_code == 202


def test_a_lapsed_invitation_not_yet_closed_gives_way_to_a_new_one(invite, account, pro, premium_person, clock):
    invite(pro, premium_person.email)
    clock.shift(timedelta(days=8))
    assert invite(pro, premium_person.email).status_code == 202
    assert Invitation.objects.filter(pro_account=account, status="expired").count() == 1
    assert Invitation.objects.filter(pro_account=account, status="pending").count() == 1


def test_revoke_and_the_pending_rule(invite, account, pro, premium_person):
    invitation = invite(pro, premium_person.email).json()
    again = invite(pro, premium_person.email)
    assert (again.status_code, again.json()["error"]) == (409, "invitation_pending")
    revoked = pro.post(f"/pro/invitations/{invitation['id']}/revoke")
    assert (revoked.status_code, revoked.json()["status"]) == (200, "revoked")
    response = token_client_for(premium_person).post(f"/pro/invitations/{invitation['id']}/accept", {}, format="json")
    assert (response.status_code, response.json()["error"]) == (409, "invitation_not_pending")
    other_pro = token_client_for(trial_user(now=T0))
    other_pro.post("/pro/account")
    assert other_pro.post(f"/pro/invitations/{invitation['id']}/revoke").json()["error"] == "invitation_not_found"


def test_only_the_invited_address_can_answer(invite, account, pro, premium_person):
    invitation = invite(pro, premium_person.email).json()
    intruder = token_client_for(trial_user(now=T0))
    response = intruder.post(f"/pro/invitations/{invitation['id']}/accept", {}, format="json")
    assert (response.status_code, response.json()["error"]) == (404, "invitation_not_found")
    assert intruder.post("/pro/invitations/not-a-uuid/decline").status_code == 404
    assert not Membership.objects.exists()


def test_the_signed_link(invite, account, api_client, pro, premium_person):
    invitation = invite(pro, premium_person.email).json()
    token = _link_token(premium_person.email)
    forged = api_client.post("/pro/invitations/respond", {"token": token + "x", "decision": "accept"}, format="json")
    assert (forged.status_code, forged.json()["error"]) == (404, "invitation_not_found")
    accepted = api_client.post("/pro/invitations/respond",
                               {"token": token, "decision": "accept", "premium_cancel_consent": True}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json() == {"id": invitation["id"], "status": "accepted", "premium_cancel_consent": True}
    assert Membership.objects.get(collaborator=premium_person).premium_cancel_consent is True

    invite(pro, "later@example.com")
    later = api_client.post("/pro/invitations/respond",
                            {"token": _link_token("later@example.com"), "decision": "decline"}, format="json")
    assert (later.status_code, later.json()["error"]) == (409, "account_required")
