"""The one seam for every outbound Stripe call.

Everything Phoenix asks of Stripe goes through these functions, which use the official
client (``stripe.StripeClient``) pointed at ``settings.STRIPE_API_BASE`` (a local
Stripe-compatible server in development and tests). They return plain dicts in Stripe's
object shapes, so callers never depend on the client library's object type.

Without ``STRIPE_SECRET_KEY`` every call raises ``StripeNotConfigured`` (503
``stripe_not_configured``); nothing else in Phoenix needs Stripe to run.
"""

from __future__ import annotations

from typing import Any

import stripe
import structlog
from django.conf import settings

from billing.errors import RefundRefused, StripeNotConfigured, StripeUnavailable
from phoenix.core.errors import PhoenixError
from phoenix.core.metrics import StripeCallTimer

logger = structlog.get_logger("phoenix.billing.gateway")


def stripe_is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def ensure_configured() -> None:
    """Raise 503 ``stripe_not_configured`` before doing any work that needs Stripe."""
    if not stripe_is_configured():
        raise StripeNotConfigured()


def _client() -> stripe.StripeClient:
    ensure_configured()
    # Built per call (cheap): settings may differ per test, and no module state leaks.
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE.rstrip("/")},
        max_network_retries=2,  # POSTs carry an idempotency key, so retries are safe
    )


def _call(operation: str, fn, *args, refused_as: type[PhoenixError] | None = None, **kwargs) -> dict[str, Any]:
    """`refused_as`: the error raised, with Stripe's message, when Stripe refuses the request
    for a reason the caller's user can act on (e.g. a refund larger than what is left)."""
    with StripeCallTimer(operation) as call:  # phoenix_stripe_api_calls_total, ..._duration_seconds
        try:
            obj = fn(*args, **kwargs)
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            call.outcome = "unavailable"
            logger.warning("stripe_unavailable", operation=operation, error=str(exc))
            raise StripeUnavailable() from exc
        except stripe.StripeError as exc:
            call.outcome = "refused"
            if refused_as is not None and isinstance(exc, stripe.InvalidRequestError):
                logger.info("stripe_request_refused", operation=operation, error=str(exc), stripe_code=exc.code)
                reason = exc.user_message or str(exc)
                raise refused_as(f"Stripe refused: {reason}" + (f" ({exc.code})" if exc.code else "")) from exc
            # A refused request (bad parameters, bad key): our bug or config, not the user's.
            logger.error("stripe_request_refused", operation=operation, error=str(exc))
            raise StripeUnavailable(
                "Stripe refused the request.", code="stripe_request_refused"
            ) from exc
    return obj.to_dict()


def _options(idempotency_key: str | None) -> dict[str, Any]:
    return {"idempotency_key": idempotency_key} if idempotency_key else {}


def checkout_session_create(
    *,
    amount_cents: int,
    currency: str,
    product_name: str,
    metadata: dict[str, str],
    client_reference_id: str,
    customer_email: str | None = None,
    customer_id: str | None = None,
    success_url: str,
    cancel_url: str,
    idempotency_key: str | None = None,
    quantity: int = 1,
) -> dict[str, Any]:
    """A one-off payment Checkout Session for one line item priced inline
    (``amount_cents`` is the unit price; Stripe charges it ``quantity`` times)."""
    params = _checkout_params(
        mode="payment", price_data={"currency": currency, "unit_amount": amount_cents},
        product_name=product_name, quantity=quantity, metadata=metadata,
        client_reference_id=client_reference_id, customer_email=customer_email,
        customer_id=customer_id, success_url=success_url, cancel_url=cancel_url,
    )
    # Copied onto the PaymentIntent, so charges/refunds/disputes can be traced back.
    params["payment_intent_data"] = {"metadata": metadata}
    return _checkout_session_create("checkout_session_create", params, idempotency_key)


