"""Races: concurrent deliveries and confirmations apply once (the root `race` fixture)."""

from __future__ import annotations

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
    completed_event,
    create_intent,
    credits_for,
    invoice_event,
    plan_metadata,
)
from conftest import token_client_for
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
