"""Races: concurrent deliveries and confirmations apply once (the root `race` fixture)."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from django.test import Client

from billing.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.helpers import (
    DAY,
    WELCOME,
    access,
    balance,
    bought,
    completed_event,
    create_intent,
    credits_for,
    debits_for,
    invoice_event,
    plan_metadata,
    premium_user,
    seats_metadata,
    sub_event,
)
from conftest import token_client_for
from licenses.models import License
from licenses.services import pro_account_open
from subscriptions.models import AccessEvent, AccessType

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_confirm_payment_racing_the_webhook_credits_once(race, stripe_keys, webhook_secret, packs):
    user = make_buyer()
    user_client = token_client_for(user)
    body = create_intent(user_client)
    intent = stripe_keys.pay_intent(body["payment_intent_id"])
    webhook_body = f.encode(f.event("payment_intent.succeeded", intent))

    def confirm_or_webhook(i: int) -> int:  # three of each, interleaved
        if i % 2 == 0:
            return token_client_for(user).post(
                "/billing/confirm-payment", {"payment_intent_id": intent["id"]}, format="json").status_code
        return f.post_event(Client(), webhook_body).status_code

    results = race(6, confirm_or_webhook)

    assert results == [200] * 6
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(credits_for(payment)) == 1
    assert balance(user) == WELCOME + 110


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkout_and_first_invoice_deliveries_activate_once(race, webhook_secret, packs, plans):
    user = make_buyer()
    start = int(time.time()) - 60
    session = f.subscription_checkout_session(subscription_id="sub_test_race", metadata=plan_metadata(user))
    bodies = []
    for _ in range(4):
        bodies.append(f.encode(f.event("checkout.session.completed", session, created=start)))
        bodies.append(f.encode(invoice_event("invoice.paid", user=user, sub_id="sub_test_race", period_start=start,
                                             period_end=start + 30 * DAY, reason="subscription_create",
                                             invoice_id="in_test_race", created=start)))

    statuses = race(len(bodies), lambda i: f.post_event(Client(), bodies[i]).status_code)

    assert statuses == [200] * len(bodies)
    row = access(user)
    assert row.type == AccessType.PREMIUM and row.stripe_subscription_id == "sub_test_race"
    assert AccessEvent.objects.filter(access=row, kind="premium_activated").count() == 1
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED
    assert not WebhookEvent.objects.exclude(status=WebhookEventStatus.PROCESSED).exists()


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_deliveries_credit_once(race, webhook_secret, packs):
    user = make_buyer()
    payload = completed_event(user)
    body = f.encode(payload)

    statuses = race(10, lambda i: f.post_event(Client(), body).status_code)

    assert statuses == [200] * 10
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(credits_for(payment)) == 1
    assert balance(user) == WELCOME + 110
    record = WebhookEvent.objects.get()
    assert record.deliveries == 10 and record.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_distinct_events_for_one_session_credit_once(race, webhook_secret, packs):
    user = make_buyer()
    session = f.checkout_session(metadata=f.phoenix_metadata(user=user))
    bodies = [f.encode(f.event(t, session)) for t in
              ["checkout.session.completed", "checkout.session.async_payment_succeeded"] * 4]

    statuses = race(len(bodies), lambda i: f.post_event(Client(), bodies[i]).status_code)

    assert statuses == [200] * len(bodies)
    assert Payment.objects.count() == 1
    assert len(credits_for(Payment.objects.get())) == 1
    assert balance(user) == WELCOME + 110


# --- One subscription's first period, in every order ---------------------------------------
# Stripe announces a monthly plan's activation twice (checkout.session.completed and the first
# invoice.paid) and may deliver each more than once, in any order or at once. Whatever the
# interleaving, the final access row and its event log must be the same.

FIRST_PERIOD_DELIVERIES = ("checkout", "invoice", "checkout", "invoice")


def _first_period_events(stripe, user, *, now: int) -> tuple[dict[str, bytes], dict[str, str]]:
    """The user buys the plan through the API; Stripe (the local server) completes the
    session and creates the subscription; the two events that announce it, signed-ready."""
    response = token_client_for(user).post("/billing/checkout", {"product": "luna_unlimited"}, format="json")
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(public_id=response.json()["payment_id"])
    session = stripe.complete_session(payment.stripe_checkout_session_id, now=now)
    subscription = stripe.subscriptions[session["subscription"]]
    item = subscription["items"]["data"][0]
    invoice_id = f"in_first_{subscription['id']}"
    bodies = {
        "checkout": f.encode(f.event("checkout.session.completed", session, created=now)),
        "invoice": f.encode(invoice_event(
            "invoice.paid", user=user, sub_id=subscription["id"], period_start=item["current_period_start"],
            period_end=item["current_period_end"], reason="subscription_create", invoice_id=invoice_id,
            created=now)),
    }
    return bodies, {subscription["id"]: "<subscription>", invoice_id: "<invoice>", session["id"]: "<session>",
                    str(payment.public_id): "<payment>", payment.idempotency_key or "-": "<payment-key>"}


def _outcome(user, ids: dict[str, str]) -> str:
    """The access row and its event log since sign-up (the trial's opening is the user's own
    moment), with this run's Stripe ids replaced by names."""
    row = access(user)
    state = {
        "type": row.type, "current_period_end": row.current_period_end.isoformat(),
        "cancel_at_period_end": row.cancel_at_period_end, "stripe_subscription_id": row.stripe_subscription_id,
        "billing_event_at": row.billing_event_at.isoformat(),
        "events": [[e.kind, e.from_type, e.to_type, e.event_time.isoformat(), e.reference, e.detail]
                   for e in AccessEvent.objects.filter(access=row).exclude(kind="trial_opened").order_by("id")],
    }
    text = json.dumps(state, sort_keys=True, default=str)
    for real, name in ids.items():
        text = text.replace(real, name)
    return text


