"""Payments: start a checkout or a PaymentIntent, move payments through their states.

The state machine: ``pending -> succeeded | failed | canceled`` and
``succeeded -> refunded``. Every change happens with the payment row locked
(``select_for_update``), so a webhook, ``confirm-payment``, a replay and concurrent
duplicates all serialize on that row; the first one to see ``pending`` fulfils, the others
find the work done. The fulfilment itself is keyed on ``payment.idempotency_key`` in the
ledger, a second line of defence.

Outbound Stripe calls are made outside any transaction (no lock held across the network).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing import gateway
from billing.errors import (
    CheckoutRequired,
    ForeignStripeObject,
    IllegalPaymentTransition,
    PaymentNotFound,
    UnknownProduct,
)
from billing.events import payment_refunded_emit, payment_succeeded_emit
from billing.models import (
    PAYMENT_TRANSITIONS,
    Payment,
    PaymentFlow,
    PaymentRefund,
    PaymentReversal,
    PaymentStatus,
)
from billing.products import product_kind_get
from billing.services.customers import stripe_customer_ensure

logger = structlog.get_logger("phoenix.billing")

# Metadata keys Phoenix puts on Checkout Sessions and PaymentIntents.
META_USER = "phoenix_user_id"
META_KIND = "phoenix_kind"
META_PRODUCT = "phoenix_product"
META_QUANTITY = "phoenix_quantity"


# --- State machine -------------------------------------------------------------------


def payment_can_transition(*, from_status: str, to_status: str) -> bool:
    return to_status in PAYMENT_TRANSITIONS.get(from_status, frozenset())


def payment_transition(*, payment: Payment, to_status: str, now: datetime | None = None) -> Payment:
    """Move a (locked) payment to ``to_status``; anything off the machine raises."""
    if not payment_can_transition(from_status=payment.status, to_status=to_status):
        raise IllegalPaymentTransition(
            f"A {payment.status} payment cannot become {to_status}.",
            from_status=payment.status,
            to_status=to_status,
        )
    payment.status = to_status
    payment.status_changed_at = now or timezone.now()
    payment.save(update_fields=["status", "status_changed_at", "updated_at"])
    return payment


def _lock(payment_id: int) -> Payment:
    return Payment.objects.select_for_update().get(pk=payment_id)


def _metadata(*, user, kind: str, code: str, quantity: int = 1) -> dict[str, str]:
    metadata = {META_USER: str(user.public_id), META_KIND: kind, META_PRODUCT: code}
    if quantity != 1:
        metadata[META_QUANTITY] = str(quantity)
    return metadata


def _quote(kind, *, user, code: str, purchasing: bool, quantity: int = 1):
    if kind.takes_quantity:
        return kind.quote(user=user, code=code, purchasing=purchasing, quantity=quantity)
    if quantity != 1:
        raise UnknownProduct(f"{kind.name} is sold one at a time.")
    return kind.quote(user=user, code=code, purchasing=purchasing)


# --- Starting a payment --------------------------------------------------------------


def stripe_idempotency_key(prefix: str, request_key: str | None) -> str:
    """The key sent to Stripe: derived from the client's request key (``request_key``, see
    ``billing.api.views``) so a retry of the same request asks Stripe for the same object;
    random without one (each call is then a new request)."""
    return f"phoenix-{prefix}-{request_key or uuid.uuid4()}"


def payment_checkout_start(
    *, user, product_kind: str, product_code: str, quantity: int = 1, request_key: str | None = None,
) -> tuple[Payment, str]:
    """Create a Checkout Session for a product; returns the payment and the checkout URL.

    The product's quote decides the mode: a one-off payment, or a subscription (monthly
    plan, first monthly seats) whose metadata Stripe copies onto the subscription. The
    session bills the user's Stripe Customer (created on the first purchase).
    """
    gateway.ensure_configured()
    kind = product_kind_get(product_kind)
    quote = _quote(kind, user=user, code=product_code, purchasing=True, quantity=quantity)
    customer = stripe_customer_ensure(user=user)
    common = {
        "currency": quote.currency,
        "product_name": quote.label,
        "metadata": _metadata(user=user, kind=product_kind, code=product_code, quantity=quote.quantity),
        "client_reference_id": str(user.public_id),
        "customer_id": customer.id,
        "success_url": settings.BILLING_CHECKOUT_SUCCESS_URL,
        "cancel_url": settings.BILLING_CHECKOUT_CANCEL_URL,
        "idempotency_key": stripe_idempotency_key("checkout", request_key),
    }
    if quote.mode == "subscription":
        session = gateway.checkout_subscription_session_create(
            unit_amount_cents=quote.amount_cents, quantity=quote.quantity, interval=quote.interval,
            **common,
        )
    else:
        session = gateway.checkout_session_create(
            amount_cents=quote.amount_cents, quantity=quote.quantity, **common
        )
    payment = _payment_for_session(
        session=session, user=user, kind=product_kind, code=product_code, snapshot=quote.snapshot
    )
    return payment, session.get("url") or ""


def payment_intent_start(
    *, user, product_kind: str, product_code: str, request_key: str | None = None,
) -> tuple[Payment, dict[str, Any]]:
    """Create a PaymentIntent for a product (for the user's Stripe Customer); returns the
    payment and the intent."""
    gateway.ensure_configured()
    kind = product_kind_get(product_kind)
    quote = _quote(kind, user=user, code=product_code, purchasing=True)
    if quote.mode != "payment":
        raise CheckoutRequired()
    customer = stripe_customer_ensure(user=user)
    intent = gateway.payment_intent_create(
        customer_id=customer.id,
        amount_cents=quote.amount_cents,
        currency=quote.currency,
        metadata=_metadata(user=user, kind=product_kind, code=product_code),
        description=quote.label,
        idempotency_key=stripe_idempotency_key("intent", request_key),
    )
    payment = _payment_get_or_create(
        lookup={"stripe_payment_intent_id": intent["id"]},
        defaults={
            "user": user,
            "flow": PaymentFlow.PAYMENT_INTENT,
            "product_kind": product_kind,
            "product_code": product_code,
            "amount_cents": int(intent["amount"]),
            "currency": str(intent["currency"]).lower(),
            "metadata": {"product": quote.snapshot},
        },
    )
    return payment, intent


def _payment_get_or_create(*, lookup: dict[str, Any], defaults: dict[str, Any]) -> Payment:
    # A webhook may create the same row concurrently (it knows the session from its
    # metadata): the unique Stripe id decides, the loser reads the winner's row.
    try:
        with transaction.atomic():
            payment, _ = Payment.objects.get_or_create(**lookup, defaults=defaults)
    except IntegrityError:
        payment = Payment.objects.get(**lookup)
    return payment


def _payment_for_session(*, session: dict[str, Any], user, kind: str, code: str, snapshot) -> Payment:
    return _payment_get_or_create(
        lookup={"stripe_checkout_session_id": session["id"]},
        defaults={
            "user": user,
            "flow": PaymentFlow.CHECKOUT,
            "product_kind": kind,
            "product_code": code,
            "amount_cents": int(session["amount_total"]),
            "currency": str(session["currency"]).lower(),
            "metadata": {"product": snapshot},
        },
    )


# --- Finding the payment an event talks about ----------------------------------------


def payment_for_checkout_session(*, session: dict[str, Any]) -> Payment:
    """The payment of a Checkout Session, created from its metadata if we have no row yet.

    A webhook can arrive before the request that created the session stored its row
    (or for a session created elsewhere, e.g. the demo command); the session's metadata
    names the user and the product, and its totals are Stripe's truth.
    """
    existing = Payment.objects.filter(stripe_checkout_session_id=session["id"]).first()
    if existing:
        return existing
    metadata = session.get("metadata") or {}
    if not metadata.get(META_KIND):
        raise ForeignStripeObject(session["id"])
    user = get_user_model().objects.get(public_id=uuid.UUID(metadata[META_USER]))
    kind = product_kind_get(metadata[META_KIND])
    # purchasing=False: the money is taken, so eligibility rules no longer apply.
    snapshot = _quote(
        kind, user=user, code=metadata[META_PRODUCT], purchasing=False,
        quantity=int(metadata.get(META_QUANTITY) or 1),
    ).snapshot
    return _payment_for_session(
        session=session, user=user, kind=metadata[META_KIND], code=metadata[META_PRODUCT],
        snapshot=snapshot,
    )


def payment_for_intent_id(*, payment_intent_id: str | None) -> Payment | None:
    if not payment_intent_id:
        return None
    return Payment.objects.filter(stripe_payment_intent_id=payment_intent_id).first()


# --- Outcomes ------------------------------------------------------------------------


@transaction.atomic
def payment_succeed(
    *, payment_id: int, payment_intent_id: str | None = None, charge_id: str = "",
    now: datetime | None = None, stripe_context: dict[str, Any] | None = None,
) -> Payment:
    """Mark a payment succeeded and fulfil it, exactly once, whoever calls first.

    ``stripe_context`` (event time, subscription id, period end) is kept on the payment's
    metadata under ``"stripe"`` for the fulfilment to read (e.g. PREMIUM until when)."""
    payment = _lock(payment_id)
    _remember_stripe_ids(payment, payment_intent_id=payment_intent_id, charge_id=charge_id)
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        return payment  # already done by another delivery: nothing twice
    if stripe_context:
        payment.metadata = {**payment.metadata, "stripe": stripe_context}
        payment.save(update_fields=["metadata", "updated_at"])
    payment_transition(payment=payment, to_status=PaymentStatus.SUCCEEDED, now=now)
    kind = product_kind_get(payment.product_kind)
    payment.fulfilled_quantity = kind.fulfill(payment=payment)
    payment.fulfilled_at = now or timezone.now()
    payment.save(update_fields=["fulfilled_quantity", "fulfilled_at", "updated_at"])
    logger.info("payment_succeeded", payment_id=payment.pk, quantity=payment.fulfilled_quantity)
    payment_succeeded_emit(payment)
    return payment


def _remember_stripe_ids(payment: Payment, *, payment_intent_id: str | None, charge_id: str) -> None:
    fields = []
    if payment_intent_id and not payment.stripe_payment_intent_id:
        payment.stripe_payment_intent_id = payment_intent_id
        fields.append("stripe_payment_intent_id")
    if charge_id and not payment.stripe_charge_id:
        payment.stripe_charge_id = charge_id
        fields.append("stripe_charge_id")
    if fields:
        payment.save(update_fields=[*fields, "updated_at"])


@transaction.atomic
def payment_fail(*, payment_id: int, reason: str = "", now: datetime | None = None) -> Payment:
    """pending -> failed; a late failure for a settled payment changes nothing."""
    payment = _lock(payment_id)
    if payment.status == PaymentStatus.PENDING:
        payment.metadata = {**payment.metadata, "failure_reason": reason[:500]}
        payment.save(update_fields=["metadata", "updated_at"])
        payment_transition(payment=payment, to_status=PaymentStatus.FAILED, now=now)
    return payment


@transaction.atomic
def payment_cancel(*, payment_id: int, now: datetime | None = None) -> Payment:
    """pending -> canceled (session expired, intent canceled); never moves a settled one back."""
    payment = _lock(payment_id)
    if payment.status == PaymentStatus.PENDING:
        payment_transition(payment=payment, to_status=PaymentStatus.CANCELED, now=now)
    return payment


@transaction.atomic
def payment_note_attempt_failed(*, payment_id: int, reason: str) -> Payment:
    """A PaymentIntent attempt failed: the customer may retry, so it stays pending."""
    payment = _lock(payment_id)
    payment.metadata = {**payment.metadata, "last_attempt_error": reason[:500]}
    payment.save(update_fields=["metadata", "updated_at"])
    return payment


# --- Reversals (refunds, disputes) ---------------------------------------------------


@transaction.atomic
def payment_reverse(
    *,
    payment_id: int,
    kind: str,
    stripe_object_id: str,
    stripe_event_id: str = "",
    amount_refunded_cents: int | None = None,
    fully_refunded: bool = False,
    disputed: bool = False,
    now: datetime | None = None,
) -> PaymentReversal | None:
    """Apply a refund or dispute: claw back what it takes, record any shortfall.

    Idempotent and order-independent: the claw-back target is derived from cumulative
    state (the largest amount refunded seen so far, disputed or not), and only the part
    of it not yet requested by earlier reversals is taken now. A replay, a duplicate or
    an older ``charge.refunded`` therefore takes nothing more.
    """
    now = now or timezone.now()
    payment = _lock(payment_id)
    if payment.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        raise IllegalPaymentTransition(
            f"A {payment.status} payment cannot be refunded or disputed.",
            from_status=payment.status, to_status=kind,
        )
    fields = ["updated_at"]
    reversed_cents = 0
    if amount_refunded_cents is not None and amount_refunded_cents > payment.amount_refunded_cents:
        reversed_cents = amount_refunded_cents - payment.amount_refunded_cents
        payment.amount_refunded_cents = min(amount_refunded_cents, payment.amount_cents)
        fields.append("amount_refunded_cents")
    if disputed and payment.disputed_at is None:
        reversed_cents = payment.amount_cents
        payment.disputed_at = now
        fields.append("disputed_at")
    payment.save(update_fields=fields)
    if fully_refunded and payment.status == PaymentStatus.SUCCEEDED:
        payment_transition(payment=payment, to_status=PaymentStatus.REFUNDED, now=now)

    target = _clawback_target(payment)
    already = payment.reversals.aggregate(total=Sum("requested"))["total"] or 0
    to_take = max(0, target - already)
    if to_take == 0 and reversed_cents == 0:
        return None  # a replay, a duplicate or an older event: nothing new
    # Money reversed with nothing more to take back (a later partial refund whose share rounds
    # into what was already taken) still gets its row: every refunded cent has a date.
    product = product_kind_get(payment.product_kind)
    recovered, shortfall = 0, to_take
    if product.reverse is not None and to_take:
        recovered, shortfall = product.reverse(
            payment=payment,
            quantity=to_take,
            idempotency_key=f"{payment.idempotency_key}:reversal:{already}",
            reason=f"{kind} {stripe_object_id}",
        )
    reversal = PaymentReversal.objects.create(
        payment=payment, kind=kind, stripe_object_id=stripe_object_id,
        stripe_event_id=stripe_event_id, amount_cents=reversed_cents,
        requested=to_take, recovered=recovered, shortfall=shortfall,
    )
    if shortfall:
        logger.warning("clawback_shortfall", payment_id=payment.pk, shortfall=shortfall)
    payment_refunded_emit(payment, reversal)
    return reversal


def payment_refund_statuses_record(*, refunds: list[dict[str, Any]]) -> int:
    """Keep the status at Stripe of the operator refunds a ``charge.refunded`` lists."""
    updated = 0
    for refund in refunds:
        if refund.get("id") and refund.get("status"):
            updated += PaymentRefund.objects.filter(stripe_refund_id=refund["id"]).exclude(
                stripe_status=refund["status"]).update(stripe_status=refund["status"])
    return updated


def _clawback_target(payment: Payment) -> int:
    """How much of the fulfilment should be taken back in total, given refunds/disputes."""
    if payment.disputed_at is not None or payment.status == PaymentStatus.REFUNDED:
        return payment.fulfilled_quantity
    # Partial refund: the same share of the fulfilment (rounded up: never under-claw).
    share = payment.fulfilled_quantity * payment.amount_refunded_cents
    return -(-share // payment.amount_cents)


@transaction.atomic
def payment_reversal_resolve(*, reversal_id: int, actor, note: str) -> PaymentReversal:
    """An admin settled a shortfall (recovered otherwise, or written off), with a reason."""
    reversal = PaymentReversal.objects.select_for_update().get(pk=reversal_id)
    if reversal.resolved_at is None:
        reversal.resolved_at = timezone.now()
        reversal.resolved_by = actor
        reversal.resolution_note = note
        reversal.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
    return reversal


# --- PaymentIntent confirmation (client flow) ----------------------------------------


def payment_confirm(*, user, payment_intent_id: str) -> Payment:
    """Ask Stripe where the user's PaymentIntent stands and apply it (races the webhook)."""
    gateway.ensure_configured()
    payment = Payment.objects.filter(
        stripe_payment_intent_id=payment_intent_id, user=user
    ).first()
    if payment is None:
        raise PaymentNotFound()
    intent = gateway.payment_intent_retrieve(payment_intent_id=payment_intent_id)
    return payment_apply_intent(payment=payment, intent=intent)


def payment_apply_intent(*, payment: Payment, intent: dict[str, Any]) -> Payment:
    status = intent.get("status")
    if status == "succeeded":
        return payment_succeed(
            payment_id=payment.pk, payment_intent_id=intent["id"],
            charge_id=intent.get("latest_charge") or "",
        )
    if status == "canceled":
        return payment_cancel(payment_id=payment.pk)
    payment.refresh_from_db()
    return payment
