"""Thin Celery tasks calling billing services."""

from __future__ import annotations

from celery import shared_task
from django.db import IntegrityError

from billing.errors import SeatPurchaseInProgress, StripeNotConfigured, StripeUnavailable
from billing.services import pro_seats
from billing.services import subscriptions as subscription_billing
from billing.services.mirror import mirror_backfill, mirror_sync_event
from billing.services.reconciliation import payments_reconcile


@shared_task(name="billing.reconcile_payments")
def reconcile_payments() -> dict:
    return payments_reconcile().summary()


# Stripe outages are retried with backoff; a refused request is not (it will not change).
_RETRY = {"max_retries": 5, "default_retry_delay": 60}


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, StripeUnavailable) and exc.code == "stripe_unavailable"


@shared_task(name="billing.cancel_stripe_subscription", bind=True, **_RETRY)
def cancel_stripe_subscription(self, *, subscription_id: str, reason: str = "") -> str:
    """Cancel a subscription at once (lifetime bought over a monthly plan, ...)."""
    try:
        subscription = subscription_billing.stripe_subscription_cancel(subscription_id=subscription_id)
    except StripeUnavailable as exc:
        if _retryable(exc):
            raise self.retry(exc=exc, countdown=self.default_retry_delay * 2 ** self.request.retries) from exc
        raise
    return str(subscription.get("status") or "")


@shared_task(name="billing.cancel_subscription_for_license", bind=True, **_RETRY)
def cancel_subscription_for_license(self, *, collaborator_id: int, stripe_subscription_id: str) -> str:
    """A license was assigned to a PREMIUM collaborator: cancel their personal subscription
    (Stripe's customer.subscription.deleted finalizes the assignment). Retried while
    Stripe is unreachable; when it refuses, or retries run out, the assignment is
    aborted and the license stays available."""
    try:
        return subscription_billing.license_personal_subscription_cancel(
            collaborator_id=collaborator_id, stripe_subscription_id=stripe_subscription_id,
        )
    except (StripeUnavailable, StripeNotConfigured) as exc:
        if _retryable(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=self.default_retry_delay * 2 ** self.request.retries) from exc
        subscription_billing.license_personal_subscription_cancel_failed(
            collaborator_id=collaborator_id, reason=exc.code,
        )
        return "aborted"


@shared_task(name="billing.sync_pro_seat_quantity", bind=True, **_RETRY)
def sync_pro_seat_quantity(self, *, pro_account_id: int, reason: str = "") -> str:
    """A pro's billable monthly seats changed: set the grouped Stripe subscription's
    quantity to them (no proration; skipped when Stripe already agrees). Retried with
    backoff while Stripe is unreachable or another seat change holds the account; when
    Stripe refuses, or retries run out, an incident is opened for an admin."""
    try:
        return pro_seats.pro_seat_quantity_sync(pro_account_id=pro_account_id)
    except (StripeUnavailable, StripeNotConfigured, SeatPurchaseInProgress) as exc:
        retryable = _retryable(exc) or isinstance(exc, SeatPurchaseInProgress)
        if retryable and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=self.default_retry_delay * 2 ** self.request.retries) from exc
        pro_seats.pro_seat_quantity_sync_failed(pro_account_id=pro_account_id, reason=exc.code,
                                                detail=f"{reason}: {exc.detail}" if reason else exc.detail)
        return "failed"


@shared_task(name="billing.sync_stripe_mirror", bind=True, max_retries=8, default_retry_delay=30)
def sync_stripe_mirror(self, *, webhook_event_id: int) -> dict:
    """After an event's domain effect committed: sync its objects into dj-stripe's tables.
    Retried with backoff (30 s, 1 min, 2 min, ...) while Stripe is unreachable, and at once
    when a concurrent sync inserted the same object first."""
    try:
        return mirror_sync_event(webhook_event_id=webhook_event_id).summary()
    except StripeUnavailable as exc:
        if _retryable(exc):
            raise self.retry(exc=exc, countdown=self.default_retry_delay * 2 ** self.request.retries) from exc
        raise
    except IntegrityError as exc:
        # Another event's sync inserted the same Stripe object first: again, it is an update now.
        raise self.retry(exc=exc, countdown=1) from exc


@shared_task(name="billing.backfill_stripe_mirror")
def backfill_stripe_mirror() -> dict:
    return mirror_backfill().summary()
