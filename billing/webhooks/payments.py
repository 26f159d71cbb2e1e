"""Handlers for payments made through billing (Checkout Sessions and PaymentIntents).

Objects are recognized by the metadata billing puts on them (``phoenix_kind``, ...);
objects without it belong to someone else (e.g. subscription invoices) and are left alone
here. All outcomes go through ``billing.services.payments``, whose state machine makes
late or repeated events harmless: nothing ever moves a payment backwards.
"""

from __future__ import annotations

import structlog

from billing import gateway
from billing.errors import ForeignStripeObject, PaymentNotYetKnown
from billing.models import PaymentStatus, ReversalKind
from billing.services import payments as svc
from billing.stripe_objects import object_id, subscription_period_end
from billing.webhooks.events import StripeEvent

logger = structlog.get_logger("phoenix.billing.webhooks")

PAID_SESSION_STATUSES = ("paid", "no_payment_required")


def _session_payment(event: StripeEvent):
    try:
        return svc.payment_for_checkout_session(session=event.object)
    except ForeignStripeObject:
        logger.info("checkout_session_not_ours", session=event.object.get("id"), type=event.type)
        return None


def checkout_session_paid(*, event: StripeEvent) -> None:
    session = event.object
    payment = _session_payment(event)
    if payment is None:
        return
    if session.get("payment_status") not in PAID_SESSION_STATUSES:
        # Delayed payment method (SEPA, ...): async_payment_succeeded/failed will follow.
        return
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        return  # a replay or the other completion event: settled already (no Stripe call)
    svc.payment_succeed(
        payment_id=payment.pk, payment_intent_id=session.get("payment_intent"),
        stripe_context=_session_context(event),
    )


def _session_context(event: StripeEvent) -> dict:
    """What the fulfilment needs to know from Stripe: when it happened and, for a
    subscription-mode session, which subscription and until when it is paid.

    The session only names its subscription, so it is fetched (before any row lock is
    taken; a Stripe outage fails the event, which Stripe retries). Without Stripe keys
    (signed demo events) the period end is left to the fulfilment's default.
    """
    session = event.object
    context: dict = {"event_id": event.id, "event_created": event.created.isoformat()}
    if session.get("mode") != "subscription":
        return context
    subscription = session.get("subscription")
    context["subscription_id"] = object_id(subscription)
    if not isinstance(subscription, dict) and context["subscription_id"] and gateway.stripe_is_configured():
        subscription = gateway.subscription_retrieve(subscription_id=context["subscription_id"])
    if isinstance(subscription, dict):
        period_end = subscription_period_end(subscription)
        if period_end is not None:
            context["period_end"] = period_end.isoformat()
    return context


def checkout_session_payment_failed(*, event: StripeEvent) -> None:
    payment = _session_payment(event)
    if payment is not None:
        svc.payment_fail(payment_id=payment.pk, reason="async payment failed")


def checkout_session_expired(*, event: StripeEvent) -> None:
    payment = _session_payment(event)
    if payment is not None:
        svc.payment_cancel(payment_id=payment.pk)


def _intent_payment(event: StripeEvent):
    intent = event.object
    payment = svc.payment_for_intent_id(payment_intent_id=intent.get("id"))
    if payment is None and (intent.get("metadata") or {}).get(svc.META_KIND):
        # Ours, but made by a Checkout Session whose completion has not linked it yet:
        # the session events drive that payment.
        logger.info("intent_of_unlinked_session", payment_intent=intent.get("id"), type=event.type)
    return payment


def payment_intent_succeeded(*, event: StripeEvent) -> None:
    payment = _intent_payment(event)
    if payment is not None:
        svc.payment_succeed(
            payment_id=payment.pk, payment_intent_id=event.object["id"],
            charge_id=event.object.get("latest_charge") or "",
        )


def payment_intent_payment_failed(*, event: StripeEvent) -> None:
    # Not final at Stripe: the intent goes back to requires_payment_method and the
    # customer may retry, so the payment stays pending (it ends with succeeded/canceled).
    payment = _intent_payment(event)
    if payment is not None:
        error = event.object.get("last_payment_error") or {}
        svc.payment_note_attempt_failed(payment_id=payment.pk, reason=str(error.get("message") or "failed"))


def payment_intent_canceled(*, event: StripeEvent) -> None:
    payment = _intent_payment(event)
    if payment is not None:
        svc.payment_cancel(payment_id=payment.pk)


def _charge_payment(*, payment_intent_id, metadata: dict | None, what: str):
    payment = svc.payment_for_intent_id(payment_intent_id=payment_intent_id)
    if payment is None and (metadata or {}).get(svc.META_KIND):
        # The charge carries our metadata (copied from the intent), so it is ours and
        # the session completion has not arrived yet: fail, Stripe retries later.
        raise PaymentNotYetKnown(f"{what} for payment intent {payment_intent_id} not linked yet")
    return payment


def _settle_first(payment, *, charge: dict) -> None:
    # Out of order: the reversal overtook the success event. The charge proves payment.
    if payment.status == PaymentStatus.PENDING and charge.get("paid"):
        svc.payment_succeed(
            payment_id=payment.pk, payment_intent_id=charge.get("payment_intent"),
            charge_id=charge.get("id") or "",
        )


def charge_refunded(*, event: StripeEvent) -> None:
    charge = event.object
    payment = _charge_payment(
        payment_intent_id=charge.get("payment_intent"), metadata=charge.get("metadata"), what="refund"
    )
    if payment is None:
        logger.info("refund_not_ours", charge=charge.get("id"))
        return
    _settle_first(payment, charge=charge)
    svc.payment_reverse(
        payment_id=payment.pk,
        kind=ReversalKind.REFUND,
        stripe_object_id=charge["id"],
        stripe_event_id=event.id,
        amount_refunded_cents=int(charge.get("amount_refunded") or 0),
        fully_refunded=bool(charge.get("refunded")),
    )
    svc.payment_refund_statuses_record(refunds=(charge.get("refunds") or {}).get("data") or [])


def charge_dispute_created(*, event: StripeEvent) -> None:
    dispute = event.object
    payment = svc.payment_for_intent_id(payment_intent_id=dispute.get("payment_intent"))
    if payment is None:
        logger.info("dispute_not_ours", dispute=dispute.get("id"))
        return
    if payment.status == PaymentStatus.PENDING:
        # Out of order: a dispute exists only for a captured charge, so it was paid.
        svc.payment_succeed(
            payment_id=payment.pk, payment_intent_id=dispute.get("payment_intent"),
            charge_id=dispute.get("charge") or "",
        )
    svc.payment_reverse(
        payment_id=payment.pk,
        kind=ReversalKind.DISPUTE,
        stripe_object_id=dispute["id"],
        stripe_event_id=event.id,
        disputed=True,
    )
