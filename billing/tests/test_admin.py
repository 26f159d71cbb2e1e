"""Billing operator actions in the admin: reason asked, service called, role checked, audited."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from djstripe import models as djstripe_models

from billing import operator as billing_operator
from billing import webhooks
from billing.models import Payment, PaymentReversal, ReconciliationIncident, WebhookEvent
from billing.services.payments import payment_reverse, payment_succeed
from billing.stripe_payloads import stripe_id
from billing.tests.helpers import buy_pack, monthly_pro, start_monthly
from phoenix.accounts.tests.factories import UserFactory
from phoenix.core import roles
from phoenix.core.models import AdminAction
from phoenix.core.tests.operator import op_url, spy, staff
from subscriptions.models import Access
from wallet import services as wallet_services

pytestmark = pytest.mark.django_db



def _failed_event(event_type: str, payload: dict):

    return WebhookEvent.objects.create(stripe_id=f"evt_{event_type}_{WebhookEvent.objects.count()}", type=event_type,
                                       payload=payload, status="failed", error="boom", attempts=1, deliveries=1)


def test_reprocess_a_failed_webhook(finance_client, support_client, monkeypatch):
    # No handler any more for this type (say it was removed): re-processing settles it as ignored.
    event = _failed_event("customer.created", {"id": "evt_x", "type": "customer.created", "data": {"object": {}}})
    url = op_url("billing_webhookevent", "reprocess", event.pk)
    assert support_client.post(url, {"reason": "retry"}).status_code == 403

    finance_client.force_login(staff(roles.FINANCE))

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


@pytest.fixture
def refunded_after_spending(registered_user):
    """A pack paid, mostly spent, then refunded (a shortfall), and an open reconciliation incident."""
    payment = Payment.objects.create(user=registered_user, flow="payment_intent", product_kind="energy_pack",
                                     product_code="petit_dej_luna", amount_cents=599, currency="eur",
                                     stripe_payment_intent_id=stripe_id("pi"))
    with transaction.atomic():
        payment_succeed(payment_id=payment.pk)
    wallet_services.wallet_debit(user=registered_user, amount=120, source="admin", reason="test: spend before refund")
    with transaction.atomic():
        payment_reverse(payment_id=payment.pk, kind="refund", stripe_object_id=stripe_id("ch"),
                        amount_refunded_cents=599, fully_refunded=True)
    now = timezone.now()
    ReconciliationIncident.objects.create(code="payment_without_credit", subject=f"payment:{payment.pk}",
                                          payment=payment, detected_at=now, last_seen_at=now)


@pytest.mark.usefixtures("refunded_after_spending")
def test_settle_a_shortfall_and_resolve_a_reconciliation_incident(finance_client):
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


@pytest.mark.django_db(transaction=True)
def test_stripe_mirror_group_is_read_only_links_both_ways_and_hides_the_rest(
        client, buyer, stripe_keys, eager_celery, plans):
    payment, _event = buy_pack(client, stripe_keys, buyer)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    index = client.get("/admin/").content.decode()
    assert "Stripe mirror" in index
    assert "/admin/djstripe/charge/" in index and "/admin/djstripe/plan/" not in index
    assert client.get("/admin/djstripe/plan/").status_code == 404
    payment_page = client.get(f"/admin/billing/payment/{payment.pk}/change/").content.decode()
    charge = payment.mirror_charge()
    assert f"/admin/djstripe/charge/{charge.pk}/change/" in payment_page
    charge_page = client.get(f"/admin/djstripe/charge/{charge.pk}/change/")
    assert charge_page.status_code == 200
    assert f"/admin/billing/payment/{payment.pk}/change/" in charge_page.content.decode()
    assert b'name="_save"' not in charge_page.content
    session_page = client.get(f"/admin/djstripe/session/{payment.mirror_checkout_session().pk}/change/")
    assert f"/admin/billing/payment/{payment.pk}/change/" in session_page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_mirrored_subscription_and_customer_link_to_the_access_and_the_user(
        client, buyer, stripe_keys, eager_celery, plans):
    _payment, sub, _ = start_monthly(client, stripe_keys, buyer)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    mirrored = djstripe_models.Subscription.objects.get(id=sub["id"])
    access_row = Access.objects.get(user=buyer)

    page = client.get(f"/admin/djstripe/subscription/{mirrored.pk}/change/").content.decode()
    assert f"/admin/subscriptions/access/{access_row.pk}/change/" in page
    page = client.get(f"/admin/subscriptions/access/{access_row.pk}/change/").content.decode()
    assert f"/admin/djstripe/subscription/{mirrored.pk}/change/" in page
    customer = djstripe_models.Customer.objects.get(subscriber=buyer)
    page = client.get(f"/admin/djstripe/customer/{customer.pk}/change/").content.decode()
    assert f"/admin/accounts/user/{buyer.pk}/change/" in page


@pytest.mark.django_db(transaction=True)
def test_pro_account_and_its_mirrored_grouped_subscription_link_both_ways(
        client, packs, stripe_keys, eager_celery, plans):
    owner, account = monthly_pro(client, stripe_keys, quantity=2)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    mirrored = djstripe_models.Subscription.objects.get(id=account.stripe_subscription_id)
    assert mirrored.customer == djstripe_models.Customer.objects.get(subscriber=owner)  # the owner's customer

    page = client.get(f"/admin/licenses/proaccount/{account.pk}/change/").content.decode()
    assert f"/admin/djstripe/subscription/{mirrored.pk}/change/" in page
    page = client.get(f"/admin/djstripe/subscription/{mirrored.pk}/change/").content.decode()
    assert f"/admin/licenses/proaccount/{account.pk}/change/" in page


@pytest.mark.usefixtures("refunded_after_spending")
def test_a_shortfall_and_a_reconciliation_incident_show_their_runbook(support_client):
    reversal = PaymentReversal.objects.get(shortfall__gt=0)
    body = support_client.get(reverse("admin:billing_paymentreversal_change", args=[reversal.pk])).content.decode()
    assert f'<a id="runbook" href="{reverse("admin:runbook", args=["payment_reversal_shortfall"])}">runbook</a>' \
        in body
    assert "<h2>Repair</h2>" in body
    incident = ReconciliationIncident.objects.get()
    body = support_client.get(reverse("admin:billing_reconciliationincident_change",
                                      args=[incident.pk])).content.decode()
    assert reverse("admin:runbook", args=["payment_without_credit"]) in body
    assert '<pre class="phoenix-json">{}</pre>' in body  # this one's detail is empty
