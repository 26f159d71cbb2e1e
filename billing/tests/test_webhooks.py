"""The webhook pipeline: signature, storage, dispatch, idempotency, failures, ordering."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest
from django.db import connection
from django.test import Client

from billing import products
from billing.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
from billing.services.webhooks import webhook_event_reprocess
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.helpers import balance, credits_for, debits_for

pytestmark = pytest.mark.django_db

WELCOME = 85


def completed_event(user, *, code="cafe_luna", amount=299, **kwargs):
    session = f.checkout_session(metadata=f.phoenix_metadata(user=user, code=code), amount=amount,
                                 client_reference_id=str(user.public_id), **kwargs)
    return f.event("checkout.session.completed", session)


# --- A valid purchase ----------------------------------------------------------------


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


# --- Duplicates --------------------------------------------------------------------------


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


def _run_concurrently(n: int, work) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def runner(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_deliveries_credit_once(webhook_secret, packs):
    user = make_buyer()
    payload = completed_event(user)
    body = f.encode(payload)

    statuses = _run_concurrently(10, lambda i: f.post_event(Client(), body).status_code)

    assert statuses == [200] * 10
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(credits_for(payment)) == 1
    assert balance(user) == WELCOME + 110
    record = WebhookEvent.objects.get()
    assert record.deliveries == 10 and record.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_distinct_events_for_one_session_credit_once(webhook_secret, packs):
    user = make_buyer()
    session = f.checkout_session(metadata=f.phoenix_metadata(user=user))
    bodies = [f.encode(f.event(t, session)) for t in
              ["checkout.session.completed", "checkout.session.async_payment_succeeded"] * 4]

    statuses = _run_concurrently(len(bodies), lambda i: f.post_event(Client(), bodies[i]).status_code)

    assert statuses == [200] * len(bodies)
    assert Payment.objects.count() == 1
    assert len(credits_for(Payment.objects.get())) == 1
    assert balance(user) == WELCOME + 110


# --- Rejected deliveries -----------------------------------------------------------------


def _nothing_processed() -> bool:
    return not WebhookEvent.objects.exclude(status=WebhookEventStatus.RECEIVED).exists()


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
    assert _nothing_processed() and not Payment.objects.exists()


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


def test_unknown_type_is_acknowledged_and_ignored(client, webhook_secret):
    payload = f.event("customer.tax_id.created", {"id": "txi_123", "object": "tax_id"})
    response = f.post_event(client, payload)
    assert response.status_code == 200
    assert response.json() == {"received": True, "status": "ignored"}
    record = WebhookEvent.objects.get(stripe_id=payload["id"])
    assert record.status == WebhookEventStatus.IGNORED and record.attempts == 0


# --- A failing handler -------------------------------------------------------------------


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
    from billing.errors import WebhookEventNotFailed

    with pytest.raises(WebhookEventNotFailed):
        webhook_event_reprocess(webhook_event_id=record.pk)


# --- Refunds and disputes ------------------------------------------------------------------


def _bought(client, user):
    payload = completed_event(user)
    assert f.post_event(client, payload).status_code == 200
    return Payment.objects.get(stripe_checkout_session_id=payload["data"]["object"]["id"])


def test_full_refund_claws_back_the_energy(client, webhook_secret, buyer):
    payment = _bought(client, buyer)
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
    from wallet.services import wallet_debit

    payment = _bought(client, buyer)
    wallet_debit(user=buyer, amount=WELCOME + 110 - 30, source="api", reason="spent")
    refunded = f.charge(payment_intent_id=payment.stripe_payment_intent_id, amount_refunded=299)

    assert f.post_event(client, f.event("charge.refunded", refunded)).status_code == 200

    [reversal] = payment.reversals.all()
    assert (reversal.requested, reversal.recovered, reversal.shortfall) == (110, 30, 80)
    assert reversal.resolved_at is None
    assert balance(buyer) == 0
    from billing.selectors import reversal_shortfalls_open

    assert list(reversal_shortfalls_open()) == [reversal]


def test_partial_refunds_claw_back_their_share_once(client, webhook_secret, buyer):
    payment = _bought(client, buyer)
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
    payment = _bought(client, buyer)
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
    assert [r.kind for r in payment.reversals.order_by("id")] == ["dispute"]
    assert balance(buyer) == WELCOME


def test_dispute_with_nothing_left_is_all_shortfall(client, webhook_secret, buyer):
    from wallet.services import wallet_debit

    payment = _bought(client, buyer)
    wallet_debit(user=buyer, amount=WELCOME + 110, source="api", reason="spent")
    f.post_event(client, f.event("charge.dispute.created",
                                 f.dispute(payment_intent_id=payment.stripe_payment_intent_id)))
    [reversal] = payment.reversals.all()
    assert (reversal.kind, reversal.recovered, reversal.shortfall) == ("dispute", 0, 110)


def test_refund_of_a_charge_that_is_not_ours_is_ignored(client, webhook_secret, buyer):
    refunded = f.charge(payment_intent_id=f.stripe_id("pi"), amount_refunded=299)
    assert f.post_event(client, f.event("charge.refunded", refunded)).status_code == 200
    assert balance(buyer) == WELCOME


# --- Out of order --------------------------------------------------------------------------


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