def _checkout_params(
    *, mode: str, price_data: dict[str, Any], product_name: str, quantity: int,
    metadata: dict[str, str], client_reference_id: str, customer_email: str | None,
    customer_id: str | None, success_url: str, cancel_url: str,
) -> dict[str, Any]:
    """A Checkout Session's parameters for one line item priced inline."""
    params: dict[str, Any] = {
        "mode": mode,
        "line_items": [
            {"quantity": quantity, "price_data": {**price_data, "product_data": {"name": product_name}}}
        ],
        "metadata": metadata,
        "client_reference_id": client_reference_id,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if customer_id:  # the user's Customer: Stripe refuses customer_email alongside it
        params["customer"] = customer_id
    elif customer_email:
        params["customer_email"] = customer_email
    return params


def _checkout_session_create(operation: str, params: dict[str, Any], idempotency_key: str | None):
    client = _client()
    return _call(operation, client.v1.checkout.sessions.create, params=params,
                 options=_options(idempotency_key))


def checkout_session_retrieve(*, session_id: str) -> dict[str, Any]:
    client = _client()
    return _call("checkout_session_retrieve", client.v1.checkout.sessions.retrieve, session_id)


def payment_intent_create(
    *,
    amount_cents: int,
    currency: str,
    metadata: dict[str, str],
    description: str,
    customer_id: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    client = _client()
    params: dict[str, Any] = {
        "amount": amount_cents,
        "currency": currency,
        "metadata": metadata,
        "description": description,
        "automatic_payment_methods": {"enabled": True},
    }
    if customer_id:
        params["customer"] = customer_id
    return _call(
        "payment_intent_create",
        client.v1.payment_intents.create,
        params=params,
        options=_options(idempotency_key),
    )


def payment_intent_retrieve(*, payment_intent_id: str) -> dict[str, Any]:
    client = _client()
    return _call("payment_intent_retrieve", client.v1.payment_intents.retrieve, payment_intent_id)


def checkout_subscription_session_create(
    *,
    unit_amount_cents: int,
    currency: str,
    product_name: str,
    quantity: int = 1,
    interval: str = "month",
    metadata: dict[str, str],
    client_reference_id: str,
    customer_email: str | None = None,
    customer_id: str | None = None,
    success_url: str,
    cancel_url: str,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A Checkout Session in ``subscription`` mode, priced inline (recurring).

    The metadata goes on the session and, through ``subscription_data``, on the
    subscription itself, so its invoices (``parent.subscription_details.metadata``) and
    ``customer.subscription.*`` events name the user and the product too.
    """
    params = _checkout_params(
        mode="subscription",
        price_data={"currency": currency, "unit_amount": unit_amount_cents,
                    "recurring": {"interval": interval}},
        product_name=product_name, quantity=quantity, metadata=metadata,
        client_reference_id=client_reference_id, customer_email=customer_email,
        customer_id=customer_id, success_url=success_url, cancel_url=cancel_url,
    )
    params["subscription_data"] = {"metadata": metadata}
    return _checkout_session_create("checkout_subscription_session_create", params, idempotency_key)


def subscription_retrieve(*, subscription_id: str) -> dict[str, Any]:
    client = _client()
    return _call("subscription_retrieve", client.v1.subscriptions.retrieve, subscription_id)


def subscription_cancel(*, subscription_id: str) -> dict[str, Any]:
    """Cancel a subscription at once (licenses: a PREMIUM collaborator joins a pool).

    Stripe then sends ``customer.subscription.deleted``, which finalizes the change."""
    client = _client()
    return _call("subscription_cancel", client.v1.subscriptions.cancel, subscription_id)


def subscription_set_cancel_at_period_end(
    *, subscription_id: str, cancel: bool, idempotency_key: str | None = None
) -> dict[str, Any]:
    """Cancel at the period end (``cancel=True``) or withdraw that cancellation."""
    return subscription_update(
        subscription_id=subscription_id, params={"cancel_at_period_end": cancel},
        idempotency_key=idempotency_key,
    )


def subscription_item_set_quantity(
    *, item_id: str, quantity: int, proration_date: int, idempotency_key: str | None = None
) -> dict[str, Any]:
    """Change a seat count mid-cycle: Stripe prorates from ``proration_date`` (unix) to
    the period end and bills the proration on the next (grouped) invoice."""
    client = _client()
    return _call(
        "subscription_item_set_quantity",
        client.v1.subscription_items.update,
        item_id,
        params={
            "quantity": quantity,
            "proration_behavior": "create_prorations",
            "proration_date": proration_date,
        },
        options=_options(idempotency_key),
    )


def subscription_update(
    *, subscription_id: str, params: dict[str, Any], idempotency_key: str | None = None
) -> dict[str, Any]:
    """E.g. ``{"cancel_at_period_end": True}`` or a seat-quantity change."""
    client = _client()
    return _call(
        "subscription_update",
        client.v1.subscriptions.update,
        subscription_id,
        params=params,
        options=_options(idempotency_key),
    )


def subscription_item_set_quantity_without_proration(
    *, item_id: str, quantity: int, idempotency_key: str | None = None
) -> dict[str, Any]:
    """Set a seat count for the next period (``proration_behavior: none``): nothing is
    credited or charged mid-cycle, the next invoice bills ``quantity``. Absolute, so
    setting it twice is harmless."""
    client = _client()
    return _call(
        "subscription_item_set_quantity_without_proration",
        client.v1.subscription_items.update,
        item_id,
        params={"quantity": quantity, "proration_behavior": "none"},
        options=_options(idempotency_key),
    )


def invoices_open_for_subscription(*, subscription_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """The subscription's open (finalized, unpaid) invoices, newest first (Stripe's
    ``GET /v1/invoices?subscription=...&status=open``); each has ``hosted_invoice_url``."""
    client = _client()
    page = _call(
        "invoices_open_for_subscription",
        client.v1.invoices.list,
        params={"subscription": subscription_id, "status": "open", "limit": limit},
    )
    return list(page.get("data") or [])


# --- customers and the customer portal --------------------------------------------------


def refund_create(*, payment_intent_id: str, amount_cents: int, stripe_reason: str, metadata: dict[str, str],
                  idempotency_key: str) -> dict[str, Any]:
    """Refund (part of) the charge of a PaymentIntent. Stripe refuses more than is left, a
    refunded or a disputed charge: `RefundRefused` with its message."""
    params: dict[str, Any] = {"payment_intent": payment_intent_id, "amount": amount_cents, "metadata": metadata}
    if stripe_reason:
        params["reason"] = stripe_reason
    return _call("refund_create", _client().v1.refunds.create, params=params, options=_options(idempotency_key),
                 refused_as=RefundRefused)


def customer_create(*, email: str, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]:
    """A Stripe Customer for one Phoenix user (``metadata`` names the user)."""
    client = _client()
    return _call("customer_create", client.v1.customers.create,
                 params={"email": email, "metadata": metadata}, options=_options(idempotency_key))


def customer_erase_personal_data(*, customer_id: str) -> dict[str, Any]:
    """GDPR erasure at Stripe: unset the customer's personal fields (an empty string unsets a
    field); the customer, its payments and invoices stay (financial records)."""
    client = _client()
    return _call(
        "customer_erase_personal_data", client.v1.customers.update, customer_id,
        params={"email": "", "name": "", "phone": "", "description": "", "address": "", "shipping": ""},
    )


def billing_portal_session_create(*, customer_id: str, return_url: str,
                                  idempotency_key: str | None = None) -> dict[str, Any]:
    """A Stripe Billing Portal session (cards, invoices, cancel) for one customer."""
    client = _client()
    return _call("billing_portal_session_create", client.v1.billing_portal.sessions.create,
                 params={"customer": customer_id, "return_url": return_url},
                 options=_options(idempotency_key))


# --- dj-stripe's own calls ------------------------------------------------------------


def djstripe_api_key() -> str:
    """The secret key for dj-stripe's sync calls, with the global ``stripe`` module (which
    dj-stripe uses) pointed at ``STRIPE_API_BASE``: dj-stripe takes its key per call but its
    host only from the module. Read per call, as settings may change (tests); every Phoenix
    process talks to one Stripe, so the module-wide setting is the same for everyone."""
    ensure_configured()
    stripe.api_base = settings.STRIPE_API_BASE.rstrip("/")
    return settings.STRIPE_SECRET_KEY


def djstripe_call(operation: str, fn, *args, **kwargs):
    """Run a dj-stripe sync step, mapping Stripe's errors as ``_call`` does."""
    try:
        return fn(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
        logger.warning("stripe_unavailable", operation=operation, error=str(exc))
        raise StripeUnavailable() from exc
    except stripe.StripeError as exc:
        logger.error("stripe_request_refused", operation=operation, error=str(exc))
        raise StripeUnavailable("Stripe refused the request.", code="stripe_request_refused") from exc
