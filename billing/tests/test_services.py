"""Billing services: the payment state machine, reversals, seeded demo data."""

from __future__ import annotations

import pytest

from billing.errors import IllegalPaymentTransition
from billing.models import PaymentStatus
from billing.services import payments as svc
from billing.tests import factories as f
from billing.tests.helpers import ILLEGAL, LEGAL, payment_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("from_status,to_status", sorted(LEGAL))
def test_legal_transitions(from_status, to_status):
    payment = payment_in(from_status)
    svc.payment_transition(payment=payment, to_status=to_status)
    payment.refresh_from_db()
    assert payment.status == to_status and payment.status_changed_at is not None


@pytest.mark.parametrize("from_status,to_status", ILLEGAL)
def test_every_illegal_transition_raises(from_status, to_status):
    payment = payment_in(from_status)
    with pytest.raises(IllegalPaymentTransition) as raised:
        svc.payment_transition(payment=payment, to_status=to_status)
    assert raised.value.status_code == 409
    assert raised.value.as_dict()["from_status"] == from_status
    payment.refresh_from_db()
    assert payment.status == from_status


def test_late_failure_or_cancel_never_moves_a_settled_payment(buyer):
    payment = f.PaymentFactory(user=buyer)
    svc.payment_succeed(payment_id=payment.pk)
    assert svc.payment_fail(payment_id=payment.pk).status == PaymentStatus.SUCCEEDED
    assert svc.payment_cancel(payment_id=payment.pk).status == PaymentStatus.SUCCEEDED


def test_reversal_of_an_unpaid_payment_raises(buyer):
    payment = f.PaymentFactory(user=buyer)
    with pytest.raises(IllegalPaymentTransition):
        svc.payment_reverse(payment_id=payment.pk, kind="refund", stripe_object_id="ch_x",
                            amount_refunded_cents=299, fully_refunded=True)
