"""Stripe-side actions for individual subscriptions, including the
personal subscription a PREMIUM collaborator gives up for a license. Pro seats:
``billing.services.pro_seats``.

Billing owns only the Stripe calls here; every state change is made by
``subscriptions.services`` / ``licenses.services``. Stripe is called outside any
database transaction (no row lock held across the network); what Stripe answers is then
applied through those services, and the webhook that follows finds it done.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog
from django.contrib.auth import get_user_model
from django.utils import timezone

from billing import gateway
from licenses.selectors import pending_assignment_for
from licenses.services import license_assignment_abort, license_assignment_finalize
from subscriptions.errors import NotPremium
from subscriptions.models import AccessType
from subscriptions.selectors import access_for_user
from subscriptions.services import access_resume, access_set_cancel_at_period_end

logger = structlog.get_logger("phoenix.billing.subscriptions")


# --- individual: cancel at period end / resume ---------------------------------------


def premium_set_cancel_at_period_end(*, user, cancel: bool, now: datetime | None = None,
                                     request_key: str | None = None):
    """Cancel the user's monthly subscription at its period end (``cancel=True``) or
    withdraw that cancellation, at Stripe, then apply Stripe's answer to the access.

    Returns the ``AccessChange``. Not PREMIUM (or no Stripe subscription): 409
    ``not_premium``. The ``customer.subscription.updated`` event that follows is a no-op.
    """
    gateway.ensure_configured()
    access = access_for_user(user)
    if access.type != AccessType.PREMIUM or not access.stripe_subscription_id:
        raise NotPremium()
    subscription_id = access.stripe_subscription_id
    subscription = gateway.subscription_set_cancel_at_period_end(
        subscription_id=subscription_id, cancel=cancel,
        idempotency_key=f"phoenix-cancel-at-period-end-{cancel}-{request_key or uuid.uuid4()}",
    )
    service = access_set_cancel_at_period_end if subscription.get("cancel_at_period_end") else access_resume
    return service(user=user, event_time=now or timezone.now(), stripe_subscription_id=subscription_id)


# --- canceling a subscription at once (the task ``billing.cancel_stripe_subscription``) --


def stripe_subscription_cancel(*, subscription_id: str) -> dict[str, Any]:
    return gateway.subscription_cancel(subscription_id=subscription_id)


# --- PREMIUM collaborator joining a license pool ---------------------------------------


def license_personal_subscription_cancel(*, collaborator_id: int, stripe_subscription_id: str,
                                         now: datetime | None = None) -> str:
    """Cancel at Stripe the personal subscription a pending assignment waits for.

    Returns ``canceled`` (Stripe's ``customer.subscription.deleted`` then finalizes the
    assignment), ``nothing_pending`` (finalized or aborted meanwhile: no Stripe call) or
    ``finalized`` (PREMIUM granted without a Stripe subscription: nothing to cancel).
    Stripe errors propagate (the task retries, then aborts the assignment).
    """
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
    collaborator = get_user_model().objects.get(pk=collaborator_id)
    logger.warning("license_assignment_aborted", collaborator_id=collaborator_id, reason=reason)
    return license_assignment_abort(collaborator=collaborator, reason=reason)
