"""Pro seats through Stripe: purchase (checkout, prorated additions), grouped renewals
paid and failed, and a PREMIUM collaborator joining a pool through Stripe (DESIGN.md §5).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from billing.models import Payment
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.test_subscription_webhooks import f_token, start_monthly, ts
from licenses import services as license_services
from licenses.models import License, LicenseKind, LicenseStatus, PendingAssignment, ProAccount, ProAccountStatus
from subscriptions.models import Access, AccessType
from subscriptions.selectors import check_premium_access

pytestmark = pytest.mark.django_db

DAY = 86400


def pro_owner():
    owner = make_buyer()
    response = f_token(owner).post("/pro/account")
    assert response.status_code == 201, response.content
    return owner


def buy_seats(client, stripe, owner, *, kind, quantity, now=None):
    """The owner buys seats through the API; a checkout is paid and Stripe reports it."""
    response = f_token(owner).post("/pro/licenses/purchase", {"kind": kind, "quantity": quantity}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    if body["outcome"] == "checkout":
        payment = Payment.objects.get(public_id=body["payment_id"])
        session = stripe.complete_session(payment.stripe_checkout_session_id, now=now)
        assert f.post_event(client, f.event("checkout.session.completed", session, created=now)).status_code == 200
    return body


def seats(owner, **filters):
    return License.objects.filter(pro_account__owner=owner, **filters)


# --- Purchase ---------------------------------------------------------------------------


def test_first_monthly_seats_open_the_grouped_subscription_then_more_are_prorated(client, stripe_keys, packs, plans):
    owner = pro_owner()
    start = datetime(2026, 12, 15, 0, 0, 0, tzinfo=UTC)  # a grouped date (00:00 UTC on the anchor day)
    with time_machine.travel(start, tick=True):
        first = buy_seats(client, stripe_keys, owner, kind="monthly", quantity=3, now=ts(start))
    assert first["outcome"] == "checkout" and first["amount_cents"] == 3 * 2999
    session_request = next(p for _, path, p, _ in stripe_keys.requests if path == "/v1/checkout/sessions")
    assert session_request["mode"] == "subscription"
    assert session_request["line_items"][0]["quantity"] == "3"
    assert session_request["subscription_data"]["metadata"]["phoenix_kind"] == "pro_seats"

    account = ProAccount.objects.get(owner=owner)
    [sub_id] = stripe_keys.subscriptions
    assert account.status == ProAccountStatus.ACTIVE
    assert account.stripe_subscription_id == sub_id
    assert account.billing_anchor_day == 15
    assert account.next_billing_at == datetime(2027, 1, 15, tzinfo=UTC)
    assert seats(owner, kind=LicenseKind.MONTHLY, status=LicenseStatus.AVAILABLE).count() == 3

    # Ten and a half days later: two more, added to the grouped subscription, prorated.
    mid = datetime(2026, 12, 25, 12, 0, 0, tzinfo=UTC)
    with time_machine.travel(mid, tick=False):
        more = buy_seats(client, stripe_keys, owner, kind="monthly", quantity=2)
    assert more["outcome"] == "added" and more["billed"] == "next_grouped_date"
    assert len(more["license_ids"]) == 2
    left, cycle = (datetime(2027, 1, 15, tzinfo=UTC) - mid), timedelta(days=31)
    expected_unit = (2999 * int(left.total_seconds()) * 2 + int(cycle.total_seconds())) // (2 * int(cycle.total_seconds()))
    assert more["prorated_unit_cents"] == expected_unit and more["amount_cents"] == 2 * expected_unit
    item = stripe_keys.subscriptions[sub_id]["items"]["data"][0]
    assert item["quantity"] == 5
    [proration] = stripe_keys.prorations
    # Stripe prorates the same seats over the same cycle to the same amount.
    assert proration == {"subscription": sub_id, "quantity": 2, "proration_date": ts(mid),
                         "unit_amount": expected_unit}
    assert seats(owner, kind=LicenseKind.MONTHLY).count() == 5
    assert Payment.objects.filter(user=owner).count() == 1  # no checkout for the addition


def test_lifetime_seats_are_paid_at_once(client, stripe_keys, packs, plans):
    owner = pro_owner()
    body = buy_seats(client, stripe_keys, owner, kind="lifetime", quantity=2)
    assert body["outcome"] == "checkout" and body["amount_cents"] == 2 * 29900
    session = next(p for _, path, p, _ in stripe_keys.requests if path == "/v1/checkout/sessions")
    assert session["mode"] == "payment" and session["line_items"][0]["quantity"] == "2"
    payment = Payment.objects.get(user=owner)
    assert payment.amount_cents == 2 * 29900 and payment.fulfilled_quantity == 2
    assert seats(owner, kind=LicenseKind.LIFETIME, status=LicenseStatus.AVAILABLE).count() == 2
    account = ProAccount.objects.get(owner=owner)
    assert account.status == ProAccountStatus.ACTIVE and account.billing_anchor_day is None
    # The same completion delivered again buys nothing more.
    session_obj = stripe_keys.public(stripe_keys.sessions[payment.stripe_checkout_session_id])
    assert f.post_event(client, f.event("checkout.session.completed", session_obj)).status_code == 200
    assert seats(owner).count() == 2


def test_seat_purchase_refusals(client, stripe_keys, packs, plans):
    nobody = make_buyer()
    response = f_token(nobody).post("/pro/licenses/purchase", {"kind": "monthly", "quantity": 1}, format="json")
    assert response.status_code == 404 and response.json()["error"] == "pro_account_not_found"
    owner = pro_owner()
    response = f_token(owner).post("/pro/licenses/purchase", {"kind": "monthly", "quantity": 0}, format="json")
    assert response.status_code == 400
    response = f_token(owner).post("/pro/licenses/purchase", {"kind": "yearly", "quantity": 1}, format="json")
    assert response.status_code == 400
    assert Client().post("/pro/licenses/purchase", {"kind": "monthly", "quantity": 1}).status_code == 401


# --- Grouped renewal: failed then paid ----------------------------------------------------


def seats_metadata(owner, kind="monthly", quantity=2):
    return {**f.phoenix_metadata(user=owner, kind="pro_seats", code=kind), "phoenix_quantity": str(quantity)}


def pro_with_assigned_seats(client):
    """2 monthly seats (one assigned) and 1 lifetime seat (assigned), bought through
    Stripe events (no keys: signed events only)."""
    owner = make_buyer()
    account = license_services.pro_account_open(owner=owner)
    start = ts(datetime.now(UTC).replace(microsecond=0))
    monthly = f.subscription_checkout_session(subscription_id="sub_test_grouped", metadata=seats_metadata(owner),
                                              amount=2 * 2999)
    assert f.post_event(client, f.event("checkout.session.completed", monthly, created=start)).status_code == 200
    lifetime = f.checkout_session(metadata=seats_metadata(owner, "lifetime", 1), amount=29900)
    assert f.post_event(client, f.event("checkout.session.completed", lifetime, created=start)).status_code == 200
    account.refresh_from_db()
    assert account.stripe_subscription_id == "sub_test_grouped"
    monthly_holder, lifetime_holder = make_buyer(), make_buyer()
    for user, kind in ((monthly_holder, LicenseKind.MONTHLY), (lifetime_holder, LicenseKind.LIFETIME)):
        license_services.collaborator_link(pro_account=account, collaborator=user)
        lic = License.objects.filter(pro_account=account, kind=kind, status=LicenseStatus.AVAILABLE).first()
        assert license_services.license_assign(license=lic, collaborator=user).outcome == "assigned"
    return owner, account, monthly_holder, lifetime_holder, start


def grouped_invoice(event_type, owner, *, created, invoice_id="in_test_grouped_2", status="paid",
                    reason="subscription_cycle"):
    invoice = f.invoice(subscription_id="sub_test_grouped", metadata=seats_metadata(owner), quantity=2,
                        billing_reason=reason, period_start=created, status=status, invoice_id=invoice_id)
    return f.event(event_type, invoice, created=created)


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
    assert f.post_event(client, f.event("customer.subscription.deleted", sub, created=start + 40 * DAY)).status_code == 200
    account.refresh_from_db()
    assert account.status == ProAccountStatus.SUSPENDED
    assert not check_premium_access(monthly_holder) and check_premium_access(lifetime_holder)


# --- A PREMIUM collaborator joins the pool through Stripe -----------------------------


def _premium_collaborator_and_pool(client, stripe):
    collaborator = make_buyer()
    _, sub, _ = start_monthly(client, stripe, collaborator)
    owner = pro_owner()
    buy_seats(client, stripe, owner, kind="lifetime", quantity=1)
    response = f_token(owner).post("/pro/collaborators", {"email": collaborator.email}, format="json")
    assert response.status_code == 201, response.content
    lic = seats(owner).get()
    return collaborator, owner, lic, sub


@pytest.mark.django_db(transaction=True)
def test_premium_collaborator_assignment_end_to_end_through_stripe(stripe_keys, packs, plans, eager_celery):
    client = Client()
    collaborator, owner, lic, sub = _premium_collaborator_and_pool(client, stripe_keys)

    response = f_token(owner).post(f"/pro/licenses/{lic.public_id}/assign",
                                   {"user_id": str(collaborator.public_id)}, format="json")

    assert response.status_code == 202, response.content
    assert response.json()["outcome"] == "needs_cancel_existing"
    # After commit, billing canceled the personal subscription at Stripe (Celery task)...
    assert stripe_keys.subscriptions[sub["id"]]["status"] == "canceled"
    assert ("DELETE", f"/v1/subscriptions/{sub['id']}") in [(m, p) for m, p, _, _ in stripe_keys.requests]
    # ...but nothing changes until Stripe confirms it with the webhook.
    assert Access.objects.get(user=collaborator).type == AccessType.PREMIUM
    assert PendingAssignment.objects.filter(collaborator=collaborator).exists()
    lic.refresh_from_db()
    assert lic.status == LicenseStatus.AVAILABLE

    deleted = f.event("customer.subscription.deleted", stripe_keys.subscriptions[sub["id"]])
    assert f.post_event(client, deleted).status_code == 200

    access = Access.objects.get(user=collaborator)
    assert access.type == AccessType.LICENSED and access.license_status == "active"
    lic.refresh_from_db()
    assert lic.status == LicenseStatus.ACTIVE and lic.assignee == collaborator
    assert not PendingAssignment.objects.exists()
    assert check_premium_access(collaborator)
    # Delivered again: nothing twice.
    assert f.post_event(client, deleted).status_code == 200
    assert lic.pro_account.events.filter(kind="license_assigned").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_stripe_outage_is_retried_then_the_cancellation_goes_through(stripe_keys, packs, plans, eager_celery):
    client = Client()
    collaborator, owner, lic, sub = _premium_collaborator_and_pool(client, stripe_keys)
    stripe_keys.failures.extend([500, 500, 500])  # one task attempt (the client retries twice)

    response = f_token(owner).post(f"/pro/licenses/{lic.public_id}/assign",
                                   {"user_id": str(collaborator.public_id)}, format="json")

    assert response.status_code == 202
    assert stripe_keys.subscriptions[sub["id"]]["status"] == "canceled"
    assert PendingAssignment.objects.filter(collaborator=collaborator).exists()


@pytest.mark.django_db(transaction=True)
def test_stripe_refusing_the_cancellation_aborts_the_assignment(stripe_keys, packs, plans, eager_celery):
    client = Client()
    collaborator, owner, lic, sub = _premium_collaborator_and_pool(client, stripe_keys)
    del stripe_keys.subscriptions[sub["id"]]  # Stripe no longer knows it: a refused request

    response = f_token(owner).post(f"/pro/licenses/{lic.public_id}/assign",
                                   {"user_id": str(collaborator.public_id)}, format="json")

    assert response.status_code == 202
    assert not PendingAssignment.objects.exists()
    lic.refresh_from_db()
    assert lic.status == LicenseStatus.AVAILABLE and lic.assignee is None
    assert Access.objects.get(user=collaborator).type == AccessType.PREMIUM
    assert lic.pro_account.events.filter(kind="assignment_aborted").exists()