@pytest.mark.django_db(transaction=True)
def test_first_period_events_in_every_order_and_at_once_give_one_outcome(race, stripe_keys, plans, packs):
    now = int(time.time()) - 120
    outcomes = {}
    for order in sorted(set(itertools.permutations(FIRST_PERIOD_DELIVERIES))):
        user = make_buyer()
        bodies, ids = _first_period_events(stripe_keys, user, now=now)
        for name in order:
            assert f.post_event(Client(), bodies[name]).status_code == 200
        outcomes[" ".join(order)] = _outcome(user, ids)
    for attempt in range(3):  # and all four deliveries at the same moment
        user = make_buyer()
        bodies, ids = _first_period_events(stripe_keys, user, now=now)
        statuses = race(len(FIRST_PERIOD_DELIVERIES),
                        lambda i, b=bodies: f.post_event(Client(), b[FIRST_PERIOD_DELIVERIES[i]]).status_code)
        assert statuses == [200] * len(FIRST_PERIOD_DELIVERIES)
        outcomes[f"concurrent #{attempt}"] = _outcome(user, ids)

    distinct = {text: order for order, text in outcomes.items()}
    assert len(distinct) == 1, "\n".join(f"{order}: {text}" for text, order in distinct.items())
    final = json.loads(next(iter(outcomes.values())))
    assert final["type"] == AccessType.PREMIUM
    assert [event[0] for event in final["events"]] == ["premium_activated"]


@pytest.mark.django_db(transaction=True)
def test_without_stripe_keys_the_first_invoice_period_wins_in_either_order(webhook_secret, plans, packs):
    """Demo mode: the checkout cannot ask Stripe for the period, so it activates for one
    month from the event; the first invoice's period (Stripe's own) is the one that stays."""
    start = int(time.time()) - 60
    finals = []
    for order in (("checkout", "invoice"), ("invoice", "checkout")):
        user = make_buyer()
        sub_id = f"sub_demo_{len(finals)}"
        session = f.subscription_checkout_session(subscription_id=sub_id, metadata=plan_metadata(user))
        bodies = {
            "checkout": f.event("checkout.session.completed", session, created=start),
            "invoice": invoice_event("invoice.paid", user=user, sub_id=sub_id, period_start=start,
                                     period_end=start + 30 * DAY, reason="subscription_create", created=start),
        }
        for name in order:
            assert f.post_event(Client(), bodies[name]).status_code == 200
        row = access(user)
        finals.append((row.type, row.current_period_end, row.billing_event_at,
                       list(AccessEvent.objects.filter(access=row).exclude(kind="trial_opened")
                            .order_by("id").values_list("kind", "reference"))))
    assert finals[0][:3] == finals[1][:3]
    assert finals[0][1].timestamp() == start + 30 * DAY
    assert [kind for kind, _ in finals[0][3]] == [kind for kind, _ in finals[1][3]] == ["premium_activated"]


