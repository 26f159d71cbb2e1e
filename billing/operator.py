"""Billing operator actions, taken in the admin: each calls the billing
service and writes the `AdminAction` row in the same transaction as the change."""

from __future__ import annotations

from django.db import transaction

from billing import gateway
from billing.errors import IncidentNotOpen, PaymentNotRefundable, ShortfallAlreadySettled, WebhookProcessingFailed
from billing.models import Payment, PaymentRefund, PaymentReversal, PaymentStatus, ReconciliationIncident, WebhookEvent
from billing.services.payments import payment_reversal_resolve
from billing.services.reconciliation import reconciliation_incident_resolve
from billing.services.webhooks import webhook_event_reprocess
from phoenix.core.services import operator_action, operator_intent_done, operator_reason

# Stripe's own refund reasons (`Refund.reason`); blank: none given.
STRIPE_REFUND_REASONS = ("requested_by_customer", "duplicate", "fraudulent")


def _webhook_state(record: WebhookEvent) -> dict:
    return {"status": record.status, "attempts": record.attempts, "error": record.error[:500]}


@transaction.atomic
def webhook_event_reprocess_by_operator(*, webhook_event: WebhookEvent, actor, reason: str) -> WebhookEvent:
    """Re-play a failed event through `webhook_event_reprocess`. A handler that fails again
    is an outcome, not an error here: the attempt (status failed, new error) and its
    audit row are kept; the handler's own writes were rolled back by its savepoint."""
    reason = operator_reason(reason)
    before = _webhook_state(webhook_event)
    try:
        record = webhook_event_reprocess(webhook_event_id=webhook_event.pk)
    except WebhookProcessingFailed:
        record = WebhookEvent.objects.get(pk=webhook_event.pk)
    operator_action(actor=actor, action="webhook_reprocess", target=record, reason=reason,
                    before=before, after=_webhook_state(record))
    return record


@transaction.atomic
def reconciliation_incident_resolve_by_operator(*, incident: ReconciliationIncident, actor,
                                                reason: str) -> ReconciliationIncident:
    reason = operator_reason(reason)
    if incident.status != "open":
        raise IncidentNotOpen()
    resolved = reconciliation_incident_resolve(incident_id=incident.pk, actor=actor, note=reason)
    operator_action(actor=actor, action="reconciliation_incident_resolve", target=resolved, reason=reason,
                    before={"status": incident.status}, after={"status": resolved.status})
    return resolved


@transaction.atomic
def payment_shortfall_resolve_by_operator(*, reversal: PaymentReversal, actor, reason: str) -> PaymentReversal:
    """Settle what a refund or dispute could not claw back (recovered otherwise, or written off)."""
    reason = operator_reason(reason)
    if reversal.resolved_at is not None:
        raise ShortfallAlreadySettled()
    resolved = payment_reversal_resolve(reversal_id=reversal.pk, actor=actor, note=reason)
    operator_action(actor=actor, action="payment_shortfall_resolve", target=resolved, reason=reason,
                    before={"resolved": False, "shortfall": reversal.shortfall},
                    after={"resolved": True, "shortfall": resolved.shortfall})
    return resolved


def payment_refundable_cents(payment: Payment) -> int:
    """What is left to refund of a payment, as Phoenix knows it (Stripe has the last word)."""
    if payment.status != PaymentStatus.SUCCEEDED or payment.disputed_at is not None:
        return 0
    return payment.amount_cents - payment.amount_refunded_cents


def _payment_refund_state(payment: Payment) -> dict:
    return {"status": payment.status, "amount_refunded_cents": payment.amount_refunded_cents,
            "fulfilled_quantity": payment.fulfilled_quantity}


@transaction.atomic
def payment_refund_by_operator(*, payment: Payment, amount_cents: int, stripe_reason: str, actor, reason: str,
                               intent_key: str) -> PaymentRefund:
    """Refund (part of) a payment through Stripe, audited.

    Nothing is clawed back here: the refund's ``charge.refunded`` webhook applies it through
    ``payment_reverse``, which takes only what is not yet taken (once, however often the event
    is delivered). The payment row stays locked during the Stripe call, so two operators'
    refunds of one payment go to Stripe one after the other; Stripe refuses one that exceeds
    what is left. Stripe's idempotency key is the operator's intent: a retry after a lost
    answer (or a rolled-back commit) returns the same refund, never a second one.
    """
    reason = operator_reason(reason)
    payment = Payment.objects.select_for_update().select_related("user").get(pk=payment.pk)
    if done := PaymentRefund.objects.filter(intent_key=intent_key).first():
        raise operator_intent_done(done_at=done.created_at, what=f"refund {done.stripe_refund_id}",
                                   refund_id=done.stripe_refund_id)
    left = payment_refundable_cents(payment)
    if not payment.stripe_payment_intent_id or left == 0:
        raise PaymentNotRefundable(
            f"Payment {payment.pk} is {payment.status}"
            + (", disputed (answer the dispute at Stripe instead)" if payment.disputed_at else "")
            + f", {payment.amount_refunded_cents} of {payment.amount_cents} cents refunded: nothing to refund.")
    if not 0 < amount_cents <= left:
        raise PaymentNotRefundable(f"A refund of this payment is 1 to {left} cents; {amount_cents} asked.")
    if stripe_reason and stripe_reason not in STRIPE_REFUND_REASONS:
        raise PaymentNotRefundable(f"Stripe's refund reason is one of {STRIPE_REFUND_REASONS}.")
    before = _payment_refund_state(payment)
    refund = gateway.refund_create(
        payment_intent_id=payment.stripe_payment_intent_id, amount_cents=amount_cents, stripe_reason=stripe_reason,
        metadata={"phoenix_payment": str(payment.public_id), "phoenix_operator": str(actor.pk)},
        idempotency_key=f"phoenix-refund-{intent_key}")
    record = PaymentRefund.objects.create(
        payment=payment, stripe_refund_id=refund["id"], amount_cents=int(refund["amount"]),
        currency=payment.currency, stripe_reason=stripe_reason, stripe_status=refund.get("status") or "",
        intent_key=intent_key, requested_by=actor, reason=reason)
    operator_action(actor=actor, action="payment_refund", target=payment, reason=reason, before=before,
                    after={**before, "refund_id": record.stripe_refund_id, "refund_amount_cents": record.amount_cents,
                           "refund_status": record.stripe_status})
    return record
