"""Database rules: the payment state machine as a trigger, CHECK constraints."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from billing.models import PAYMENT_TRANSITIONS, Payment
from billing.tests import factories as f
from billing.tests.helpers import ILLEGAL, LEGAL, payment_in

pytestmark = pytest.mark.django_db


def test_transition_table_is_the_design():
    assert {(a, b) for a, targets in PAYMENT_TRANSITIONS.items() for b in targets} == LEGAL


@pytest.mark.parametrize("from_status,to_status", [t for t in ILLEGAL if t[0] != t[1]])
def test_database_refuses_illegal_transitions_too(from_status, to_status):
    payment = payment_in(from_status)
    with pytest.raises(DatabaseError, match="illegal payment transition"), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(status=to_status)
    payment.refresh_from_db()
    assert payment.status == from_status


def test_database_refuses_unknown_status_and_non_pending_insert():
    payment = f.PaymentFactory()
    with pytest.raises(DatabaseError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(status="paid")
    with pytest.raises(DatabaseError, match="illegal payment status on insert"), transaction.atomic():
        f.PaymentFactory(status="succeeded")
