"""Stripe-side actions for individual subscriptions and pro seats (DESIGN.md §4, §5, §6).

Billing owns only the Stripe calls here; every state change is made by
``subscriptions.services`` / ``licenses.services``. Stripe is called outside any
database transaction (no row lock held across the network); what Stripe answers is then
applied through those services, and the webhook that follows finds it done.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from django.contrib.auth import get_user_model
from django.utils import timezone

from billing import gateway
from billing.errors import SeatPurchaseInProgress, StripeUnavailable
from billing.models import Payment
from billing.services.payments import payment_checkout_start
from billing.stripe_objects import subscription_first_item

logger = structlog.get_logger("phoenix.billing.subscriptions")


# --- individual: cancel at period end / resume ---------------------------------------


def premium_set_cancel_at_period_end(*, user, cancel: bool, now: datetime | None = None):
    """Cancel the user's monthly subscription at its period end (``cancel=True``) or
    withdraw that cancellation, at Stripe, then apply Stripe's answer to the access.

    Returns the ``AccessChange``. Not PREMIUM (or no Stripe subscription): 409
    ``not_premium``. The ``customer.subscription.updated`` event that follows is a no-op.
    """
    from subscriptions.models import AccessType
    from subscriptions.selectors import access_for_user
    from subscriptions.services import NotPremium, access_resume, access_set_cancel_at_period_end

    gateway.ensure_configured()
    access = access_for_user(user)
    if access.type != AccessType.PREMIUM or not access.stripe_subscription_id:
        raise NotPremium()
    subscription_id = access.stripe_subscription_id
    subscription = gateway.subscription_set_cancel_at_period_end(
        subscription_id=subscription_id, cancel=cancel,
        idempotency_key=f"phoenix-cancel-at-period-end-{uuid.uuid4()}",
    )
    service = access_set_cancel_at_period_end if subscription.get("cancel_at_period_end") else access_resume
    return service(user=user, event_time=now or timezone.now(), stripe_subscription_id=subscription_id)


# --- canceling a subscription at once (after commit, retried by a task) ----------------


def stripe_subscription_cancel_later(*, subscription_id: str, reason: str) -> None:
    """Cancel a Stripe subscription once the current transaction commits (Celery, with
    retries: a Stripe outage delays it, never loses it)."""
    from billing.tasks import cancel_stripe_subscription

    logger.info("stripe_subscription_cancel_scheduled", subscription_id=subscription_id, reason=reason)
    cancel_stripe_subscription.delay_on_commit(subscription_id=subscription_id, reason=reason)


def stripe_subscription_cancel(*, subscription_id: str) -> dict[str, Any]:
    return gateway.subscription_cancel(subscription_id=subscription_id)


# --- PREMIUM collaborator joining a license pool ---------------------------------------


def on_license_assignment_pending(sender, *, pending, **kwargs) -> None:
    """Receiver of ``licenses.signals.license_assignment_pending`` (sent after commit):
    cancel the collaborator's personal subscription through Stripe, in a retried task."""
    from billing.tasks import cancel_subscription_for_license

    cancel_subscription_for_license.delay_on_commit(
        collaborator_id=pending.collaborator_id, stripe_subscription_id=pending.stripe_subscription_id,
    )


def license_personal_subscription_cancel(*, collaborator_id: int, stripe_subscription_id: str,
                                         now: datetime | None = None) -> str:
    """Cancel at Stripe the personal subscription a pending assignment waits for.

    Returns ``canceled`` (Stripe's ``customer.subscription.deleted`` then finalizes the
    assignment), ``nothing_pending`` (finalized or aborted meanwhile: no Stripe call) or
    ``finalized`` (PREMIUM granted without a Stripe subscription: nothing to cancel).
    Stripe errors propagate (the task retries, then aborts the assignment).
    """
    from licenses.selectors import pending_assignment_for
    from licenses.services import license_assignment_finalize

    collaborator = get_user_model().objects.get(pk=collaborator_id)
    pending = pending_assignment_for(collaborator=collaborator)
    if pending is None or pending.stripe_subscription_id != stripe_subscription_id:
        return "nothing_pending"
    if not stripe_subscription_id:
        license_assignment_finalize(collaborator=collaborator, event_time=now or timezone.now())
        return "finalized"
    gateway.subscription_cancel(subscription_id=stripe_subscription_id)
    return "canceled"


