"""Billing reads: payment history, failed webhooks, open shortfalls, reconciliation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from billing.models import (
    IncidentStatus,
    Payment,
    PaymentReversal,
    PaymentStatus,
    ReconciliationIncident,
    WebhookEvent,
    WebhookEventStatus,
)

# Product kinds whose fulfilment is one ledger credit keyed "payment:<pk>".
LEDGER_CREDITED_KINDS = ("energy_pack",)
PAYMENT_REFERENCE_PREFIX = "payment:"


def payment_history(*, user) -> QuerySet[Payment]:
    return Payment.objects.filter(user=user).order_by("-created_at", "-id")


def webhook_events_failed() -> QuerySet[WebhookEvent]:
    return WebhookEvent.objects.filter(status=WebhookEventStatus.FAILED).order_by("-received_at")


def reversal_shortfalls_open() -> QuerySet[PaymentReversal]:
    return PaymentReversal.objects.filter(shortfall__gt=0, resolved_at__isnull=True).select_related(
        "payment", "payment__user"
    )


def reconciliation_incidents_open() -> QuerySet[ReconciliationIncident]:
    return ReconciliationIncident.objects.filter(status=IncidentStatus.OPEN)


@dataclass(frozen=True)
class ReconciliationFinding:
    code: str
    subject: str
    payment_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def reconciliation_findings() -> list[ReconciliationFinding]:
    """Succeeded pack payments vs Stripe-sourced ledger credits, both ways.

    - ``payment_without_credit``: a succeeded (or since refunded) payment with no credit;
    - ``duplicate_credit``: more than one credit referencing one payment;
    - ``credit_amount_mismatch``: the credit's amount or wallet owner differs from the payment;
    - ``credit_without_payment``: a Stripe credit naming no payment, or one not succeeded.

    Two queries (payments, credits), one pass in memory: linear in their number.
    """
    from wallet.models import BalanceOperation, OperationSource, OperationType

    credits_by_ref: dict[str, list[dict[str, Any]]] = defaultdict(list)
    credits = BalanceOperation.objects.filter(
        type=OperationType.CREDIT, source=OperationSource.STRIPE
    ).values("id", "amount", "reference", "wallet__user_id")
    for credit in credits.iterator():
        credits_by_ref[credit["reference"]].append(credit)

    findings: list[ReconciliationFinding] = []
    paid = {PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED}
    payments = Payment.objects.filter(product_kind__in=LEDGER_CREDITED_KINDS).values(
        "id", "status", "user_id", "fulfilled_quantity"
    )
    payments_by_ref: dict[str, dict[str, Any]] = {}
    for payment in payments.iterator():
        ref = f"{PAYMENT_REFERENCE_PREFIX}{payment['id']}"
        payments_by_ref[ref] = payment
        if payment["status"] not in paid:
            continue
        matched = credits_by_ref.get(ref, [])
        subject = ref
        if not matched:
            findings.append(ReconciliationFinding(
                "payment_without_credit", subject, payment["id"],
                {"expected_amount": payment["fulfilled_quantity"]},
            ))
        elif len(matched) > 1:
            findings.append(ReconciliationFinding(
                "duplicate_credit", subject, payment["id"],
                {"operation_ids": [c["id"] for c in matched], "amounts": [c["amount"] for c in matched]},
            ))
        else:
            credit = matched[0]
            if credit["amount"] != payment["fulfilled_quantity"] or credit["wallet__user_id"] != payment["user_id"]:
                findings.append(ReconciliationFinding(
                    "credit_amount_mismatch", subject, payment["id"],
                    {"operation_id": credit["id"], "credited": credit["amount"],
                     "expected": payment["fulfilled_quantity"],
                     "same_user": credit["wallet__user_id"] == payment["user_id"]},
                ))

    for ref, ref_credits in credits_by_ref.items():
        payment = payments_by_ref.get(ref)
        if payment is not None and payment["status"] in paid:
            continue
        for credit in ref_credits:
            findings.append(ReconciliationFinding(
                "credit_without_payment", f"operation:{credit['id']}",
                payment["id"] if payment else None,
                {"reference": ref, "amount": credit["amount"],
                 "payment_status": payment["status"] if payment else None},
            ))
    return findings
