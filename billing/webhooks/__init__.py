"""The Stripe webhook handlers, and ``HANDLERS``: which run for each event type, in order.

Every verified event is stored (``billing.models.WebhookEvent``) and then dispatched by
its ``type`` to the handlers listed in ``HANDLERS``, all inside one transaction
savepoint (``billing.services.webhooks``): if any handler raises, every domain write of
that event is rolled back, the failure is recorded on the event (status ``failed``,
``error``) and the webhook answers 5xx so Stripe retries. Types without a handler are
acknowledged and marked ``ignored``.

A new handler: a keyword-only function ``handler(*, event: StripeEvent)`` in a module of
this package (by topic: ``payments``, ``subscriptions``, ``pro_seats``), then its line in
``HANDLERS``. Several handlers may share a type; they run in the order written there.

Rules for handlers:

- read ``event.object`` (``data.object`` of the Stripe event), ``event.previous_attributes``,
  ``event.created`` (Stripe's event time: compare it, or the object's own state, so an
  older event never moves state backwards);
- idempotent at the domain level: the same event can be processed again after a failure
  (``webhook_event_reprocess``), and different events can describe the same effect;
  key each effect on a Stripe id (invoice id, session id, ...);
- raise to fail (the event is retried by Stripe and re-playable from the admin); return
  normally when the event is not for you (e.g. a Checkout Session of another kind);
- call billing's services (or the other apps' services); no state of their own.

Checkout Sessions and PaymentIntents created by billing are handled once, generically, in
``payments``: they move the ``Payment`` through its state machine and call the
fulfilment of the product kind named in ``metadata.phoenix_kind`` (``billing.products``).
"""

from __future__ import annotations

from collections.abc import Callable

from billing.webhooks import payments, pro_seats, subscriptions
from billing.webhooks.events import StripeEvent

__all__ = ["HANDLERS", "StripeEvent", "dispatch", "handled_event_types", "handlers_for"]

Handler = Callable[..., None]

HANDLERS: dict[str, tuple[Handler, ...]] = {
    "checkout.session.completed": (payments.checkout_session_paid,),
    "checkout.session.async_payment_succeeded": (payments.checkout_session_paid,),
    "checkout.session.async_payment_failed": (payments.checkout_session_payment_failed,),
    "checkout.session.expired": (payments.checkout_session_expired,),
    "payment_intent.succeeded": (payments.payment_intent_succeeded,),
    "payment_intent.payment_failed": (payments.payment_intent_payment_failed,),
    "payment_intent.canceled": (payments.payment_intent_canceled,),
    "charge.refunded": (payments.charge_refunded,),
    "charge.dispute.created": (payments.charge_dispute_created,),
    "invoice.paid": (subscriptions.invoice_paid,),
    "invoice.payment_failed": (subscriptions.invoice_payment_failed,),
    # The seat quantity is recorded first: it does not depend on the cancel flag's outcome.
    "customer.subscription.updated": (pro_seats.pro_seat_quantity_reported, subscriptions.subscription_updated),
    "customer.subscription.deleted": (subscriptions.subscription_deleted,),
}


def handlers_for(event_type: str) -> list[Handler]:
    return list(HANDLERS.get(event_type, ()))


def handled_event_types() -> list[str]:
    return sorted(t for t, fns in HANDLERS.items() if fns)


def dispatch(event: StripeEvent) -> int:
    """Run every handler of ``event.type``, in order; returns how many ran."""
    handlers = handlers_for(event.type)
    for handler in handlers:
        handler(event=event)
    return len(handlers)
