"""The Stripe webhook handler registry.

Every verified event is stored (``billing.models.WebhookEvent``) and then dispatched by
its ``type`` to the handlers registered here, all inside one transaction savepoint: if
any handler raises, every domain write of that event is rolled back, the failure is
recorded on the event (status ``failed``, ``error``) and the webhook answers 5xx so
Stripe retries. Types without a handler are acknowledged and marked ``ignored``.

Plugging in (subscriptions, licenses): add a module to this package; it is imported at
start-up (``BillingConfig.ready`` -> ``autodiscover``)::

    # billing/webhooks/subscriptions.py
    from billing.webhooks import StripeEvent, webhook_handler
    from subscriptions import services as subscription_services

    @webhook_handler("invoice.paid")
    def invoice_paid(*, event: StripeEvent) -> None:
        invoice = event.object            # the Stripe invoice, a plain dict
        subscription_services.subscription_renew(...)

Rules for handlers:

- keyword-only ``event``; read ``event.object`` (``data.object`` of the Stripe event),
  ``event.previous_attributes``, ``event.created`` (Stripe's event time: compare it, or
  the object's own state, so an older event never moves state backwards);
- idempotent at the domain level: the same event can be processed again after a failure
  (``webhook_event_reprocess``), and different events can describe the same effect;
  key each effect on a Stripe id (invoice id, session id, ...);
- raise to fail (the event is retried by Stripe and re-playable from the admin); return
  normally when the event is not for you (e.g. a Checkout Session of another kind).

Checkout Sessions and PaymentIntents created by billing are handled once, generically, in
``billing/webhooks/payments.py``: they move the ``Payment`` through its state machine
and call the fulfilment of the product kind named in ``metadata.phoenix_kind`` (see
``billing.products``). Several handlers may share one event type; they run in
registration order.
"""

from __future__ import annotations

import pkgutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import import_module
from typing import Any

Handler = Callable[..., None]

_handlers: dict[str, list[Handler]] = defaultdict(list)


@dataclass(frozen=True)
class StripeEvent:
    """A verified Stripe event as handlers see it (plain dicts, Stripe's shapes)."""

    id: str
    type: str
    created: datetime
    livemode: bool
    object: dict[str, Any]
    previous_attributes: dict[str, Any]
    payload: dict[str, Any]

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> StripeEvent:
        data = payload.get("data") or {}
        return cls(
            id=payload["id"],
            type=payload["type"],
            created=datetime.fromtimestamp(int(payload.get("created") or 0), tz=UTC),
            livemode=bool(payload.get("livemode", False)),
            object=data.get("object") or {},
            previous_attributes=data.get("previous_attributes") or {},
            payload=payload,
        )


def webhook_handler(*event_types: str) -> Callable[[Handler], Handler]:
    """Register the decorated function for each of ``event_types``."""
    if not event_types:
        raise ValueError("name at least one Stripe event type")

    def register(fn: Handler) -> Handler:
        for event_type in event_types:
            if fn not in _handlers[event_type]:
                _handlers[event_type].append(fn)
        return fn

    return register


def handlers_for(event_type: str) -> list[Handler]:
    return list(_handlers.get(event_type, ()))


def handled_event_types() -> list[str]:
    return sorted(t for t, fns in _handlers.items() if fns)


def dispatch(event: StripeEvent) -> int:
    """Run every handler of ``event.type``; returns how many ran."""
    handlers = handlers_for(event.type)
    for handler in handlers:
        handler(event=event)
    return len(handlers)


def autodiscover() -> None:
    """Import every module of this package, so their decorators register."""
    for module in pkgutil.iter_modules(__path__):
        import_module(f"{__name__}.{module.name}")
