"""The payment.succeeded / payment.refunded outbound webhook events (phoenix.outbound),
emitted by the payment services in their transaction. Bodies as documented in
phoenix/outbound/catalogue.py."""

from __future__ import annotations

from billing.models import Payment, PaymentReversal
from phoenix.outbound.outbox import emit, user_subject


def payment_succeeded_emit(payment: Payment) -> None:
    emit(type="payment.succeeded", subject=user_subject(payment.user_id), body={
        "user_id": payment.user_id, "payment_id": str(payment.public_id), "product_kind": payment.product_kind,
        "product_code": payment.product_code, "amount_cents": payment.amount_cents, "currency": payment.currency,
        "fulfilled_quantity": payment.fulfilled_quantity})


def payment_refunded_emit(payment: Payment, reversal: PaymentReversal) -> None:
    emit(type="payment.refunded", subject=user_subject(payment.user_id), body={
        "user_id": payment.user_id, "payment_id": str(payment.public_id), "reversal_kind": reversal.kind,
        "amount_cents": reversal.amount_cents, "amount_refunded_cents": payment.amount_refunded_cents,
        "requested": reversal.requested, "recovered": reversal.recovered, "shortfall": reversal.shortfall})