def license_personal_subscription_cancel_failed(*, collaborator_id: int, reason: str) -> bool:
    """Stripe could not cancel the personal subscription: the license stays available."""
    from licenses.services import license_assignment_abort

    collaborator = get_user_model().objects.get(pk=collaborator_id)
    logger.warning("license_assignment_aborted", collaborator_id=collaborator_id, reason=reason)
    return license_assignment_abort(collaborator=collaborator, reason=reason)


# --- pro seats -------------------------------------------------------------------------


@dataclass(frozen=True)
class SeatPurchase:
    """``checkout``: pay on Stripe Checkout (``payment``, ``checkout_url``); ``added``:
    monthly seats added to the grouped subscription with proration (``licenses``,
    ``quote``), billed on the grouped date."""

    outcome: str
    payment: Payment | None = None
    checkout_url: str = ""
    licenses: list = field(default_factory=list)
    quote: Any = None


def pro_seats_purchase(*, owner, kind: str, quantity: int, now: datetime | None = None) -> SeatPurchase:
    """Buy ``quantity`` seats of ``kind`` for the owner's pro account.

    Lifetime seats, and the first monthly seats (which start the grouped cycle), go
    through Checkout. Later monthly seats raise the grouped subscription's quantity at
    Stripe, prorated to the grouped date (the price ``license_purchase_quote`` shows),
    and the seats exist at once.
    """
    from licenses.models import LicenseKind, ProAccountStatus
    from licenses.selectors import license_purchase_quote, pro_account_for_owner
    from licenses.services import InvalidQuantity, ProAccountNotActive, license_purchase
    from phoenix.core.jobs import advisory_lock

    from billing.webhooks.pro_seats import PRO_SEATS

    gateway.ensure_configured()
    if not 1 <= quantity <= 1000:
        raise InvalidQuantity()
    account = pro_account_for_owner(owner)
    if kind == LicenseKind.LIFETIME or account.billing_anchor_day is None or not account.stripe_subscription_id:
        payment, url = payment_checkout_start(
            user=owner, product_kind=PRO_SEATS, product_code=kind, quantity=quantity
        )
        return SeatPurchase("checkout", payment=payment, checkout_url=url)
    if account.status == ProAccountStatus.SUSPENDED:
        raise ProAccountNotActive(status=account.status)

    now = now or timezone.now()
    # Stripe has no "add N": read the quantity, write quantity + N. One purchase per
    # account at a time (a try-lock, not a row lock: nothing waits across the network).
    from billing.services.pro_seats import seat_lock_name

    with advisory_lock(seat_lock_name(account.pk)) as acquired:
        if not acquired:
            raise SeatPurchaseInProgress()
        license_purchase_quote(pro_account=account, kind=kind, quantity=quantity, now=now)  # plan set?
        subscription = gateway.subscription_retrieve(subscription_id=account.stripe_subscription_id)
        item = subscription_first_item(subscription)
        if item is None:
            raise StripeUnavailable("The grouped subscription has no item.", code="stripe_request_refused")
        key = uuid.uuid4()
        gateway.subscription_item_set_quantity(
            item_id=item["id"], quantity=int(item.get("quantity") or 0) + quantity,
            proration_date=int(now.timestamp()), idempotency_key=f"phoenix-seats-{key}",
        )
        result = license_purchase(pro_account=account, kind=kind, quantity=quantity, event_time=now,
                                  reference=f"seats:{key}")
        from licenses.services import pro_account_record_stripe_seat_quantity

        pro_account_record_stripe_seat_quantity(pro_account=account, quantity=int(item.get("quantity") or 0)
                                                + quantity, observed_at=timezone.now())
    return SeatPurchase("added", licenses=result.licenses, quote=result.quote)

