"""Payment state machine (service and database guard) and reconciliation."""

from __future__ import annotations

import itertools

import pytest
from django.core.management import call_command
from django.db import DatabaseError, transaction

from billing.errors import IllegalPaymentTransition
from billing.models import PAYMENT_TRANSITIONS, Payment, PaymentStatus, ReconciliationIncident
from billing.services import payments as svc
from billing.services.reconciliation import payments_reconcile
from billing.tests import factories as f
from billing.tests.helpers import credits_for

pytestmark = pytest.mark.django_db

ALL = list(PaymentStatus.values)
LEGAL = {
    ("pending", "succeeded"), ("pending", "failed"), ("pending", "canceled"),
    ("succeeded", "refunded"),
}
ILLEGAL = [(a, b) for a, b in itertools.product(ALL, ALL) if (a, b) not in LEGAL]


def test_transition_table_is_the_design():
    assert {(a, b) for a, targets in PAYMENT_TRANSITIONS.items() for b in targets} == LEGAL


def _payment_in(status: str) -> Payment:
    """Walk a fresh payment to ``status`` through legal steps only."""
    payment = f.PaymentFactory()
    path = {"pending": [], "succeeded": ["succeeded"], "failed": ["failed"],
            "canceled": ["canceled"], "refunded": ["succeeded", "refunded"]}[status]
    for step in path:
        svc.payment_transition(payment=payment, to_status=step)
    return payment


@pytest.mark.parametrize("from_status,to_status", sorted(LEGAL))
def test_legal_transitions(from_status, to_status):
    payment = _payment_in(from_status)
    svc.payment_transition(payment=payment, to_status=to_status)
    payment.refresh_from_db()
    assert payment.status == to_status and payment.status_changed_at is not None


@pytest.mark.parametrize("from_status,to_status", ILLEGAL)
def test_every_illegal_transition_raises(from_status, to_status):
    payment = _payment_in(from_status)
    with pytest.raises(IllegalPaymentTransition) as raised:
        svc.payment_transition(payment=payment, to_status=to_status)
    assert raised.value.status_code == 409
    assert raised.value.as_dict()["from_status"] == from_status
    payment.refresh_from_db()
    assert payment.status == from_status


@pytest.mark.parametrize("from_status,to_status", [t for t in ILLEGAL if t[0] != t[1]])
def test_database_refuses_illegal_transitions_too(from_status, to_status):
    payment = _payment_in(from_status)
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


# --- Reconciliation ------------------------------------------------------------------------


def _succeeded(user) -> Payment:
    payment = f.PaymentFactory(user=user)
    return svc.payment_succeed(payment_id=payment.pk)


def _codes() -> set[tuple[str, str]]:
    return set(ReconciliationIncident.objects.values_list("code", "subject"))


def test_clean_books_have_no_incidents(buyer):
    _succeeded(buyer)
    f.PaymentFactory(user=buyer)  # pending: nothing expected
    report = payments_reconcile()
    assert report.ran and report.findings == [] and not ReconciliationIncident.objects.exists()


def test_payment_without_credit(buyer):
    payment = f.PaymentFactory(user=buyer)
    Payment.objects.filter(pk=payment.pk).update(status="succeeded", fulfilled_quantity=110)

    payments_reconcile()

    assert _codes() == {("payment_without_credit", f"payment:{payment.pk}")}
    assert ReconciliationIncident.objects.get().payment == payment


def test_credit_without_payment(buyer):
    from wallet.services import wallet_credit

    pending = f.PaymentFactory(user=buyer)
    stray = wallet_credit(user=buyer, amount=100, source="stripe", reason="x",
                          reference=f"payment:{pending.pk}", idempotency_key="stray-1")
    orphan = wallet_credit(user=buyer, amount=50, source="stripe", reason="x", reference="")

    payments_reconcile()

    assert _codes() == {("credit_without_payment", f"operation:{stray.pk}"),
                        ("credit_without_payment", f"operation:{orphan.pk}")}


def test_duplicate_credit(buyer):
    from wallet.services import wallet_credit

    payment = _succeeded(buyer)
    wallet_credit(user=buyer, amount=110, source="stripe", reason="again",
                  reference=f"payment:{payment.pk}", idempotency_key="dup-1")

    payments_reconcile()

    assert _codes() == {("duplicate_credit", f"payment:{payment.pk}")}
    assert len(ReconciliationIncident.objects.get().detail["operation_ids"]) == 2


def test_credit_amount_mismatch(buyer):
    payment = _succeeded(buyer)
    Payment.objects.filter(pk=payment.pk).update(fulfilled_quantity=100)

    payments_reconcile()

    [incident] = ReconciliationIncident.objects.all()
    assert (incident.code, incident.detail["credited"], incident.detail["expected"]) == (
        "credit_amount_mismatch", 110, 100)
    assert len(credits_for(payment)) == 1


def test_reconciliation_bumps_open_incidents_and_dry_run_writes_nothing(buyer, capsys):
    payment = f.PaymentFactory(user=buyer)
    Payment.objects.filter(pk=payment.pk).update(status="succeeded")

    call_command("billing_reconcile", "--dry-run")
    assert not ReconciliationIncident.objects.exists()
    assert "payment_without_credit" in capsys.readouterr().out

    call_command("billing_reconcile", "--now", "2026-01-02T03:17:00Z")
    call_command("billing_reconcile")
    incident = ReconciliationIncident.objects.get()
    assert incident.times_seen == 2
    assert incident.detected_at.isoformat().startswith("2026-01-02T03:17")


def test_reconcile_task_runs_the_service(buyer):
    from billing.tasks import reconcile_payments

    payment = f.PaymentFactory(user=buyer)
    Payment.objects.filter(pk=payment.pk).update(status="succeeded")
    assert reconcile_payments.apply().get() == {"job": "billing.reconcile_payments", "skipped_locked": False,
                                                "dry_run": False, "findings": 1, "opened": 1, "bumped": 0}


def test_reconciliation_is_scheduled_daily():
    from importlib import import_module

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    # Re-run the migration's function: a transactional test may have flushed its row.
    import_module("billing.migrations.0003_reconciliation_schedule").forward(apps, None)
    task = PeriodicTask.objects.get(task="billing.reconcile_payments")
    assert task.enabled and task.crontab is not None and task.crontab.hour == "3"
