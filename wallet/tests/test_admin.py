"""The admin: the ledger is read-only, the catalogues are editable."""

import pytest
from django.urls import reverse
from django.utils import timezone

from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from phoenix.core import roles
from phoenix.core.models import AdminAction, JobRun
from phoenix.core.tests.operator import op_url, spy, staff
from wallet import services
from wallet.models import EnergyAction, Incident
from wallet.tests.factories import WalletFactory, hold_create, hold_vanish, wallet_balance_drift

pytestmark = pytest.mark.django_db


def test_ledger_pages_render_and_are_read_only(admin_client):
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=10)
    operation = wallet.operations.first()
    for model, obj in (("wallet", wallet), ("hold", hold), ("balanceoperation", operation)):
        assert admin_client.get(reverse(f"admin:wallet_{model}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"admin:wallet_{model}_change", args=[obj.pk])).status_code == 200
        assert admin_client.get(reverse(f"admin:wallet_{model}_add")).status_code == 403
        response = admin_client.post(reverse(f"admin:wallet_{model}_delete", args=[obj.pk]), {"post": "yes"})
        assert response.status_code == 403
    assert admin_client.get(reverse("admin:wallet_incident_changelist")).status_code == 200


def test_energy_catalogue_is_editable(admin_client):
    action = EnergyAction.objects.create(code="test_action", label="Test", category="medium", cost=15,
                                         source_app="letters")
    url = reverse("admin:wallet_energyaction_change", args=[action.pk])
    response = admin_client.post(url, {"code": action.code, "label": action.label, "category": action.category,
                                       "cost": 17, "overrun_cap_percent": 50, "source_app": action.source_app,
                                       "is_active": "on"})
    assert response.status_code == 302
    action.refresh_from_db()
    assert (action.cost, action.overrun_cap_percent) == (17, 50)
    assert admin_client.get(reverse("admin:wallet_energypack_changelist")).status_code == 200


def test_incidents_are_resolved_through_the_operator_action(admin_client):
    wallet = WalletFactory()
    incident = Incident.objects.create(wallet=wallet, code="ledger_balance_mismatch", severity="critical",
                                       detected_at=timezone.now(), last_seen_at=timezone.now())
    url = reverse("admin:wallet_incident_operator_resolve", args=[incident.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"reason": "replayed by hand, ledger fine"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_at is not None
    assert incident.resolution_note == "replayed by hand, ledger fine"
    assert AdminAction.objects.get(action="incident_resolve").target_id == str(incident.pk)


# --- operator actions: each asks for a reason, goes through its service, is refused to the
# wrong role (403, no button) and leaves an AdminAction row written with the change.


@pytest.fixture
def member():
    user, _token = user_register(email="member@example.com", password=DEFAULT_PASSWORD)
    return user  # TRIAL access, wallet with the 85-point welcome grant


def test_finance_adjusts_a_wallet_through_the_ledger_services(finance_client, member, monkeypatch):

    credit_calls = spy(monkeypatch, services, "wallet_credit")
    wallet = member.wallet
    change_page = finance_client.get(reverse("admin:wallet_wallet_change", args=[wallet.pk])).content.decode()
    url = op_url("wallet_wallet", "adjust", wallet.pk)
    assert url in change_page  # the button is offered to finance

    form = finance_client.get(url)
    assert form.status_code == 200
    assert form.context["form"]["repeat"].value() == 0  # no per-render token: the intent is the key
    submission = {"direction": "credit", "amount": 40, "reason": "ticket 7: goodwill", "repeat": 0}
    response = finance_client.post(url, submission)
    assert response.status_code == 302
    assert len(credit_calls) == 1 and credit_calls[0]["source"] == "admin"
    wallet.refresh_from_db()
    assert wallet.balance == 125
    operation = wallet.operations.order_by("-seq").first()
    assert (operation.type, operation.amount, operation.source, operation.actor_id) == (
        "credit", 40, "admin", response.wsgi_request.user.pk)
    action = AdminAction.objects.get()
    assert (action.action, action.target_type, action.target_id, action.reason) == (
        "wallet_credit", "wallet.wallet", str(wallet.pk), "ticket 7: goodwill")
    assert action.before["balance"] == 85 and action.after["balance"] == 125
    assert action.after["operation_id"] == operation.pk

    # The same submission posted again (Back + resubmit, double click) adjusts once: the form
    # comes back saying when it was done, with the next repeat ordinal.
    for _ in range(2):
        again = finance_client.post(url, submission)
        assert again.status_code == 200 and "operator_action_repeated" in again.content.decode()
        assert again.context["form"]["repeat"].value() == "1"
    wallet.refresh_from_db()
    assert wallet.balance == 125 and AdminAction.objects.count() == 1

    # Submitting the confirmation (repeat=1) is a deliberate repeat: done once more, and its own
    # Back + resubmit is refused in turn.
    assert finance_client.post(url, {**submission, "repeat": 1}).status_code == 302
    refused = finance_client.post(url, {**submission, "repeat": 1})
    assert refused.status_code == 200 and refused.context["form"]["repeat"].value() == "2"
    wallet.refresh_from_db()
    assert wallet.balance == 165 and AdminAction.objects.count() == 2
    assert len(credit_calls) == 2


def test_wallet_debit_refused_by_the_service_changes_nothing(finance_client, member):
    url = op_url("wallet_wallet", "adjust", member.wallet.pk)
    response = finance_client.post(url, {"direction": "debit", "amount": 500, "reason": "too much"})
    assert response.status_code == 200  # the form again, with the service's refusal
    assert "insufficient_energy" in response.content.decode()
    member.wallet.refresh_from_db()
    assert member.wallet.balance == 85
    assert not AdminAction.objects.exists()


def test_operator_action_needs_a_reason(finance_client, member):
    url = op_url("wallet_wallet", "adjust", member.wallet.pk)
    response = finance_client.post(url, {"direction": "credit", "amount": 5, "reason": "   "})
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    member.wallet.refresh_from_db()
    assert member.wallet.balance == 85 and not AdminAction.objects.exists()


def test_support_cannot_adjust_a_wallet(support_client, member):
    url = op_url("wallet_wallet", "adjust", member.wallet.pk)
    page = support_client.get(reverse("admin:wallet_wallet_change", args=[member.wallet.pk]))
    assert page.status_code == 200 and url not in page.content.decode()  # not offered
    assert support_client.get(url).status_code == 403
    response = support_client.post(url, {"direction": "credit", "amount": 5, "reason": "x"})
    assert response.status_code == 403
    member.wallet.refresh_from_db()
    assert member.wallet.balance == 85 and not AdminAction.objects.exists()


def test_staff_without_a_role_gets_403_and_non_staff_the_login(client, member):
    url = op_url("wallet_wallet", "adjust", member.wallet.pk)
    client.force_login(staff(None))
    assert client.get(url).status_code == 403
    client.force_login(UserFactory())
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_health_check_run_now(finance_client, support_client, member, monkeypatch):

    url = op_url("wallet_incident", "health-run")
    calls = spy(monkeypatch, services, "wallet_health_run")
    wallet_balance_drift(member.wallet, delta=3)
    # support first (same client object: the fixture logged in finance, then support)
    assert support_client.post(url, {"reason": "checking"}).status_code == 403
    assert not JobRun.objects.exists()

    finance_client.force_login(staff(roles.FINANCE))
    assert url in finance_client.get(reverse("admin:wallet_incident_changelist")).content.decode()
    response = finance_client.post(url, {"reason": "after the deploy"})
    assert response.status_code == 302 and len(calls) == 1
    run = JobRun.objects.get()
    # The drifted balance disagrees with the ledger and with the lots.
    assert (run.job, run.outcome, run.summary["critical"]) == ("wallet.health_check", "critical", 2)
    action = AdminAction.objects.get()
    assert (action.action, action.target_type, action.target_id) == ("wallet_health_run", "core.jobrun", str(run.pk))
    assert action.before["open_critical"] == 0 and action.after["open_critical"] == 2


def test_auto_correct_a_warning_through_the_health_correction_path(finance_client, member):

    services.wallet_freeze(user=member, amount=10, action_code="mirror_match", ttl_seconds=300)
    hold_vanish(member.wallet)
    # An earlier run could not correct it (say): an open WARNING incident.
    incident = Incident.objects.create(wallet=member.wallet, code="held_pending_mismatch", severity="warning",
                                       detected_at=timezone.now(), last_seen_at=timezone.now())
    response = finance_client.post(op_url("wallet_wallet", "correct-warning", member.wallet.pk),
                                   {"reason": "hold expired by hand in SQL, ticket 9"})
    assert response.status_code == 302
    member.wallet.refresh_from_db()
    assert member.wallet.held == 0
    correction = member.wallet.operations.order_by("-seq").first()
    assert (correction.type, correction.amount, correction.source) == ("held_correction_down", 10, "system")
    incident.refresh_from_db()
    assert incident.status == "resolved"
    action = AdminAction.objects.get()
    assert action.action == "wallet_warning_correct"
    assert (action.before["held"], action.after["held"], action.after["operation_id"]) == (10, 0, correction.pk)


def test_auto_correct_refused_when_there_is_nothing_to_correct(finance_client, member):
    response = finance_client.post(op_url("wallet_wallet", "correct-warning", member.wallet.pk), {"reason": "try"})
    assert response.status_code == 200 and "nothing_to_correct" in response.content.decode()
    assert not AdminAction.objects.exists()


def test_release_a_stuck_hold(finance_client, support_client, member, monkeypatch):

    hold = services.wallet_freeze(user=member, amount=20, action_code="mirror_match", ttl_seconds=300)
    url = op_url("wallet_hold", "release", hold.pk)
    assert support_client.post(url, {"reason": "stuck"}).status_code == 403

    finance_client.force_login(staff(roles.FINANCE))
    calls = spy(monkeypatch, services, "wallet_release")
    assert url in finance_client.get(reverse("admin:wallet_hold_change", args=[hold.pk])).content.decode()
    response = finance_client.post(url, {"reason": "satellite crashed, ticket 12"})
    assert response.status_code == 302 and calls[0]["hold_id"] == hold.pk
    hold.refresh_from_db()
    member.wallet.refresh_from_db()
    assert hold.status == "released" and member.wallet.held == 0
    action = AdminAction.objects.get()
    assert (action.action, action.target_type, action.before["hold_status"], action.after["hold_status"]) == (
        "hold_release", "wallet.hold", "pending", "released")
    # Released: the button is gone, a second try is refused by the service.
    assert url not in finance_client.get(reverse("admin:wallet_hold_change", args=[hold.pk])).content.decode()
    assert "hold_not_pending" in finance_client.post(url, {"reason": "again"}).content.decode()
    assert AdminAction.objects.count() == 1


def test_resolve_a_wallet_incident_is_finance_only(finance_client, support_client, member):

    incident = Incident.objects.create(wallet=member.wallet, code="hash_chain_broken", severity="critical",
                                       detected_at=timezone.now(), last_seen_at=timezone.now())
    url = op_url("wallet_incident", "resolve", incident.pk)
    assert support_client.post(url, {"reason": "fine"}).status_code == 403
    finance_client.force_login(staff(roles.FINANCE))
    assert finance_client.post(url, {"reason": "restored from backup"}).status_code == 302
    incident.refresh_from_db()
    assert incident.status == "resolved" and AdminAction.objects.get().action == "incident_resolve"
