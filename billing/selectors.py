"""Billing reads: payment history, failed webhooks, open shortfalls, reconciliation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, QuerySet, Sum
from djstripe.models import Charge, PaymentIntent, Subscription

from billing.models import (
    IncidentStatus,
    Payment,
    PaymentReversal,
    PaymentStatus,
    ReconciliationIncident,
    WebhookEvent,
    WebhookEventStatus,
)
from licenses.models import ProAccount, ProAccountStatus
from licenses.selectors import seat_quantity_overview
from subscriptions.models import Access, AccessType
from wallet.models import BalanceOperation, OperationSource, OperationType

# Product kinds whose fulfilment is one ledger credit keyed "payment:<pk>".
LEDGER_CREDITED_KINDS = ("energy_pack",)
PAYMENT_REFERENCE_PREFIX = "payment:"


def payment_history(*, user) -> QuerySet[Payment]:
    return Payment.objects.filter(user=user).order_by("-created_at", "-id")


def pro_account_has_grouped_subscription(*, pro_account_id: int) -> bool:
    """Whether the pro account has a grouped Stripe subscription (monthly seats bought)."""
    return ProAccount.objects.filter(pk=pro_account_id).exclude(stripe_subscription_id="").exists()


def webhook_events_failed() -> QuerySet[WebhookEvent]:
    return WebhookEvent.objects.filter(status=WebhookEventStatus.FAILED).order_by("-received_at")


def reversal_shortfalls_open() -> QuerySet[PaymentReversal]:
    return PaymentReversal.objects.filter(shortfall__gt=0, resolved_at__isnull=True).select_related(
        "payment", "payment__user"
    )


def reconciliation_incidents_open() -> QuerySet[ReconciliationIncident]:
    return ReconciliationIncident.objects.filter(status=IncidentStatus.OPEN)


# The codes of the reconciliation incidents, and what they mean (each has its runbook,
# docs/runbooks/<code>.md). A finding of another code is refused, so this list cannot drift.
RECONCILIATION_CODES = {
    "payment_without_credit": "a succeeded pack payment has no ledger credit",
    "duplicate_credit": "a payment has more than one ledger credit",
    "credit_amount_mismatch": "a payment's credit differs in amount or owner from the payment",
    "credit_without_payment": "a Stripe-sourced credit names no succeeded payment",
    "seat_quantity_mismatch": "a pro's Stripe seat quantity differs from its billable monthly seats",
    "charge_without_payment": "a succeeded one-off Stripe charge that no payment names",
    "payment_stripe_mismatch": "a settled payment disagrees with its mirrored intent or charge",
    "subscription_status_mismatch": "an access or pro account disagrees with its mirrored subscription's status",
}
# An open payment shortfall (a PaymentReversal that could not claw back all its energy) is an
# incident too, of this kind: its runbook is docs/runbooks/payment_reversal_shortfall.md.
SHORTFALL_CODE = "payment_reversal_shortfall"


@dataclass(frozen=True)
class ReconciliationFinding:
    code: str
    subject: str
    payment_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in RECONCILIATION_CODES:
            raise ValueError(f"unknown reconciliation code {self.code!r}: add it to RECONCILIATION_CODES "
                             "(and its runbook)")


def reconciliation_findings() -> list[ReconciliationFinding]:
    """Succeeded pack payments vs Stripe-sourced ledger credits, both ways, and pro seat
    quantities at Stripe vs billable monthly seats.

    - ``payment_without_credit``: a succeeded (or since refunded) payment with no credit;
    - ``duplicate_credit``: more than one credit referencing one payment;
    - ``credit_amount_mismatch``: the credit's amount or wallet owner differs from the payment;
    - ``credit_without_payment``: a Stripe credit naming no payment, or one not succeeded;
    - ``seat_quantity_mismatch``: see ``seat_quantity_findings``;
    - ``charge_without_payment``, ``payment_stripe_mismatch``, ``subscription_status_mismatch``:
      see ``mirror_findings``.

    Two queries (payments, credits), one pass in memory: linear in their number.
    """
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
    findings.extend(seat_quantity_findings())
    findings.extend(mirror_findings())
    return findings


# Stripe subscription statuses that mean it no longer bills (nor grants anything).
ENDED_SUBSCRIPTION = ("canceled", "incomplete_expired", "unpaid")


def mirror_findings() -> list[ReconciliationFinding]:
    """What the dj-stripe mirror (Stripe's objects as last synced) says against our rows.

    - ``charge_without_payment``: a succeeded one-off charge (not an invoice's) whose
      payment intent and id no Payment names: money taken that Phoenix never delivered;
    - ``payment_stripe_mismatch``: a settled Payment whose mirrored payment intent did not
      succeed, or whose charge's refund state disagrees (refunded at Stripe, not here, or
      the other way round);
    - ``subscription_status_mismatch``: a PREMIUM access or an active pro account whose
      mirrored subscription has ended, or an expired access / pro account whose
      subscription is still active at Stripe.

    Only mirrored objects are compared (never a Stripe call); four queries.
    """
    findings: list[ReconciliationFinding] = []
    payments = list(Payment.objects.values("id", "status", "stripe_payment_intent_id", "stripe_charge_id"))
    by_intent = {p["stripe_payment_intent_id"]: p for p in payments if p["stripe_payment_intent_id"]}
    charge_ids = {p["stripe_charge_id"] for p in payments if p["stripe_charge_id"]}
    intents = dict(PaymentIntent.objects.values_list("id", "stripe_data"))
    for charge_id, data in Charge.objects.values_list("id", "stripe_data"):
        intent_id = data.get("payment_intent") or ""
        payment = by_intent.get(intent_id)
        if payment is None and charge_id not in charge_ids:
            if data.get("status") == "succeeded" and data.get("paid") and not data.get("invoice"):
                findings.append(ReconciliationFinding(
                    "charge_without_payment", f"charge:{charge_id}", None,
                    {"payment_intent": intent_id, "amount": data.get("amount"), "currency": data.get("currency")},
                ))
            continue
        if payment is None:
            continue
        refunded_at_stripe = bool(data.get("refunded"))
        refunded_here = payment["status"] == PaymentStatus.REFUNDED
        settled = payment["status"] in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)
        if settled and refunded_at_stripe != refunded_here:
            findings.append(ReconciliationFinding(
                "payment_stripe_mismatch", f"payment:{payment['id']}", payment["id"],
                {"charge": charge_id, "payment_status": payment["status"], "stripe_refunded": refunded_at_stripe},
            ))
    for intent_id, payment in by_intent.items():
        intent = intents.get(intent_id)
        settled = payment["status"] in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)
        if intent is not None and settled and intent.get("status") != "succeeded":
            findings.append(ReconciliationFinding(
                "payment_stripe_mismatch", f"payment:{payment['id']}", payment["id"],
                {"payment_intent": intent_id, "payment_status": payment["status"],
                 "stripe_status": intent.get("status")},
            ))
    subscriptions = dict(Subscription.objects.values_list("id", "stripe_data__status"))
    holders = [("access", pk, sub, kind in (AccessType.PREMIUM,), kind == AccessType.EXPIRED)
               for pk, sub, kind in Access.objects.exclude(stripe_subscription_id="")
               .values_list("pk", "stripe_subscription_id", "type")]
    holders += [("pro_account", pk, sub, status == ProAccountStatus.ACTIVE, status == ProAccountStatus.EXPIRED)
                for pk, sub, status in ProAccount.objects.exclude(stripe_subscription_id="")
                .values_list("pk", "stripe_subscription_id", "status")]
    for holder, pk, sub_id, granting, ended in holders:
        stripe_status = subscriptions.get(sub_id)
        if stripe_status is None:
            continue
        if (granting and stripe_status in ENDED_SUBSCRIPTION) or (ended and stripe_status == "active"):
            findings.append(ReconciliationFinding(
                "subscription_status_mismatch", f"{holder}:{pk}", None,
                {"stripe_subscription_id": sub_id, "stripe_status": stripe_status,
                 "phoenix_state": "granting" if granting else "ended"},
            ))
    return findings


def seat_quantity_findings() -> list[ReconciliationFinding]:
    """``seat_quantity_mismatch``: a pro account's grouped subscription quantity, as last
    known from Stripe (recorded when billing sets it or a subscription event reports it;
    Stripe is not called here), differs from its billable monthly seats. Accounts whose
    quantity is not known yet are skipped. One query."""
    return [
        ReconciliationFinding(
            "seat_quantity_mismatch", f"pro_account:{row['id']}", None,
            {"stripe_subscription_id": row["stripe_subscription_id"],
             "stripe_quantity": row["stripe_seat_quantity"], "billable_monthly_seats": row["billable"],
             "stripe_quantity_at": row["stripe_seat_quantity_at"].isoformat()
             if row["stripe_seat_quantity_at"] else None},
        )
        for row in seat_quantity_overview()
        if row["stripe_seat_quantity"] is not None and row["stripe_seat_quantity"] != row["billable"]
    ]


# --- Admin dashboard: aggregate queries only (the money figures: billing.money) ----

def billing_incidents_overview(*, latest: int = 5) -> dict[str, Any]:
    """Open reconciliation incidents, open payment shortfalls, failed webhooks. 4 queries."""
    reconciliation = ReconciliationIncident.objects.filter(status=IncidentStatus.OPEN).aggregate(n=Count("id"))
    shortfalls = PaymentReversal.objects.filter(shortfall__gt=0, resolved_at__isnull=True).aggregate(
        n=Count("id"), points=Sum("shortfall"))
    failed = WebhookEvent.objects.filter(status=WebhookEventStatus.FAILED)
    return {
        "reconciliation_open": reconciliation["n"],
        "shortfalls_open": shortfalls["n"],
        "shortfall_points": shortfalls["points"] or 0,
        "webhooks_failed": failed.count(),
        "webhooks_failed_latest": list(
            failed.order_by("-received_at", "-id").values("id", "stripe_id", "type", "attempts", "error",
                                                          "received_at")[:latest]
        ),
    }
