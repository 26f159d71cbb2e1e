"""Stripe webhook handlers: the pipeline (signature, storage, dispatch, failures, ordering),
payments, refunds and disputes, individual subscriptions, pro seat renewals."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client

from billing import products, webhooks
from billing.errors import WebhookEventNotFailed
from billing.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.selectors import reversal_shortfalls_open
from billing.services.webhooks import webhook_event_reprocess
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.helpers import (
    DAY,
    WELCOME,
    access,
    balance,
    bought,
    completed_event,
    credits_for,
    debits_for,
    f_token,
    grouped_invoice,
    invoice_event,
    nothing_processed,
    plan_metadata,
    premium_user,
    pro_with_assigned_seats,
    seats,
    seats_metadata,
    start_monthly,
    sub_event,
    ts,
)
from licenses.models import LicenseKind, LicenseStatus, ProAccountStatus
from subscriptions.models import AccessEvent, AccessType
from subscriptions.selectors import check_premium_access
from subscriptions.services import access_activate_premium, access_grant_lifetime
from wallet.models import EnergyLot
from wallet.services import wallet_debit

pytestmark = pytest.mark.django_db


def test_renewal_failure_suspends_monthly_seats_only_then_payment_reactivates(client, webhook_secret, packs, plans):
    owner, account, monthly_holder, lifetime_holder, start = pro_with_assigned_seats(client)
    renewal = start + 31 * DAY
    assert check_premium_access(monthly_holder) and check_premium_access(lifetime_holder)

    failed = grouped_invoice("invoice.payment_failed", owner, created=renewal, status="open")
    assert f.post_event(client, failed).status_code == 200
    account.refresh_from_db()
    assert account.status == ProAccountStatus.SUSPENDED
    assert set(seats(owner, kind=LicenseKind.MONTHLY).values_list("status", flat=True)) == {LicenseStatus.SUSPENDED}
    assert seats(owner, kind=LicenseKind.LIFETIME).get().status == LicenseStatus.ACTIVE
    assert not check_premium_access(monthly_holder)
    assert check_premium_access(lifetime_holder)

    # Stripe's next attempt fails too (same invoice): nothing more happens.
    again = grouped_invoice("invoice.payment_failed", owner, created=renewal + 3 * DAY, status="open")
    assert f.post_event(client, again).status_code == 200
    assert account.events.filter(kind="renewal_failed").count() == 1
    # A paid invoice of the previous cycle delivered late does not lift the suspension.
    late = grouped_invoice("invoice.paid", owner, created=renewal - DAY, invoice_id="in_test_grouped_1")
    assert f.post_event(client, late).status_code == 200
    account.refresh_from_db()
    assert account.status == ProAccountStatus.SUSPENDED

    paid = grouped_invoice("invoice.paid", owner, created=renewal + 5 * DAY)
    assert f.post_event(client, paid).status_code == 200
    assert f.post_event(client, paid).status_code == 200
    account.refresh_from_db()
    assert account.status == ProAccountStatus.ACTIVE
    assert sorted(seats(owner, kind=LicenseKind.MONTHLY).values_list("status", flat=True)) == [
        LicenseStatus.ACTIVE, LicenseStatus.AVAILABLE]
    assert check_premium_access(monthly_holder)
    assert account.events.filter(kind="renewal_paid").count() == 1


def test_the_first_grouped_invoice_is_the_checkout_not_a_renewal(client, webhook_secret, packs, plans):
    owner, account, *_rest, start = pro_with_assigned_seats(client)
    first = grouped_invoice("invoice.paid", owner, created=start, invoice_id="in_test_first",
                            reason="subscription_create")
    assert f.post_event(client, first).status_code == 200
    assert not account.events.filter(kind="renewal_paid").exists()
    assert seats(owner).count() == 3


def test_grouped_subscription_deleted_suspends_monthly_seats(client, webhook_secret, packs, plans):
    owner, account, monthly_holder, lifetime_holder, start = pro_with_assigned_seats(client)
    sub = f.subscription(subscription_id="sub_test_grouped", metadata=seats_metadata(owner), status="canceled",
                         quantity=2)
    deleted = f.event("customer.subscription.deleted", sub, created=start + 40 * DAY)
    assert f.post_event(client, deleted).status_code == 200
    account.refresh_from_db()
    assert account.status == ProAccountStatus.SUSPENDED
    assert not check_premium_access(monthly_holder) and check_premium_access(lifetime_holder)


def test_monthly_checkout_makes_premium_until_the_subscription_period_end(client, stripe_keys, buyer, plans):
    payment, sub, event = start_monthly(client, stripe_keys, buyer)

    session_request = next(p for m, path, p, _ in stripe_keys.requests if path == "/v1/checkout/sessions")
    assert session_request["mode"] == "subscription"
    assert session_request["line_items"][0]["price_data"]["recurring"] == {"interval": "month"}
    assert session_request["line_items"][0]["price_data"]["unit_amount"] == "2999"
    assert session_request["subscription_data"]["metadata"] == plan_metadata(buyer)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert (payment.product_kind, payment.product_code, payment.amount_cents) == ("plan", "luna_unlimited", 2999)
    row = access(buyer)
    assert row.type == AccessType.PREMIUM
    assert row.stripe_subscription_id == sub["id"]
    assert row.current_period_end == datetime.fromtimestamp(sub["items"]["data"][0]["current_period_end"], UTC)
    assert row.billing_event_at == datetime.fromtimestamp(event["created"], UTC)

    # Replayed: nothing twice.
    assert f.post_event(client, event).status_code == 200
    assert AccessEvent.objects.filter(access=row, kind="premium_activated").count() == 1


def test_luna_unlimited_is_sold_as_the_plan_not_a_pack_and_not_twice(stripe_keys, buyer, plans):
    client = f_token(buyer)
    assert client.post("/billing/checkout", {"product": "plan:luna_unlimited"}, format="json").status_code == 201
    response = client.post("/billing/create-intent", {"product": "plan:luna_unlimited"}, format="json")
    assert response.status_code == 400 and response.json()["error"] == "checkout_required"

    now = datetime.now(UTC)
    access_activate_premium(user=buyer, period_end=now + timedelta(days=30), event_time=now,
                            stripe_subscription_id="sub_x")
    response = client.post("/billing/checkout", {"product": "luna_unlimited"}, format="json")
    assert response.status_code == 409 and response.json()["error"] == "already_premium"


def test_lifetime_user_cannot_buy_a_plan(stripe_keys, buyer, plans):
    access_grant_lifetime(user=buyer, event_time=datetime.now(UTC))
    for product in ("luna_unlimited", "luna_lifetime"):
        response = f_token(buyer).post("/billing/checkout", {"product": product}, format="json")
        assert response.status_code == 409 and response.json()["error"] == "already_lifetime"


def test_subscription_checkout_without_stripe_keys_activates_for_one_month(client, webhook_secret, buyer, plans):
    # Signed demo events (no Stripe keys): the session only names its subscription.
    session = f.subscription_checkout_session(metadata=plan_metadata(buyer))
    created = ts(datetime(2026, 1, 31, 10, tzinfo=UTC))
    with_time = f.event("checkout.session.completed", session, created=created)
    assert f.post_event(client, with_time, timestamp=int(time.time())).status_code == 200
    row = access(buyer)
    assert row.type == AccessType.PREMIUM
    assert row.current_period_end == datetime(2026, 2, 28, 10, tzinfo=UTC)  # clipped, as Stripe does
    # The first invoice then gives the exact end.
    exact = ts(datetime(2026, 2, 28, 10, 0, 5, tzinfo=UTC))
    event = invoice_event("invoice.paid", user=buyer, sub_id=session["subscription"], period_start=created,
                          period_end=exact, reason="subscription_create", created=created + 1)
    assert f.post_event(client, event).status_code == 200
    assert access(buyer).current_period_end == datetime.fromtimestamp(exact, UTC)


@pytest.mark.django_db(transaction=True)
def test_lifetime_checkout_makes_lifetime_and_cancels_the_monthly_plan(stripe_keys, packs, plans, eager_celery):
    client = Client()
    buyer = make_buyer()
    _, sub, _ = start_monthly(client, stripe_keys, buyer)

    response = f_token(buyer).post("/billing/checkout", {"product": "luna_lifetime"}, format="json")
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(public_id=response.json()["payment_id"])
    session = stripe_keys.complete_session(payment.stripe_checkout_session_id)
    assert session["mode"] == "payment" and session["amount_total"] == 29900
    assert f.post_event(client, f.event("checkout.session.completed", session)).status_code == 200

    assert access(buyer).type == AccessType.LIFETIME
    # The monthly plan is canceled at Stripe after commit (a retried Celery task).
    assert stripe_keys.subscriptions[sub["id"]]["status"] == "canceled"
    # Its deletion event then changes nothing: lifetime outranks it.
    deleted = f.event("customer.subscription.deleted", stripe_keys.subscriptions[sub["id"]])
    assert f.post_event(client, deleted).status_code == 200
    assert access(buyer).type == AccessType.LIFETIME


def test_first_invoice_before_checkout_completion_activates_once(client, webhook_secret, buyer, plans):
    start = premium_user(client, buyer)
    row = access(buyer)
    assert row.current_period_end == datetime.fromtimestamp(start + 31 * DAY, UTC)
    assert AccessEvent.objects.filter(access=row, kind="premium_activated").count() == 1


def test_renewal_moves_the_period_end_forward_once_and_never_back(client, webhook_secret, buyer, plans):
    start = premium_user(client, buyer)
    cycle2 = start + 31 * DAY
    renewal = invoice_event("invoice.paid", user=buyer, sub_id="sub_test_premium", period_start=cycle2,
                            period_end=cycle2 + 30 * DAY)
    for _ in range(3):
        assert f.post_event(client, renewal).status_code == 200
    row = access(buyer)
    assert row.current_period_end == datetime.fromtimestamp(cycle2 + 30 * DAY, UTC)
    assert AccessEvent.objects.filter(access=row, kind="premium_renewed").count() == 1

    # An older renewal delivered late does not move it back.
    older = invoice_event("invoice.paid", user=buyer, sub_id="sub_test_premium", period_start=start,
                          period_end=start + 31 * DAY, created=start + 5)
    assert f.post_event(client, older).status_code == 200
    assert access(buyer).current_period_end == datetime.fromtimestamp(cycle2 + 30 * DAY, UTC)


def test_first_failed_renewal_expires_then_a_paid_retry_revives(client, webhook_secret, buyer, plans):
    start = premium_user(client, buyer)
    cycle2 = start + 31 * DAY
    invoice_id = "in_test_cycle2"
    failed = invoice_event("invoice.payment_failed", user=buyer, sub_id="sub_test_premium", period_start=cycle2,
                           period_end=cycle2 + 30 * DAY, invoice_id=invoice_id, status="open")
    assert f.post_event(client, failed).status_code == 200
    assert access(buyer).type == AccessType.EXPIRED  # at once, at the first failure

    # Stripe's second attempt on the same invoice fails too: a new event, same invoice.
    again = invoice_event("invoice.payment_failed", user=buyer, sub_id="sub_test_premium", period_start=cycle2,
                          period_end=cycle2 + 30 * DAY, invoice_id=invoice_id, status="open",
                          created=cycle2 + 3 * DAY)
    assert f.post_event(client, again).status_code == 200
    assert AccessEvent.objects.filter(access__user=buyer, kind="payment_failed").count() == 1

    # The third attempt succeeds: the same invoice is paid.
    paid = invoice_event("invoice.paid", user=buyer, sub_id="sub_test_premium", period_start=cycle2,
                         period_end=cycle2 + 30 * DAY, invoice_id=invoice_id, created=cycle2 + 5 * DAY)
    assert f.post_event(client, paid).status_code == 200
    row = access(buyer)
    assert row.type == AccessType.PREMIUM
    assert row.current_period_end == datetime.fromtimestamp(cycle2 + 30 * DAY, UTC)


def test_a_late_paid_event_older_than_the_failure_does_not_revive(client, webhook_secret, buyer, plans):
    start = premium_user(client, buyer)
    cycle2 = start + 31 * DAY
    failed = invoice_event("invoice.payment_failed", user=buyer, sub_id="sub_test_premium", period_start=cycle2,
                           period_end=cycle2 + 30 * DAY, status="open", created=cycle2 + 60)
    paid_before = invoice_event("invoice.paid", user=buyer, sub_id="sub_test_premium", period_start=cycle2,
                                period_end=cycle2 + 30 * DAY, invoice_id="in_test_other", created=cycle2)
    assert f.post_event(client, failed).status_code == 200
    assert f.post_event(client, paid_before).status_code == 200
    assert access(buyer).type == AccessType.EXPIRED


def test_invoices_of_someone_elses_subscription_are_ignored(client, webhook_secret, buyer, plans):
    start = premium_user(client, buyer)
    foreign = f.invoice(subscription_id="sub_test_not_ours", period_start=start + 31 * DAY, status="open")
    response = f.post_event(client, f.event("invoice.payment_failed", foreign, created=start + 40 * DAY))
    assert response.status_code == 200 and response.json()["status"] == "processed"
    assert access(buyer).type == AccessType.PREMIUM
    # An old subscription of this very user (replaced since) cannot expire the new one.
    old = invoice_event("invoice.payment_failed", user=buyer, sub_id="sub_test_old", period_start=start,
                        status="open", created=start + 40 * DAY)
    assert f.post_event(client, old).status_code == 200
    assert access(buyer).type == AccessType.PREMIUM


def test_cancel_at_period_end_and_resume_in_either_order(client, webhook_secret, buyer, plans):
    start = premium_user(client, buyer)
    cancel = sub_event("customer.subscription.updated", user=buyer, created=start + DAY,
                       cancel_at_period_end=True, previous={"cancel_at_period_end": False})
    resume = sub_event("customer.subscription.updated", user=buyer, created=start + 2 * DAY,
                       cancel_at_period_end=False, previous={"cancel_at_period_end": True})

    assert f.post_event(client, cancel).status_code == 200
    row = access(buyer)
    assert row.type == AccessType.PREMIUM and row.cancel_at_period_end is True
    assert f.post_event(client, resume).status_code == 200
    assert access(buyer).cancel_at_period_end is False
    # Replays, and the older "cancel" delivered again after the "resume": no change.
    assert f.post_event(client, cancel).status_code == 200
    assert f.post_event(client, resume).status_code == 200
    assert access(buyer).cancel_at_period_end is False
    assert AccessEvent.objects.filter(access__user=buyer, kind="cancel_scheduled").count() == 1


def test_resume_delivered_before_the_cancel_it_follows(client, webhook_secret, buyer, plans):
    start = premium_user(client, buyer)
    cancel = sub_event("customer.subscription.updated", user=buyer, created=start + DAY,
                       cancel_at_period_end=True, previous={"cancel_at_period_end": False})
    resume = sub_event("customer.subscription.updated", user=buyer, created=start + 2 * DAY,
                       cancel_at_period_end=False, previous={"cancel_at_period_end": True})
    assert f.post_event(client, resume).status_code == 200
    assert f.post_event(client, cancel).status_code == 200
    assert access(buyer).cancel_at_period_end is False  # the newest state wins


def test_other_subscription_updates_do_not_shadow_an_older_failure(client, webhook_secret, buyer, plans):
    start = premium_user(client, buyer)
    cycle2 = start + 31 * DAY
    # Stripe sends "status: past_due" right after the failure; delivered first here.
    past_due = sub_event("customer.subscription.updated", user=buyer, created=cycle2 + 1, status="past_due",
                         previous={"status": "active"})
    failed = invoice_event("invoice.payment_failed", user=buyer, sub_id="sub_test_premium", period_start=cycle2,
                           status="open", created=cycle2)
    assert f.post_event(client, past_due).status_code == 200
    assert f.post_event(client, failed).status_code == 200
    assert access(buyer).type == AccessType.EXPIRED


def test_cancel_flag_for_an_access_that_already_expired_is_acknowledged(client, webhook_secret, buyer, plans):
    start = premium_user(client, buyer)
    failed = invoice_event("invoice.payment_failed", user=buyer, sub_id="sub_test_premium",
                           period_start=start + 31 * DAY, status="open")
    assert f.post_event(client, failed).status_code == 200
    cancel = sub_event("customer.subscription.updated", user=buyer, created=start + 32 * DAY,
                       cancel_at_period_end=True, previous={"cancel_at_period_end": False})
    response = f.post_event(client, cancel)
    assert response.status_code == 200 and response.json()["status"] == "processed"
    assert access(buyer).type == AccessType.EXPIRED


def test_subscription_deleted_expires_once(client, webhook_secret, buyer, plans):
    start = premium_user(client, buyer)
    deleted = sub_event("customer.subscription.deleted", user=buyer, created=start + 31 * DAY,
                        status="canceled", canceled_at=start + 31 * DAY, ended_at=start + 31 * DAY)
    assert f.post_event(client, deleted).status_code == 200
    assert f.post_event(client, deleted).status_code == 200
    row = access(buyer)
    assert row.type == AccessType.EXPIRED and row.cancel_at_period_end is False
    assert AccessEvent.objects.filter(access=row, kind="premium_ended").count() == 1
    # The renewal of a period before the end, delivered late, does not revive it.
    late = invoice_event("invoice.paid", user=buyer, sub_id="sub_test_premium", period_start=start + 20 * DAY,
                         created=start + 20 * DAY)
    assert f.post_event(client, late).status_code == 200
    assert access(buyer).type == AccessType.EXPIRED


def test_pack_purchase_credits_energy_and_first_purchase_bonus(client, webhook_secret, buyer):
    payload = completed_event(buyer)

    response = f.post_event(client, payload)

    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "status": "processed"}
    payment = Payment.objects.get(stripe_checkout_session_id=payload["data"]["object"]["id"])
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.user == buyer
    assert payment.stripe_payment_intent_id == payload["data"]["object"]["payment_intent"]
    assert payment.fulfilled_quantity == 110  # 100 + 10 % first-purchase bonus
    assert balance(buyer) == WELCOME + 110
    [credit] = credits_for(payment)
    assert credit.amount == 110 and credit.source == "stripe"
    record = WebhookEvent.objects.get(stripe_id=payload["id"])
    assert record.status == WebhookEventStatus.PROCESSED
    assert record.processed_at is not None and record.attempts == 1
    assert record.payload == payload


def test_bonus_only_on_the_first_pack(client, webhook_secret, buyer):
    assert f.post_event(client, completed_event(buyer)).status_code == 200
    assert f.post_event(client, completed_event(buyer)).status_code == 200
    assert f.post_event(client, completed_event(buyer, code="petit_dej_luna", amount=599)).status_code == 200

    quantities = sorted(Payment.objects.filter(user=buyer).values_list("fulfilled_quantity", flat=True))
    assert quantities == [100, 100, 110]
    assert balance(buyer) == WELCOME + 310


def test_unpaid_async_session_waits_for_async_success(client, webhook_secret, buyer):
    session = f.checkout_session(metadata=f.phoenix_metadata(user=buyer), payment_status="unpaid")
    assert f.post_event(client, f.event("checkout.session.completed", session)).status_code == 200
    payment = Payment.objects.get(stripe_checkout_session_id=session["id"])
    assert payment.status == PaymentStatus.PENDING
    assert balance(buyer) == WELCOME

    session = {**session, "payment_status": "paid"}
    assert f.post_event(client, f.event("checkout.session.async_payment_succeeded", session)).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert balance(buyer) == WELCOME + 110


def test_async_payment_failed_and_expired(client, webhook_secret, buyer):
    failed = f.checkout_session(metadata=f.phoenix_metadata(user=buyer), payment_status="unpaid")
    f.post_event(client, f.event("checkout.session.async_payment_failed", failed))
    expired = f.checkout_session(metadata=f.phoenix_metadata(user=buyer), payment_status="unpaid",
                                 status="expired", payment_intent="")
    f.post_event(client, f.event("checkout.session.expired", expired))

    assert Payment.objects.get(stripe_checkout_session_id=failed["id"]).status == PaymentStatus.FAILED
    assert Payment.objects.get(stripe_checkout_session_id=expired["id"]).status == PaymentStatus.CANCELED
    assert balance(buyer) == WELCOME


def test_session_of_someone_else_is_left_alone(client, webhook_secret, buyer):
    session = f.checkout_session(metadata={})  # not created by Phoenix billing
    response = f.post_event(client, f.event("checkout.session.completed", session))
    assert response.status_code == 200
    assert not Payment.objects.exists()


def test_same_event_three_times_credits_once(client, webhook_secret, buyer):
    payload = completed_event(buyer)
    statuses = [f.post_event(client, payload).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    payment = Payment.objects.get()
    assert len(credits_for(payment)) == 1
    assert balance(buyer) == WELCOME + 110
    record = WebhookEvent.objects.get()
    assert (record.deliveries, record.attempts) == (3, 1)


def test_different_events_for_one_payment_credit_once(client, webhook_secret, buyer):
    # completed + async_payment_succeeded describe the same session: two events, one effect.
    payload = completed_event(buyer)
    session = payload["data"]["object"]
    f.post_event(client, payload)
    f.post_event(client, f.event("checkout.session.async_payment_succeeded", session))

    assert len(credits_for(Payment.objects.get())) == 1
    assert WebhookEvent.objects.filter(status="processed").count() == 2


def test_bad_signature_is_400_and_nothing_stored(client, webhook_secret, buyer):
    response = f.post_event(client, completed_event(buyer), secret="whsec_wrong")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_signature"
    assert not WebhookEvent.objects.exists() and not Payment.objects.exists()
    assert balance(buyer) == WELCOME


def test_tampered_body_is_400(client, webhook_secret, buyer):
    body = f.encode(completed_event(buyer))
    header = f.signature_header(body)
    tampered = body.replace(b'"amount_total": 299', b'"amount_total": 1')
    response = f.post_event(client, tampered, header=header)
    assert response.status_code == 400 and response.json()["error"] == "invalid_signature"
    assert nothing_processed() and not Payment.objects.exists()


def test_missing_header_is_400(client, webhook_secret, buyer):
    response = f.post_event(client, completed_event(buyer), header=None)
    assert response.status_code == 400
    assert response.json()["error"] == "missing_signature"
    assert not WebhookEvent.objects.exists()


def test_stale_timestamp_is_400(client, webhook_secret, buyer):
    response = f.post_event(client, completed_event(buyer), timestamp=int(time.time()) - 301)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_signature"
    assert not WebhookEvent.objects.exists() and balance(buyer) == WELCOME


def test_timestamp_within_tolerance_is_accepted(client, webhook_secret, buyer):
    response = f.post_event(client, completed_event(buyer), timestamp=int(time.time()) - 240)
    assert response.status_code == 200


def test_garbled_header_is_400(client, webhook_secret, buyer):
    response = f.post_event(client, completed_event(buyer), header="garbage")
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2, 3]", b'{"object": "charge"}'])
def test_malformed_payload_is_400(client, webhook_secret, body):
    response = f.post_event(client, body)  # correctly signed, but not a Stripe event
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_payload"
    assert not WebhookEvent.objects.exists()


def test_without_webhook_secret_is_503(client, settings, buyer):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = f.post_event(client, completed_event(buyer))
    assert response.status_code == 503
    assert response.json()["error"] == "stripe_not_configured"
    assert not WebhookEvent.objects.exists()


def test_handlers_are_listed_explicitly_and_run_in_the_written_order(monkeypatch):
    ran = []
    first, second = webhooks.HANDLERS["customer.subscription.updated"]
    assert (first, second) == (webhooks.pro_seats.pro_seat_quantity_reported,
                               webhooks.subscriptions.subscription_updated)
    monkeypatch.setitem(webhooks.HANDLERS, "customer.subscription.updated",
                        (lambda *, event: ran.append("first"), lambda *, event: ran.append("second")))
    event = webhooks.StripeEvent.from_payload(f.event("customer.subscription.updated", {"id": "sub_x"}))
    assert webhooks.dispatch(event) == 2 and ran == ["first", "second"]
    assert "customer.tax_id.created" not in webhooks.handled_event_types()


def test_unknown_type_is_acknowledged_and_ignored(client, webhook_secret):
    payload = f.event("customer.tax_id.created", {"id": "txi_123", "object": "tax_id"})
    response = f.post_event(client, payload)
    assert response.status_code == 200
    assert response.json() == {"received": True, "status": "ignored"}
    record = WebhookEvent.objects.get(stripe_id=payload["id"])
    assert record.status == WebhookEventStatus.IGNORED and record.attempts == 0


@pytest.fixture
def failing_fulfilment(monkeypatch):
    """Fulfil for real (credit the ledger), then blow up: everything must roll back."""
    kind = products.product_kind_get("energy_pack")

    def fulfill_then_fail(*, payment):
        kind.fulfill(payment=payment)
        raise RuntimeError("ledger replica unavailable")

    monkeypatch.setitem(products.PRODUCT_KINDS, "energy_pack", replace(kind, fulfill=fulfill_then_fail))
    return monkeypatch


def test_handler_failure_is_5xx_rolls_back_then_retry_succeeds(client, webhook_secret, buyer,
                                                                failing_fulfilment):
    payload = completed_event(buyer)

    response = f.post_event(client, payload)

    assert response.status_code == 500
    assert response.json()["error"] == "webhook_processing_failed"
    record = WebhookEvent.objects.get(stripe_id=payload["id"])
    assert record.status == WebhookEventStatus.FAILED
    assert "ledger replica unavailable" in record.error
    assert record.processed_at is None and record.attempts == 1
    assert not Payment.objects.exists()  # created inside the handler: rolled back too
    assert balance(buyer) == WELCOME

    failing_fulfilment.undo()
    response = f.post_event(client, payload)  # Stripe's retry

    assert response.status_code == 200
    record.refresh_from_db()
    assert record.status == WebhookEventStatus.PROCESSED and record.attempts == 2
    assert record.error == ""
    assert len(credits_for(Payment.objects.get())) == 1
    assert balance(buyer) == WELCOME + 110


def test_failed_event_can_be_reprocessed_by_the_service(client, webhook_secret, buyer,
                                                       failing_fulfilment):
    payload = completed_event(buyer)
    assert f.post_event(client, payload).status_code == 500
    failing_fulfilment.undo()

    record = webhook_event_reprocess(webhook_event_id=WebhookEvent.objects.get().pk)

    assert record.status == WebhookEventStatus.PROCESSED
    assert balance(buyer) == WELCOME + 110

    with pytest.raises(WebhookEventNotFailed):
        webhook_event_reprocess(webhook_event_id=record.pk)


def test_full_refund_claws_back_the_energy(client, webhook_secret, buyer):
    payment = bought(client, buyer)
    refunded = f.charge(payment_intent_id=payment.stripe_payment_intent_id, amount_refunded=299)

    assert f.post_event(client, f.event("charge.refunded", refunded)).status_code == 200

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.amount_refunded_cents == 299
    assert balance(buyer) == WELCOME
    [reversal] = payment.reversals.all()
    assert (reversal.kind, reversal.requested, reversal.recovered, reversal.shortfall) == ("refund", 110, 110, 0)
    assert [d.amount for d in debits_for(payment)] == [110]


def test_refund_with_spent_energy_records_the_shortfall(client, webhook_secret, buyer):
    payment = bought(client, buyer)
    wallet_debit(user=buyer, amount=WELCOME + 110 - 30, source="api", reason="spent")
    refunded = f.charge(payment_intent_id=payment.stripe_payment_intent_id, amount_refunded=299)

    assert f.post_event(client, f.event("charge.refunded", refunded)).status_code == 200

    [reversal] = payment.reversals.all()
    assert (reversal.requested, reversal.recovered, reversal.shortfall) == (110, 30, 80)
    assert reversal.resolved_at is None
    assert balance(buyer) == 0

    assert list(reversal_shortfalls_open()) == [reversal]


def test_a_pack_purchase_is_a_paid_and_a_bonus_lot_and_its_refund_revokes_exactly_them(
        client, webhook_secret, buyer):
    payment = bought(client, buyer)
    lots = {lot.category: lot for lot in EnergyLot.objects.filter(wallet__user=buyer)}
    assert (lots["paid"].amount, lots["paid"].price_cents, lots["paid"].expires_at) == (100, 299, None)
    assert lots["bonus"].amount == 10 and lots["bonus"].expires_at is not None
    assert lots["paid"].reference == lots["bonus"].reference == payment.idempotency_key
    wallet_debit(user=buyer, amount=20, source="api", reason="spent")  # from the welcome lot: it expires first
    refunded = f.charge(payment_intent_id=payment.stripe_payment_intent_id, amount_refunded=299)

    assert f.post_event(client, f.event("charge.refunded", refunded)).status_code == 200

    [reversal] = payment.reversals.all()
    assert (reversal.requested, reversal.recovered, reversal.shortfall) == (110, 110, 0)
    remaining = dict(EnergyLot.objects.filter(wallet__user=buyer).values_list("category", "remaining"))
    assert remaining == {"welcome": WELCOME - 20, "paid": 0, "bonus": 0}
    assert balance(buyer) == WELCOME - 20


def test_partial_refunds_claw_back_their_share_once(client, webhook_secret, buyer):
    payment = bought(client, buyer)
    half = f.charge(payment_intent_id=payment.stripe_payment_intent_id, amount_refunded=150)
    half_event = f.event("charge.refunded", half)
    f.post_event(client, half_event)
    f.post_event(client, f.event("charge.refunded", half))  # a different event, same state

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert balance(buyer) == WELCOME + 110 - 56  # ceil(110 * 150 / 299)

    full = {**half, "amount_refunded": 299, "refunded": True}
    f.post_event(client, f.event("charge.refunded", full))
    f.post_event(client, half_event)  # an older event replayed: takes nothing

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert balance(buyer) == WELCOME
    assert sum(r.requested for r in payment.reversals.all()) == 110


def test_dispute_claws_back_and_later_refund_takes_nothing_more(client, webhook_secret, buyer):
    payment = bought(client, buyer)
    disputed = f.dispute(payment_intent_id=payment.stripe_payment_intent_id)

    assert f.post_event(client, f.event("charge.dispute.created", disputed)).status_code == 200
    f.post_event(client, f.event("charge.dispute.created", disputed))

    payment.refresh_from_db()
    assert payment.disputed_at is not None and payment.status == PaymentStatus.SUCCEEDED
    assert balance(buyer) == WELCOME
    refunded = f.charge(payment_intent_id=payment.stripe_payment_intent_id, amount_refunded=299)
    f.post_event(client, f.event("charge.refunded", refunded))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    # The refund's money is recorded (dated, for the money figures), its energy was already taken.
    assert [(r.kind, r.amount_cents, r.requested) for r in payment.reversals.order_by("id")] == [
        ("dispute", 299, 110), ("refund", 299, 0)]
    assert balance(buyer) == WELCOME


def test_dispute_with_nothing_left_is_all_shortfall(client, webhook_secret, buyer):
    payment = bought(client, buyer)
    wallet_debit(user=buyer, amount=WELCOME + 110, source="api", reason="spent")
    f.post_event(client, f.event("charge.dispute.created",
                                 f.dispute(payment_intent_id=payment.stripe_payment_intent_id)))
    [reversal] = payment.reversals.all()
    assert (reversal.kind, reversal.recovered, reversal.shortfall) == ("dispute", 0, 110)


def test_refund_of_a_charge_that_is_not_ours_is_ignored(client, webhook_secret, buyer):
    refunded = f.charge(payment_intent_id=f.stripe_id("pi"), amount_refunded=299)
    assert f.post_event(client, f.event("charge.refunded", refunded)).status_code == 200
    assert balance(buyer) == WELCOME


def test_expired_after_completed_does_not_move_back(client, webhook_secret, buyer):
    payload = completed_event(buyer)
    session = payload["data"]["object"]
    f.post_event(client, payload)
    f.post_event(client, f.event("checkout.session.expired", {**session, "status": "expired"},
                                 created=payload["created"] - 10))
    f.post_event(client, f.event("checkout.session.async_payment_failed", session))

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert balance(buyer) == WELCOME + 110


def test_refund_before_payment_intent_success_settles_then_refunds(client, webhook_secret, buyer):
    payment = f.PaymentFactory(user=buyer)  # PaymentIntent flow, still pending here
    intent_id = payment.stripe_payment_intent_id
    metadata = f.phoenix_metadata(user=buyer)

    f.post_event(client, f.event("charge.refunded",
                                 f.charge(payment_intent_id=intent_id, amount_refunded=299, metadata=metadata)))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert balance(buyer) == WELCOME  # credited and clawed back

    f.post_event(client, f.event("payment_intent.succeeded", f.payment_intent(intent_id=intent_id, metadata=metadata)))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED  # never back to succeeded
    assert len(credits_for(payment)) == 1 and balance(buyer) == WELCOME


def test_refund_before_session_completion_is_retried_until_linked(client, webhook_secret, buyer):
    payload = completed_event(buyer)
    session = payload["data"]["object"]
    metadata = f.phoenix_metadata(user=buyer)
    refund = f.event("charge.refunded", f.charge(payment_intent_id=session["payment_intent"],
                                                 amount_refunded=299, metadata=metadata))

    assert f.post_event(client, refund).status_code == 500  # ours but not linked yet: retry
    assert f.post_event(client, payload).status_code == 200
    assert f.post_event(client, refund).status_code == 200  # Stripe's retry

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.REFUNDED
    assert balance(buyer) == WELCOME
    assert WebhookEvent.objects.get(stripe_id=refund["id"]).attempts == 2


def test_intent_failure_then_success_credits(client, webhook_secret, buyer):
    payment = f.PaymentFactory(user=buyer)
    intent = f.payment_intent(intent_id=payment.stripe_payment_intent_id, status="requires_payment_method")
    intent["last_payment_error"] = {"message": "Your card was declined."}
    f.post_event(client, f.event("payment_intent.payment_failed", intent))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING  # the customer may retry at Stripe

    f.post_event(client, f.event("payment_intent.succeeded",
                                 f.payment_intent(intent_id=payment.stripe_payment_intent_id)))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED and balance(buyer) == WELCOME + 110


def test_intent_canceled(client, webhook_secret, buyer):
    payment = f.PaymentFactory(user=buyer)
    f.post_event(client, f.event("payment_intent.canceled",
                                 f.payment_intent(intent_id=payment.stripe_payment_intent_id, status="canceled")))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED


def test_success_after_cancel_is_a_recorded_failure(client, webhook_secret, buyer):
    payment = f.PaymentFactory(user=buyer)
    intent_id = payment.stripe_payment_intent_id
    f.post_event(client, f.event("payment_intent.canceled", f.payment_intent(intent_id=intent_id, status="canceled")))
    response = f.post_event(client, f.event("payment_intent.succeeded", f.payment_intent(intent_id=intent_id)))

    assert response.status_code == 500  # money without a payment to credit: loud, for an admin
    assert "illegal" in WebhookEvent.objects.get(type="payment_intent.succeeded").error.lower() or \
        "cannot become" in WebhookEvent.objects.get(type="payment_intent.succeeded").error
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED and balance(buyer) == WELCOME


def test_stored_payload_is_what_stripe_sent(client, webhook_secret, buyer):
    payload = completed_event(buyer)
    f.post_event(client, payload)
    assert json.loads(json.dumps(WebhookEvent.objects.get().payload)) == payload


def test_the_readme_lists_exactly_the_event_types_to_enable_at_stripe():
    """The Production section tells an operator which event types the Stripe webhook endpoint
    must send: exactly the ones a handler is listed for."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    listed = readme.split("Enable these event types:", 1)[1].split("(the list of", 1)[0]
    assert sorted(re.findall(r"`([a-z_.]+)`", listed)) == webhooks.handled_event_types()
