"""Subscription lifecycle events: individual PREMIUM plans and the pros' grouped seat
subscriptions.

Whose subscription an event is about comes from the metadata Phoenix put on it at
checkout (``phoenix_kind`` ``plan`` or ``pro_seats``, ``phoenix_user_id``; invoices
carry a snapshot of it), else from the ids the domain recorded
(``ProAccount.stripe_subscription_id``, ``Access.stripe_subscription_id``). Anything
else is not ours and is left alone.

Every call passes Stripe's event time and a Stripe-id reference, so the domain services
ignore replays (``duplicate``), older events (``stale``) and events about a subscription
the user has since replaced (``other_subscription``): delivery order does not matter.

- ``invoice.paid``: individual, ``subscription_create`` -> PREMIUM (activation),
  any later reason -> renewal (period end forward, revives an access a failure
  expired); pro, not ``subscription_create`` (the first seats are the checkout's) ->
  renewal paid (suspended seats back, due cancellations processed).
- ``invoice.payment_failed``: individual -> EXPIRED at the first failure (Stripe's
  further attempts on the same invoice are duplicates); pro -> monthly seats and the
  account suspended, lifetime seats untouched.
- ``customer.subscription.updated``: only a change of ``cancel_at_period_end`` matters
  (other updates must not advance the access's event clock).
- ``customer.subscription.deleted``: individual -> EXPIRED (or LICENSED, when a
  license waits), and a pending license assignment is finalized; pro -> treated as a
  failed renewal (monthly seats suspended until the pro pays again).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from django.contrib.auth import get_user_model

from billing.products import PLAN, PRO_SEATS
from billing.services.payments import META_KIND, META_USER
from billing.stripe_objects import (
    activation_reference,
    invoice_period_end,
    invoice_subscription_id,
    invoice_subscription_metadata,
)
from billing.webhooks.events import StripeEvent
from licenses.selectors import pending_assignment_for, pro_account_for_stripe_subscription
from licenses.services import license_assignment_finalize, pro_renewal_failed, pro_renewal_paid
from subscriptions.errors import AlreadyLifetime, NotPremium
from subscriptions.selectors import access_for_stripe_subscription
from subscriptions.services import (
    access_activate_premium,
    access_end_premium,
    access_payment_failed,
    access_renew_premium,
    access_resume,
    access_set_cancel_at_period_end,
)

logger = structlog.get_logger("phoenix.billing.webhooks")


@dataclass(frozen=True)
class Owner:
    """Who a subscription bills: an individual ``user`` or a ``pro_account``."""

    user: Any = None
    pro_account: Any = None


def _user_from_metadata(metadata: dict[str, str]):
    try:
        public_id = uuid.UUID(metadata.get(META_USER) or "")
    except ValueError:
        return None
    return get_user_model().objects.filter(public_id=public_id).first()


def subscription_owner(*, subscription_id: str, metadata: dict[str, str]) -> Owner | None:
    kind = metadata.get(META_KIND)
    if kind == PRO_SEATS:
        account = pro_account_for_stripe_subscription(subscription_id)
        return Owner(pro_account=account) if account is not None else None
    if kind == PLAN:
        user = _user_from_metadata(metadata)
        return Owner(user=user) if user is not None else None
    # No metadata (created outside Phoenix's checkout, or an old API snapshot).
    if account := pro_account_for_stripe_subscription(subscription_id):
        return Owner(pro_account=account)
    if access := access_for_stripe_subscription(subscription_id):
        return Owner(user=access.user)
    return None


def _invoice_owner(event: StripeEvent) -> tuple[str, Owner | None]:
    invoice = event.object
    subscription_id = invoice_subscription_id(invoice)
    if not subscription_id:
        return "", None  # a one-off invoice: not a subscription's
    owner = subscription_owner(subscription_id=subscription_id, metadata=invoice_subscription_metadata(invoice))
    if owner is None:
        logger.info("subscription_not_ours", type=event.type, subscription=subscription_id)
    return subscription_id, owner


def invoice_paid(*, event: StripeEvent) -> None:
    invoice = event.object
    subscription_id, owner = _invoice_owner(event)
    if owner is None:
        return
    reference = f"invoice:{invoice['id']}"
    first = invoice.get("billing_reason") == "subscription_create"
    if owner.pro_account is not None:
        if not first:  # the first invoice is the checkout that bought the seats
            result = pro_renewal_paid(pro_account=owner.pro_account, event_time=event.created, reference=reference)
            logger.info("pro_renewal_paid", pro_account=owner.pro_account.pk, reason=result.reason)
        return
    period_end = invoice_period_end(invoice)
    if period_end is None:
        raise ValueError(f"invoice {invoice['id']} has no line period")  # not Stripe's shape: retry/inspect
    service = access_activate_premium if first else access_renew_premium
    if first:  # the activation, announced by the checkout too: keyed on the subscription
        reference = activation_reference(subscription_id)
    try:
        change = service(user=owner.user, period_end=period_end, event_time=event.created,
                         stripe_subscription_id=subscription_id, reference=reference)
    except AlreadyLifetime:
        logger.warning("premium_invoice_for_lifetime_user", user=owner.user.pk, subscription=subscription_id)
        return
    logger.info("premium_invoice_paid", user=owner.user.pk, applied=change.applied, reason=change.reason)


def invoice_payment_failed(*, event: StripeEvent) -> None:
    invoice = event.object
    subscription_id, owner = _invoice_owner(event)
    if owner is None:
        return
    # Keyed on the invoice, not the event: Stripe's later attempts on the same invoice
    # send new events, and only the first failure acts.
    reference = f"invoice:{invoice['id']}"
    if owner.pro_account is not None:
        if invoice.get("billing_reason") == "subscription_create":
            return  # the checkout did not complete: nothing was bought
        result = pro_renewal_failed(pro_account=owner.pro_account, event_time=event.created, reference=reference)
        logger.info("pro_renewal_failed", pro_account=owner.pro_account.pk, reason=result.reason)
        return
    change = access_payment_failed(user=owner.user, event_time=event.created,
                                   stripe_subscription_id=subscription_id, reference=reference)
    logger.info("premium_payment_failed", user=owner.user.pk, applied=change.applied, reason=change.reason)


def subscription_updated(*, event: StripeEvent) -> None:
    subscription = event.object
    if "cancel_at_period_end" not in event.previous_attributes:
        return  # status, period, quantity changes: invoices drive those
    owner = subscription_owner(subscription_id=subscription["id"], metadata=subscription.get("metadata") or {})
    if owner is None or owner.user is None:
        return  # a pro's grouped subscription is never canceled at period end by Phoenix
    service = access_set_cancel_at_period_end if subscription.get("cancel_at_period_end") else access_resume
    try:
        change = service(user=owner.user, event_time=event.created, stripe_subscription_id=subscription["id"],
                         reference=event.id)
    except NotPremium:
        # The access already left PREMIUM (a failure, the end): the flag no longer matters.
        logger.info("cancel_flag_for_non_premium", user=owner.user.pk, subscription=subscription["id"])
        return
    logger.info("premium_cancel_flag", user=owner.user.pk, applied=change.applied, reason=change.reason)


def subscription_deleted(*, event: StripeEvent) -> None:
    subscription = event.object
    owner = subscription_owner(subscription_id=subscription["id"], metadata=subscription.get("metadata") or {})
    if owner is None:
        logger.info("subscription_not_ours", type=event.type, subscription=subscription["id"])
        return
    reference = f"subscription_deleted:{subscription['id']}"
    if owner.pro_account is not None:
        # Stripe gave up on the grouped invoice (or it was canceled at Stripe): the
        # monthly seats are no longer paid for.
        pro_renewal_failed(pro_account=owner.pro_account, event_time=event.created, reference=reference)
        return
    change = access_end_premium(user=owner.user, event_time=event.created,
                                stripe_subscription_id=subscription["id"], reference=reference)
    # Stripe confirmed the personal subscription is gone: a license assignment waiting
    # for *this* subscription (the collaborator was PREMIUM) becomes active.
    license = None
    pending = pending_assignment_for(collaborator=owner.user)
    if pending is not None and pending.stripe_subscription_id in ("", subscription["id"]):
        license = license_assignment_finalize(collaborator=owner.user, event_time=event.created,
                                              reference=reference)
    logger.info("premium_subscription_deleted", user=owner.user.pk, applied=change.applied,
                reason=change.reason, license_finalized=license is not None)
