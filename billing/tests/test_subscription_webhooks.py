"""Individual plans through Stripe: checkout (monthly, lifetime), invoices, cancellation
flag, the end of a subscription; replays and out-of-order delivery (DESIGN.md §4, §6).

Payloads are built in Stripe's shapes (API 2025-03-31.basil and later) by
``billing.stripe_payloads`` and signed as Stripe signs them; outbound calls hit the
local Stripe server.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from billing.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.stripe_server import LocalStripe
from subscriptions.models import Access, AccessEvent, AccessType

pytestmark = pytest.mark.django_db

DAY = 86400


def access(user) -> Access:
    return Access.objects.get(user=user)


def plan_metadata(user, code="luna_unlimited"):
    return f.phoenix_metadata(user=user, kind="plan", code=code)


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def start_monthly(client, stripe: LocalStripe, user, *, now: int | None = None):
    """The user buys the monthly plan through the API, pays, and Stripe reports it."""
    response = f_token(user).post("/billing/checkout", {"product": "luna_unlimited"}, format="json")
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(public_id=response.json()["payment_id"])
    session = stripe.complete_session(payment.stripe_checkout_session_id, now=now)
    event = f.event("checkout.session.completed", session, created=now)
    assert f.post_event(client, event).status_code == 200
    return payment, stripe.subscriptions[session["subscription"]], event


def f_token(user):
    from conftest import token_client_for

    return token_client_for(user)


def invoice_event(event_type, *, user, sub_id, period_start, period_end=None, reason="subscription_cycle",
                  created=None, invoice_id=None, status="paid", code="luna_unlimited"):
    invoice = f.invoice(subscription_id=sub_id, metadata=plan_metadata(user, code), billing_reason=reason,
                        period_start=period_start, period_end=period_end, status=status,
                        invoice_id=invoice_id)
    return f.event(event_type, invoice, created=created or period_start)


# --- Checkout: monthly -> PREMIUM -------------------------------------------------------


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
    from subscriptions.services import access_activate_premium

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
    from subscriptions.services import access_grant_lifetime

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


# --- Checkout: lifetime -> LIFETIME -----------------------------------------------------


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


# --- invoice.paid / invoice.payment_failed ----------------------------------------------


def premium_user(client, user, *, sub_id="sub_test_premium", start=None):
    """PREMIUM through Stripe events alone (checkout completed without Stripe keys).
    Events start after the sign-up trial, so ending PREMIUM falls back to EXPIRED."""
    start = start or ts(datetime.now(UTC).replace(microsecond=0) + timedelta(days=8))
    session = f.subscription_checkout_session(subscription_id=sub_id, metadata=plan_metadata(user))
    event = invoice_event("invoice.paid", user=user, sub_id=sub_id, period_start=start,
                          period_end=start + 31 * DAY, reason="subscription_create", created=start)
    assert f.post_event(client, event).status_code == 200
    assert f.post_event(client, f.event("checkout.session.completed", session, created=start + 2)).status_code == 200
    row = access(user)
    assert row.type == AccessType.PREMIUM and row.stripe_subscription_id == sub_id
    return start


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


# --- customer.subscription.updated / deleted --------------------------------------------


def sub_event(event_type, *, user, sub_id="sub_test_premium", created, previous=None, **fields):
    sub = f.subscription(subscription_id=sub_id, metadata=plan_metadata(user), **fields)
    return f.event(event_type, sub, created=created, previous_attributes=previous)


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


# --- Concurrency -----------------------------------------------------------------------


def _run_concurrently(n, fn):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        from django.db import connection

        try:
            barrier.wait()
            results[i] = fn(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkout_and_first_invoice_deliveries_activate_once(webhook_secret, packs, plans):
    user = make_buyer()
    start = int(time.time()) - 60
    session = f.subscription_checkout_session(subscription_id="sub_test_race", metadata=plan_metadata(user))
    bodies = []
    for i in range(4):
        bodies.append(f.encode(f.event("checkout.session.completed", session, created=start)))
        bodies.append(f.encode(invoice_event("invoice.paid", user=user, sub_id="sub_test_race", period_start=start,
                                             period_end=start + 30 * DAY, reason="subscription_create",
                                             invoice_id="in_test_race", created=start)))

    statuses = _run_concurrently(len(bodies), lambda i: f.post_event(Client(), bodies[i]).status_code)

    assert statuses == [200] * len(bodies)
    row = access(user)
    assert row.type == AccessType.PREMIUM and row.stripe_subscription_id == "sub_test_race"
    assert AccessEvent.objects.filter(access=row, kind="premium_activated").count() == 1
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED
    assert not WebhookEvent.objects.exclude(status=WebhookEventStatus.PROCESSED).exists()