# --- Other events that describe one thing, delivered at the same moment ---------------------


def _deliver_at_once(race, payloads: list[dict]) -> list[int]:
    bodies = [f.encode(payload) for payload in payloads]
    return race(len(bodies), lambda i: f.post_event(Client(), bodies[i]).status_code)


@pytest.mark.django_db(transaction=True)
def test_refund_and_dispute_of_one_charge_at_once_claw_back_once(race, webhook_secret, packs):
    user = make_buyer()
    payment = bought(Client(), user)
    refunded = f.event("charge.refunded", f.charge(payment_intent_id=payment.stripe_payment_intent_id,
                                                   amount_refunded=299))
    disputed = f.event("charge.dispute.created", f.dispute(payment_intent_id=payment.stripe_payment_intent_id))

    statuses = _deliver_at_once(race, [refunded, disputed, refunded, disputed])

    assert statuses == [200] * 4
    assert balance(user) == WELCOME  # the pack's 110 points taken back once, not twice
    assert len(debits_for(payment)) == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert not WebhookEvent.objects.exclude(status=WebhookEventStatus.PROCESSED).exists()


@pytest.mark.django_db(transaction=True)
def test_cancel_flag_and_deletion_of_one_subscription_at_once_end_premium_once(race, webhook_secret, plans, packs):
    user = make_buyer()
    start = premium_user(Client(), user)
    flagged = sub_event("customer.subscription.updated", user=user, created=start + 10 * DAY,
                        cancel_at_period_end=True, previous={"cancel_at_period_end": False})
    deleted = sub_event("customer.subscription.deleted", user=user, created=start + 31 * DAY, status="canceled",
                        canceled_at=start + 31 * DAY, ended_at=start + 31 * DAY)

    statuses = _deliver_at_once(race, [flagged, deleted, flagged, deleted])

    assert statuses == [200] * 4
    row = access(user)
    assert row.type == AccessType.EXPIRED
    assert AccessEvent.objects.filter(access=row, kind="premium_ended").count() == 1


@pytest.mark.django_db(transaction=True)
def test_renewal_paid_and_its_earlier_failure_at_once_leave_premium(race, webhook_secret, plans, packs):
    """Stripe's first attempt failed, its retry succeeded: whichever is processed first,
    the newer (paid) event decides, and the period moves forward once."""
    user = make_buyer()
    start = premium_user(Client(), user)
    second_period = start + 31 * DAY
    failed = invoice_event("invoice.payment_failed", user=user, sub_id="sub_test_premium",
                           period_start=second_period, period_end=second_period + 30 * DAY, status="open",
                           invoice_id="in_test_second", created=second_period)
    paid = invoice_event("invoice.paid", user=user, sub_id="sub_test_premium", period_start=second_period,
                         period_end=second_period + 30 * DAY, invoice_id="in_test_second",
                         created=second_period + 3600)

    statuses = _deliver_at_once(race, [failed, paid, failed, paid])

    assert statuses == [200] * 4
    row = access(user)
    assert row.type == AccessType.PREMIUM
    assert row.current_period_end.timestamp() == second_period + 30 * DAY
    assert AccessEvent.objects.filter(access=row, kind="premium_renewed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_pro_seat_checkout_and_first_invoice_at_once_create_the_seats_once(race, webhook_secret, plans, packs):
    owner = make_buyer()
    account = pro_account_open(owner=owner)
    start = int(time.time()) - 60
    checkout = f.event("checkout.session.completed", f.subscription_checkout_session(
        subscription_id="sub_test_seats_race", metadata=seats_metadata(owner), amount=2 * 2999), created=start)
    first_invoice = f.event("invoice.paid", f.invoice(
        subscription_id="sub_test_seats_race", metadata=seats_metadata(owner), quantity=2,
        billing_reason="subscription_create", period_start=start, invoice_id="in_test_seats_first"), created=start)

    statuses = _deliver_at_once(race, [checkout, first_invoice, checkout, first_invoice])

    assert statuses == [200] * 4
    account.refresh_from_db()
    assert account.status == "active" and account.stripe_subscription_id == "sub_test_seats_race"
    assert License.objects.filter(pro_account=account, kind="monthly").count() == 2
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 1
