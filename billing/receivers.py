"""Every signal receiver of billing, connected in ``BillingConfig.ready``.

Each one enqueues a retried Celery task after commit (Stripe is never called from inside
the sender's transaction), except the GDPR erasure, which must not commit unless Stripe
has forgotten the customer's personal data too.
"""

from __future__ import annotations

from billing import gateway
from billing.selectors import pro_account_has_grouped_subscription
from billing.services.customers import stripe_customer_erase
from billing.tasks import (
    cancel_stripe_subscription,
    cancel_subscription_for_license,
    sync_pro_seat_quantity,
    sync_stripe_mirror,
)


def on_license_assignment_pending(sender, *, pending, **kwargs) -> None:
    """``licenses.signals.license_assignment_pending`` (sent after commit): a license was
    assigned to a PREMIUM collaborator, so cancel their personal subscription through
    Stripe (licenses never imports billing)."""
    cancel_subscription_for_license.delay_on_commit(
        collaborator_id=pending.collaborator_id, stripe_subscription_id=pending.stripe_subscription_id,
    )


def on_billable_seats_changed(sender, *, pro_account_id: int, reason: str = "", **kwargs) -> None:
    """``licenses.signals.billable_seats_changed`` (sent after commit): monthly seats were
    canceled/unlinked/deleted, so set the grouped subscription's quantity (no proration)."""
    if not pro_account_has_grouped_subscription(pro_account_id=pro_account_id):
        return  # no grouped subscription (lifetime seats only, or not bought through Stripe)
    sync_pro_seat_quantity.delay_on_commit(pro_account_id=pro_account_id, reason=reason)


def on_stripe_subscription_cancel_requested(sender, *, subscription_id: str, reason: str, **kwargs) -> None:
    """``billing.signals.stripe_subscription_cancel_requested`` (sent inside the fulfilment's
    transaction): cancel the subscription once it commits."""
    cancel_stripe_subscription.delay_on_commit(subscription_id=subscription_id, reason=reason)


def on_webhook_event_settled(sender, *, webhook_event_id: int, **kwargs) -> None:
    """``billing.signals.webhook_event_settled``: once the event's domain effect commits,
    sync the mirror (never inside the webhook's transaction: an outage must not roll it
    back). Without Stripe keys there is no Stripe to read the objects from."""
    if gateway.stripe_is_configured():
        sync_stripe_mirror.delay_on_commit(webhook_event_id=webhook_event_id)


def on_user_erased(sender, *, user, **kwargs) -> None:
    """``phoenix.accounts.signals.user_erased`` (inside the erasure's transaction): clear
    the user's Stripe Customer's personal fields at Stripe and in the mirror. A Stripe
    outage fails the erasure (503): the user retries, nothing half-erased."""
    if gateway.stripe_is_configured():
        stripe_customer_erase(user=user)
