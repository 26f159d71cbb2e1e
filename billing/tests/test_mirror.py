"""The dj-stripe mirror: a Stripe Customer per user, the mirror following every verified
event (through the Celery task, run eagerly), its outage behaviour and the backfill."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from djstripe import models as dj

from billing import gateway
from billing.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.selectors import reconciliation_findings
from billing.services.mirror import mirror_backfill, mirror_sync_object
from billing.tasks import sync_stripe_mirror
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.helpers import access, balance, buy_pack, credits_for, f_token, start_monthly
from subscriptions.models import AccessType

pytestmark = pytest.mark.django_db(transaction=True)

MIRROR_CODES = {"charge_without_payment", "payment_stripe_mismatch", "subscription_status_mismatch"}
MIRROR_MODELS = [dj.Customer, dj.Session, dj.PaymentIntent, dj.Charge, dj.Refund, dj.Dispute,
                 dj.Subscription, dj.Invoice, dj.Price, dj.Product, dj.Event]


def mirror_rows() -> dict[str, list[tuple]]:
    """Every mirrored row with its last-synced data: a sync that changes nothing leaves it equal."""
    return {model.__name__: sorted((row.id, str(row.stripe_data)) for row in model.objects.all())
            for model in MIRROR_MODELS}


def test_pack_purchase_leaves_customer_session_intent_and_charge_in_the_mirror(
        client, buyer, stripe_keys, eager_celery, plans):
    payment, event = buy_pack(client, stripe_keys, buyer)

    assert payment.status == PaymentStatus.SUCCEEDED and len(credits_for(payment)) == 1
    customer = dj.Customer.objects.get(subscriber=buyer)
    session = dj.Session.objects.get(id=payment.stripe_checkout_session_id)
    intent = dj.PaymentIntent.objects.get(id=payment.stripe_payment_intent_id)
    charge = dj.Charge.objects.get(id=intent.stripe_data["latest_charge"])
    assert session.customer == customer and intent.customer == customer and charge.customer == customer
    assert charge.payment_intent == intent and charge.stripe_data["amount"] == 299
    assert stripe_keys.sessions[session.id]["customer"] == customer.id  # Stripe billed that customer
    assert customer.email == buyer.email
    assert dj.Event.objects.filter(id=event["id"]).exists()
    assert payment.mirror_checkout_session() == session and payment.mirror_charge() == charge


def test_monthly_subscription_leaves_subscription_invoice_price_and_product(
        client, buyer, stripe_keys, eager_celery, plans):
    payment, sub, _event = start_monthly(client, stripe_keys, buyer)

    customer = dj.Customer.objects.get(subscriber=buyer)
    mirrored = dj.Subscription.objects.get(id=sub["id"])
    assert mirrored.customer == customer and mirrored.status == "active"
    invoice = dj.Invoice.objects.get(id=sub["latest_invoice"])
    assert invoice.customer == customer and invoice.stripe_data["status"] == "paid"
    price = dj.Price.objects.get(id=sub["items"]["data"][0]["price"]["id"])
    assert price.product.name == "Luna Unlimited (monthly)"
    assert access(buyer).type == AccessType.PREMIUM


def test_refund_leaves_the_refund_and_every_event_replayed_3x_changes_no_row(
        client, buyer, stripe_keys, eager_celery, plans):
    payment, completed = buy_pack(client, stripe_keys, buyer)
    charge = stripe_keys.refund_charge(payment.mirror_charge().id)
    refunded = f.event("charge.refunded", charge)
    assert f.post_event(client, refunded).status_code == 200
    refund_id = charge["refunds"]["data"][0]["id"]
    assert dj.Refund.objects.get(id=refund_id).charge_id == charge["id"]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    before, energy = mirror_rows(), balance(buyer)

    for _ in range(3):
        for event in (completed, refunded):
            assert f.post_event(client, event).status_code == 200

    assert mirror_rows() == before and balance(buyer) == energy
    assert dj.Customer.objects.filter(subscriber=buyer).count() == 1
    assert WebhookEvent.objects.get(stripe_id=refunded["id"]).deliveries == 4


def test_stripe_down_during_an_event_commits_the_effect_and_the_task_catches_up(
        client, buyer, stripe_keys, plans):
    response = f_token(buyer).post("/billing/checkout", {"product": "cafe_luna"}, format="json")
    payment = Payment.objects.get(public_id=response.json()["payment_id"])
    session = stripe_keys.complete_session(payment.stripe_checkout_session_id)
    event = f.event("checkout.session.completed", session)
    stripe_keys.down()

    # Not eager here: the task is enqueued after the commit; run it by hand, as a worker would.
    assert f.post_event(client, event).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED and len(credits_for(payment)) == 1
    record = WebhookEvent.objects.get(stripe_id=event["id"])
    assert record.status == WebhookEventStatus.PROCESSED
    with pytest.raises(Exception) as retried:
        sync_stripe_mirror.apply(kwargs={"webhook_event_id": record.pk}, throw=True)
    assert type(retried.value).__name__ == "Retry"
    assert not dj.Session.objects.filter(id=session["id"]).exists()

    stripe_keys.up()
    result = sync_stripe_mirror.apply(kwargs={"webhook_event_id": record.pk}, throw=True).get()
    assert result["synced"] >= 4
    assert payment.mirror_charge() is not None


def test_backfill_resyncs_what_phoenix_knows(client, buyer, stripe_keys, plans):
    payment, _event = buy_pack(client, stripe_keys, buyer)  # not eager: nothing synced but the customer
    assert not dj.Charge.objects.exists()

    dry = mirror_backfill(dry_run=True)
    assert f"payment_intent:{payment.stripe_payment_intent_id}" in dry.steps and not dj.Charge.objects.exists()
    call_command("billing_mirror_sync")

    assert payment.mirror_charge().payment_intent_id == payment.stripe_payment_intent_id
    assert dj.Session.objects.filter(id=payment.stripe_checkout_session_id).exists()


def test_reconciliation_reads_the_mirror(client, buyer, stripe_keys, eager_celery, plans):
    payment, _ = buy_pack(client, stripe_keys, buyer)
    _monthly, sub, _ = start_monthly(client, stripe_keys, make_buyer())
    assert not [x for x in reconciliation_findings() if x.code in MIRROR_CODES]

    # A charge Stripe took with no Payment (a session created outside Phoenix), a refund
    # Stripe made that no event told us of, and a subscription ended at Stripe only.
    stray = stripe_keys.pay_intent(stripe_keys._create_intent({"amount": 500, "currency": "eur"})["id"])
    stripe_keys.refund_charge(payment.mirror_charge().id)
    stripe_keys.subscriptions[sub["id"]]["status"] = "canceled"
    call_command("billing_mirror_sync")
    assert mirror_sync_object(kind="charge", stripe_id=stray["latest_charge"], api_key=gateway.djstripe_api_key())

    found = {(x.code, x.subject) for x in reconciliation_findings() if x.code in MIRROR_CODES}
    assert found == {
        ("charge_without_payment", f"charge:{stray['latest_charge']}"),
        ("payment_stripe_mismatch", f"payment:{payment.pk}"),
        ("subscription_status_mismatch", f"access:{access(_monthly.user).pk}"),
    }


def test_backfill_command_as_the_readme_gives_it_runs_without_keys(settings, capsys):
    settings.STRIPE_SECRET_KEY = ""
    payment = f.PaymentFactory()

    call_command("billing_mirror_sync", "--dry-run")

    out = capsys.readouterr().out
    assert f"[dry-run] would sync: payment_intent:{payment.stripe_payment_intent_id}" in out
    with pytest.raises(CommandError, match="stripe_not_configured"):
        call_command("billing_mirror_sync")


def test_dispute_leaves_the_dispute_in_the_mirror(client, buyer, stripe_keys, eager_celery, plans):
    payment, _ = buy_pack(client, stripe_keys, buyer)
    dispute = stripe_keys.dispute_charge(payment.mirror_charge().id)

    assert f.post_event(client, f.event("charge.dispute.created", dispute)).status_code == 200

    mirrored = dj.Dispute.objects.get(id=dispute["id"])
    assert mirrored.stripe_data["charge"] == payment.mirror_charge().id
    payment.refresh_from_db()
    assert payment.disputed_at is not None
