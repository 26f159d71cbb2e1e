"""An operator refunds a payment from the admin: through the local Stripe server (one refund
per intent, Stripe's own refusals shown on the form), the clawback applied by the signed
``charge.refunded`` Stripe then sends, once however often it is delivered; audited; two
operators refunding one payment at once get one refund and one refusal."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from billing import operator
from billing.errors import RefundRefused
from billing.models import PaymentRefund, PaymentStatus
from billing.tests import factories as f
from billing.tests.helpers import WELCOME, balance, buy_pack
from phoenix.accounts.tests.factories import UserFactory
from phoenix.core import roles
from phoenix.core.models import AdminAction
from phoenix.core.services import operator_intent_key

pytestmark = pytest.mark.django_db(transaction=True)

PACK_POINTS = 110  # cafe_luna: 100 points and a 10 % first-purchase bonus


def refund_url(payment) -> str:
    return reverse("admin:billing_payment_operator_refund", args=[payment.pk])


def deliver(stripe, times: int = 1) -> list[tuple[str, int]]:
    """What Stripe sends after the refund, delivered (signed) `times` times, as redeliveries are."""
    events, stripe.events = stripe.events, []
    webhook = Client()
    statuses = []
    for _ in range(times):
        for event in events:
            statuses.append((event["type"], f.post_event(webhook, event).status_code))
    return statuses


def refund_posts(stripe) -> list[dict]:
    return [params for method, path, params, _key in stripe.requests if (method, path) == ("POST", "/v1/refunds")]


@pytest.fixture
def paid(client, buyer, stripe_keys, plans):
    payment, _event = buy_pack(client, stripe_keys, buyer)
    assert payment.status == PaymentStatus.SUCCEEDED and balance(buyer) == WELCOME + PACK_POINTS
    return payment


def test_a_partial_then_the_rest_refunded_from_the_admin_claws_back_once_each(finance_client, paid, stripe_keys):
    page = finance_client.get(refund_url(paid))
    assert page.status_code == 200 and 'value="2.99"' in page.content.decode()  # what is left, offered

    response = finance_client.post(refund_url(paid), {"amount": "1.00", "stripe_reason": "requested_by_customer",
                                                      "reason": "ticket 12: one coffee not served", "repeat": "0"})
    assert response.status_code == 302, response.content.decode()[:2000]
    [params] = refund_posts(stripe_keys)
    assert params["payment_intent"] == paid.stripe_payment_intent_id and params["amount"] == "100"
    assert params["reason"] == "requested_by_customer"
    refund = PaymentRefund.objects.get()
    assert (refund.amount_cents, refund.stripe_status) == (100, "succeeded")
    assert stripe_keys.refunds[refund.stripe_refund_id]["amount"] == 100
    assert balance(paid.user) == WELCOME + PACK_POINTS  # nothing taken before Stripe says so

    # Stripe sends refund.created and charge.refunded; each is delivered three times.
    assert {status for _type, status in deliver(stripe_keys, times=3)} == {200}
    paid.refresh_from_db()
    assert paid.amount_refunded_cents == 100 and paid.status == PaymentStatus.SUCCEEDED
    [reversal] = paid.reversals.all()
    assert (reversal.requested, reversal.recovered) == (37, 37)  # ceil(110 × 100 / 299)
    assert balance(paid.user) == WELCOME + PACK_POINTS - 37

    response = finance_client.post(refund_url(paid), {"amount": "1.99", "stripe_reason": "",
                                                      "reason": "ticket 12: the rest", "repeat": "0"})
    assert response.status_code == 302
    deliver(stripe_keys, times=2)
    paid.refresh_from_db()
    assert paid.status == PaymentStatus.REFUNDED and paid.amount_refunded_cents == 299
    assert sorted(r.requested for r in paid.reversals.all()) == [37, 73]  # 110 in all, once
    assert balance(paid.user) == WELCOME
    audit = AdminAction.objects.filter(action="payment_refund", target_id=str(paid.pk)).order_by("pk")
    assert [a.after["refund_amount_cents"] for a in audit] == [100, 199]
    assert audit[0].before["amount_refunded_cents"] == 0 and audit[0].reason == "ticket 12: one coffee not served"


def test_back_and_resubmit_of_a_refund_sends_one_refund(finance_client, paid, stripe_keys):
    form = {"amount": "2.99", "stripe_reason": "duplicate", "reason": "ticket 13: charged twice", "repeat": "0"}
    assert finance_client.post(refund_url(paid), form).status_code == 302

    again = finance_client.post(refund_url(paid), form)  # Back, then the same form submitted

    assert again.status_code == 200 and "operator_action_repeated" in again.content.decode()
    assert len(refund_posts(stripe_keys)) == 1 and PaymentRefund.objects.count() == 1
    assert AdminAction.objects.filter(action="payment_refund").count() == 1


def test_a_refund_over_what_is_left_is_refused_by_the_form_and_by_stripe(finance_client, paid, stripe_keys):
    too_much = finance_client.post(refund_url(paid), {"amount": "3.00", "reason": "r", "repeat": "0"})
    assert too_much.status_code == 200 and "payment_not_refundable" in too_much.content.decode()
    assert refund_posts(stripe_keys) == []

    # Refunded on Stripe's dashboard, webhook not arrived yet: Phoenix still thinks 2.99 is left.
    stripe_keys.refund_charge(stripe_keys.intents[paid.stripe_payment_intent_id]["latest_charge"])
    stripe_keys.events.clear()
    refused = finance_client.post(refund_url(paid), {"amount": "2.99", "reason": "r", "repeat": "0"})

    body = refused.content.decode()
    assert refused.status_code == 200 and "refund_refused" in body and "charge_already_refunded" in body
    assert PaymentRefund.objects.count() == 0 and not AdminAction.objects.filter(action="payment_refund").exists()


def test_a_disputed_payment_offers_no_refund_and_support_may_not_refund(finance_client, paid, stripe_keys):
    support = UserFactory(email="support-refund@example.com", is_staff=True)
    support.groups.add(Group.objects.get(name=roles.SUPPORT))
    paid.disputed_at = paid.created_at
    paid.save(update_fields=["disputed_at"])

    page = finance_client.get(reverse("admin:billing_payment_change", args=[paid.pk]))
    assert page.status_code == 200 and refund_url(paid) not in page.content.decode()
    refused = finance_client.post(refund_url(paid), {"amount": "1.00", "reason": "r", "repeat": "0"})
    assert "payment_not_refundable" in refused.content.decode() and refund_posts(stripe_keys) == []

    other = Client()
    other.force_login(support)
    assert other.get(refund_url(paid)).status_code == 403


def test_two_operators_refunding_one_payment_at_once_get_one_refund(paid, stripe_keys, race):
    operators = [UserFactory(email=f"finance-{i}@example.com", is_staff=True, is_superuser=True) for i in range(2)]

    def refund(i: int):
        key = operator_intent_key(action="refund", target=paid, fields={"who": i})
        return operator.payment_refund_by_operator(payment=paid, amount_cents=200, stripe_reason="", actor=operators[i],
                                                   reason=f"operator {i}", intent_key=key)

    results = race(2, refund)

    refunds = [r for r in results if isinstance(r, PaymentRefund)]
    refusals = [r for r in results if isinstance(r, RefundRefused)]
    assert len(refunds) == 1 and len(refusals) == 1, results
    assert "amount_too_large" in refusals[0].detail
    assert len(stripe_keys.refunds) == 1 and PaymentRefund.objects.count() == 1
    assert AdminAction.objects.filter(action="payment_refund").count() == 1
