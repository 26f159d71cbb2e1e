"""Individual access plans as a product kind: ``plan:<Plan.code>``.

- monthly (``luna_unlimited``): a Checkout Session in ``subscription`` mode; its
  completion makes the buyer PREMIUM until the subscription's period end. Renewals,
  failures, cancellation and the end arrive as invoice / subscription events
  (``billing/webhooks/subscriptions.py``).
- lifetime (``luna_lifetime``): a one-off payment; its completion makes the buyer
  LIFETIME. A monthly subscription they still had is canceled through Stripe after commit
  (``billing.signals.stripe_subscription_cancel_requested``; its later events find the
  access LIFETIME and change nothing).

Access changes only through ``subscriptions.services``, keyed on
``payment:<pk>`` and timed with the Stripe event, so replays and late events are no-ops.
"""

from __future__ import annotations

import structlog
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from billing.errors import AlreadyPremium, UnknownProduct
from billing.models import Payment, ReconciliationIncident
from billing.products.base import PLAN, ProductKind, Quote, stripe_context_time
from billing.signals import stripe_subscription_cancel_requested
from billing.stripe_objects import activation_reference, add_one_month
from subscriptions.errors import AlreadyLicensed, AlreadyLifetime
from subscriptions.models import AccessType, Plan, PlanAudience, PlanKind
from subscriptions.selectors import access_for_user, plan_for_code
from subscriptions.services import access_activate_premium, access_grant_lifetime

logger = structlog.get_logger("phoenix.billing.plans")


def _plan(code: str, *, purchasing: bool):
    if purchasing:
        plan = plan_for_code(code=code, audience=PlanAudience.INDIVIDUAL)
    else:  # already paid: a plan retired since still describes what was bought
        plan = Plan.objects.filter(code=code, audience=PlanAudience.INDIVIDUAL).first()
    if plan is None:
        raise UnknownProduct(f"No plan {code!r} for sale.")
    return plan


def individual_plan_code(code: str) -> bool:
    """Whether ``code`` names an individual plan (``POST /billing/checkout`` accepts
    ``luna_unlimited`` as well as ``plan:luna_unlimited``)."""
    return plan_for_code(code=code, audience=PlanAudience.INDIVIDUAL) is not None


def plan_quote(*, user, code: str, purchasing: bool = True) -> Quote:
    plan = _plan(code, purchasing=purchasing)
    if purchasing:
        access = access_for_user(user)
        if access.type == AccessType.LIFETIME:
            raise AlreadyLifetime()
        if plan.kind == PlanKind.MONTHLY and access.type == AccessType.PREMIUM:
            raise AlreadyPremium(cancel_at_period_end=access.cancel_at_period_end)
        if plan.kind == PlanKind.MONTHLY and access.type == AccessType.LICENSED:
            raise AlreadyLicensed("A seat license already gives unlimited access: no personal plan to buy.")
    return Quote(
        amount_cents=plan.price_cents,
        currency=plan.currency.lower(),
        label=plan.label,
        snapshot={"code": plan.code, "kind": plan.kind, "price_cents": plan.price_cents},
        mode="subscription" if plan.kind == PlanKind.MONTHLY else "payment",
    )


def _stripe_subscription_cancel_later(*, subscription_id: str, reason: str) -> None:
    """Cancel a Stripe subscription once the current transaction commits (a Celery task,
    with retries: a Stripe outage delays it, never loses it; see ``billing.receivers``)."""
    logger.info("stripe_subscription_cancel_scheduled", subscription_id=subscription_id, reason=reason)
    stripe_subscription_cancel_requested.send(sender=PLAN, subscription_id=subscription_id, reason=reason)


def plan_fulfill(*, payment: Payment) -> int:
    snapshot = payment.metadata.get("product") or {}
    kind = snapshot.get("kind") or _plan(payment.product_code, purchasing=False).kind
    stripe = payment.metadata.get("stripe") or {}
    event_time = stripe_context_time(payment)

    if kind == PlanKind.LIFETIME:
        before = access_for_user(payment.user)
        change = access_grant_lifetime(user=payment.user, event_time=event_time,
                                       reference=payment.idempotency_key)
        if change.applied and before.type == AccessType.PREMIUM and before.stripe_subscription_id:
            # Lifetime replaces the monthly plan: stop billing it (after commit, retried).
            _stripe_subscription_cancel_later(
                subscription_id=before.stripe_subscription_id, reason="replaced_by_lifetime",
            )
        return 1

    subscription_id = stripe.get("subscription_id") or ""
    if access_for_user(payment.user).type == AccessType.LICENSED:
        # Paid elsewhere while a seat gives them unlimited access (the checkout endpoint
        # refuses it): no personal plan on top; cancel it and record it for a refund.
        _refuse_plan_for_licensed(payment=payment, subscription_id=subscription_id)
        return 0
    period_end = parse_datetime(stripe["period_end"]) if stripe.get("period_end") else None
    try:
        # Not known (demo events without Stripe keys): one month from the event, as Stripe
        # bills, until the subscription's first invoice.paid gives the exact end. The
        # activation is keyed on the subscription, as the first invoice's is: one of the
        # two applies it, the other is a no-op, in whichever order they arrive.
        access_activate_premium(
            user=payment.user, period_end=period_end or add_one_month(event_time), provisional=period_end is None,
            event_time=event_time, stripe_subscription_id=subscription_id,
            reference=activation_reference(subscription_id) if subscription_id else payment.idempotency_key,
        )
    except AlreadyLifetime:
        # Bought elsewhere while lifetime (the checkout endpoint refuses it): they must
        # not pay monthly for what they own. Cancel it; the refund is an admin's call.
        logger.warning("monthly_plan_for_lifetime_user", payment_id=payment.pk,
                       subscription_id=subscription_id)
        if subscription_id:
            _stripe_subscription_cancel_later(
                subscription_id=subscription_id, reason="already_lifetime",
            )
        return 0
    return 1


def _refuse_plan_for_licensed(*, payment: Payment, subscription_id: str) -> None:
    logger.warning("monthly_plan_for_licensed_user", payment_id=payment.pk, subscription_id=subscription_id)
    now = timezone.now()
    ReconciliationIncident.objects.get_or_create(
        code="plan_for_licensed_user", subject=f"payment:{payment.pk}", status="open",
        defaults={"payment": payment, "detected_at": now, "last_seen_at": now,
                  "detail": {"subscription_id": subscription_id, "action": "refund the payment"}},
    )
    if subscription_id:
        _stripe_subscription_cancel_later(subscription_id=subscription_id, reason="already_licensed")


PLAN_KIND = ProductKind(name=PLAN, quote=plan_quote, fulfill=plan_fulfill)
