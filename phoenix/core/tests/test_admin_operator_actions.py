"""Operator actions: each asks for a reason, goes through its service, is refused to the
wrong role (403, no button) and leaves an AdminAction row written with the change."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from phoenix.core import roles
from phoenix.core.models import AdminAction
from phoenix.core.tests.dashboard_data import hold_vanish, wallet_balance_drift

pytestmark = pytest.mark.django_db


def staff(role: str | None):
    user = UserFactory(is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def finance_client(client):
    client.force_login(staff(roles.FINANCE))
    return client


@pytest.fixture
def support_client(client):
    client.force_login(staff(roles.SUPPORT))
    return client


@pytest.fixture
def member():
    user, _token = user_register(email="member@example.com", password=DEFAULT_PASSWORD)
    return user  # TRIAL access, wallet with the 85-point welcome grant


def spy(monkeypatch, module, name):
    """Wrap module.name so the test sees that the operator action called that service."""
    calls = []
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def op_url(model_label: str, name: str, *args) -> str:
    return reverse(f"admin:{model_label}_operator_{name}", args=args)


# --- wallet --------------------------------------------------------------------------------


def test_finance_adjusts_a_wallet_through_the_ledger_services(finance_client, member, monkeypatch):
    from wallet import services

    credit_calls = spy(monkeypatch, services, "wallet_credit")
    wallet = member.wallet
    change_page = finance_client.get(reverse("admin:wallet_wallet_change", args=[wallet.pk])).content.decode()
    url = op_url("wallet_wallet", "adjust", wallet.pk)
    assert url in change_page  # the button is offered to finance

    form = finance_client.get(url)
    assert form.status_code == 200
    token = form.context["form"]["request_token"].value()
    response = finance_client.post(url, {"direction": "credit", "amount": 40, "reason": "ticket 7: goodwill",
                                         "request_token": token})
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

    # The same form posted twice (double click, back button) adjusts once.
    finance_client.post(url, {"direction": "credit", "amount": 40, "reason": "ticket 7: goodwill",
                              "request_token": token})
    wallet.refresh_from_db()
    assert wallet.balance == 125 and AdminAction.objects.count() == 1


def test_wallet_debit_refused_by_the_service_changes_nothing(finance_client, member):
    url = op_url("wallet_wallet", "adjust", member.wallet.pk)
    response = finance_client.post(url, {"direction": "debit", "amount": 500, "reason": "too much",
                                         "request_token": "t1"})
    assert response.status_code == 200  # the form again, with the service's refusal
    assert "insufficient_energy" in response.content.decode()
    member.wallet.refresh_from_db()
    assert member.wallet.balance == 85
    assert not AdminAction.objects.exists()


def test_operator_action_needs_a_reason(finance_client, member):
    url = op_url("wallet_wallet", "adjust", member.wallet.pk)
    response = finance_client.post(url, {"direction": "credit", "amount": 5, "reason": "   ", "request_token": "t"})
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    member.wallet.refresh_from_db()
    assert member.wallet.balance == 85 and not AdminAction.objects.exists()


def test_support_cannot_adjust_a_wallet(support_client, member):
    url = op_url("wallet_wallet", "adjust", member.wallet.pk)
    page = support_client.get(reverse("admin:wallet_wallet_change", args=[member.wallet.pk]))
    assert page.status_code == 200 and url not in page.content.decode()  # not offered
    assert support_client.get(url).status_code == 403
    response = support_client.post(url, {"direction": "credit", "amount": 5, "reason": "x", "request_token": "t"})
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
    from phoenix.core.models import JobRun
    from wallet import services

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
    assert (run.job, run.outcome, run.summary["critical"]) == ("wallet.health_check", "critical", 1)
    action = AdminAction.objects.get()
    assert (action.action, action.target_type, action.target_id) == ("wallet_health_run", "core.jobrun", str(run.pk))
    assert action.before["open_critical"] == 0 and action.after["open_critical"] == 1


def test_auto_correct_a_warning_through_the_health_correction_path(finance_client, member):
    from wallet import services
    from wallet.models import Incident

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
    from wallet import services

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
    from wallet.models import Incident

    incident = Incident.objects.create(wallet=member.wallet, code="hash_chain_broken", severity="critical",
                                       detected_at=timezone.now(), last_seen_at=timezone.now())
    url = op_url("wallet_incident", "resolve", incident.pk)
    assert support_client.post(url, {"reason": "fine"}).status_code == 403
    finance_client.force_login(staff(roles.FINANCE))
    assert finance_client.post(url, {"reason": "restored from backup"}).status_code == 302
    incident.refresh_from_db()
    assert incident.status == "resolved" and AdminAction.objects.get().action == "incident_resolve"


# --- billing -------------------------------------------------------------------------------


def _failed_event(event_type: str, payload: dict):
    from billing.models import WebhookEvent

    return WebhookEvent.objects.create(stripe_id=f"evt_{event_type}_{WebhookEvent.objects.count()}", type=event_type,
                                       payload=payload, status="failed", error="boom", attempts=1, deliveries=1)


def test_reprocess_a_failed_webhook(finance_client, support_client, monkeypatch):
    # No handler any more for this type (say it was removed): re-processing settles it as ignored.
    event = _failed_event("customer.created", {"id": "evt_x", "type": "customer.created", "data": {"object": {}}})
    url = op_url("billing_webhookevent", "reprocess", event.pk)
    assert support_client.post(url, {"reason": "retry"}).status_code == 403

    finance_client.force_login(staff(roles.FINANCE))
    from billing.services import operator as billing_operator

    calls = spy(monkeypatch, billing_operator, "webhook_event_reprocess")
    assert url in finance_client.get(reverse("admin:billing_webhookevent_change", args=[event.pk])).content.decode()
    assert finance_client.post(url, {"reason": "handler fixed in 1.4"}).status_code == 302
    assert calls == [{"webhook_event_id": event.pk}]
    event.refresh_from_db()
    assert event.status == "ignored"
    action = AdminAction.objects.get()
    assert (action.action, action.before["status"], action.after["status"]) == ("webhook_reprocess", "failed",
                                                                                "ignored")


def test_reprocess_that_fails_again_is_recorded_not_lost(finance_client, monkeypatch):
    from billing import webhooks

    def handler_still_broken(event):
        raise RuntimeError("still broken")

    monkeypatch.setattr(webhooks, "dispatch", handler_still_broken)
    event = _failed_event("invoice.paid", {"id": "evt_bad", "type": "invoice.paid", "data": {"object": {}}})
    response = finance_client.post(op_url("billing_webhookevent", "reprocess", event.pk), {"reason": "retry"})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.status == "failed" and event.attempts == 2
    action = AdminAction.objects.get()
    assert action.after == {"status": "failed", "attempts": 2, "error": event.error[:500]}


def test_bulk_reprocess_asks_for_a_reason_then_audits_each_event(finance_client):
    events = [_failed_event("customer.created", {"id": f"e{i}", "type": "customer.created", "data": {"object": {}}})
              for i in range(2)]
    response = finance_client.post(reverse("admin:billing_webhookevent_changelist"),
                                   {"action": "reprocess_selected", "_selected_action": [e.pk for e in events]})
    assert response.status_code == 302
    reason_page = response["Location"]
    assert "operator/reprocess-selected/" in reason_page
    assert finance_client.post(reason_page, {"reason": "outage over"}).status_code == 302
    assert AdminAction.objects.filter(action="webhook_reprocess").count() == 2


def test_support_is_not_offered_the_bulk_reprocess(support_client):
    _failed_event("customer.created", {"id": "e", "type": "customer.created", "data": {"object": {}}})
    page = support_client.get(reverse("admin:billing_webhookevent_changelist"))
    assert page.status_code == 200 and "reprocess_selected" not in page.content.decode()


def test_settle_a_shortfall_and_resolve_a_reconciliation_incident(finance_client, dashboard_data):
    from billing.models import PaymentReversal, ReconciliationIncident

    reversal = PaymentReversal.objects.get(shortfall__gt=0)
    incident = ReconciliationIncident.objects.get()
    assert finance_client.post(op_url("billing_paymentreversal", "settle", reversal.pk),
                               {"reason": "written off"}).status_code == 302
    assert finance_client.post(op_url("billing_reconciliationincident", "resolve", incident.pk),
                               {"reason": "credited by hand, see AdminAction"}).status_code == 302
    reversal.refresh_from_db()
    incident.refresh_from_db()
    assert reversal.resolved_at is not None and reversal.resolution_note == "written off"
    assert incident.status == "resolved"
    assert set(AdminAction.objects.values_list("action", flat=True)) == {
        "payment_shortfall_resolve", "reconciliation_incident_resolve"}


# --- licenses ------------------------------------------------------------------------------


def test_suspend_and_reactivate_a_pro_account(finance_client, support_client, monkeypatch):
    from licenses import services
    from licenses.tests.factories import pro_account
    from subscriptions.selectors import check_premium_access

    now = timezone.now()
    account = pro_account(now=now)
    seats = services.license_purchase(pro_account=account, kind="monthly", quantity=2, event_time=now).licenses
    services.license_assign(license=seats[0], collaborator=account.owner, now=now)
    suspend = op_url("licenses_proaccount", "suspend", account.pk)
    reactivate = op_url("licenses_proaccount", "reactivate", account.pk)
    assert support_client.post(suspend, {"reason": "fraud"}).status_code == 403

    finance_client.force_login(staff(roles.FINANCE))
    calls = spy(monkeypatch, services, "pro_account_suspend")
    page = finance_client.get(reverse("admin:licenses_proaccount_change", args=[account.pk])).content.decode()
    assert suspend in page and reactivate not in page
    assert finance_client.post(suspend, {"reason": "chargeback on the seats invoice"}).status_code == 302
    assert len(calls) == 1
    account.refresh_from_db()
    assert account.status == "suspended"
    assert set(account.licenses.values_list("status", flat=True)) == {"suspended"}
    assert not check_premium_access(account.owner)
    action = AdminAction.objects.get()
    assert action.before == {"status": "active", "licenses": {"active": 1, "available": 1}}
    assert action.after == {"status": "suspended", "licenses": {"suspended": 2}}

    page = finance_client.get(reverse("admin:licenses_proaccount_change", args=[account.pk])).content.decode()
    assert reactivate in page and suspend not in page
    assert finance_client.post(reactivate, {"reason": "paid by transfer"}).status_code == 302
    account.refresh_from_db()
    assert account.status == "active" and check_premium_access(account.owner)
    assert AdminAction.objects.filter(action="pro_account_reactivate").count() == 1
