"""Stripe objects and events in Stripe's real shapes, signed as Stripe signs them.

Used by ``manage.py stripe_demo_events`` (demos without Stripe) and by the tests.
Event envelope: ``{"id": "evt_...", "object": "event", "api_version", "created",
"data": {"object": ..., "previous_attributes"?}, "livemode", "pending_webhooks",
"request": {"id", "idempotency_key"}, "type"}``; the signature header is
``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from billing.services.payments import META_KIND, META_PRODUCT, META_USER

API_VERSION = "2026-05-27.dahlia"


def stripe_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def phoenix_metadata(*, user, code: str = "cafe_luna", kind: str = "energy_pack") -> dict[str, str]:
    return {META_USER: str(user.public_id), META_KIND: kind, META_PRODUCT: code}


def event(event_type: str, obj: dict[str, Any], *, event_id: str | None = None,
          created: int | None = None, previous_attributes: dict | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id or stripe_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created or int(time.time()),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def checkout_session(*, session_id: str | None = None, amount: int = 299, currency: str = "eur",
                     metadata: dict[str, str] | None = None, payment_intent: str | None = None,
                     payment_status: str = "paid", status: str = "complete",
                     client_reference_id: str | None = None) -> dict[str, Any]:
    session_id = session_id or stripe_id("cs")
    return {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": "http://localhost:8000/billing/canceled",
        "client_reference_id": client_reference_id,
        "created": int(time.time()) - 60,
        "currency": currency,
        "customer": stripe_id("cus"),
        "customer_details": {"email": "buyer@example.com", "name": None, "tax_exempt": "none",
                             "tax_ids": []},
        "customer_email": None,
        "expires_at": int(time.time()) + 86400,
        "invoice": None,
        "livemode": False,
        "locale": None,
        "metadata": metadata or {},
        "mode": "payment",
        "payment_intent": payment_intent if payment_intent is not None else stripe_id("pi"),
        "payment_method_types": ["card"],
        "payment_status": payment_status,
        "status": status,
        "subscription": None,
        "success_url": "http://localhost:8000/billing/done?session_id={CHECKOUT_SESSION_ID}",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "url": None,
    }


def payment_intent(*, intent_id: str | None = None, amount: int = 299, currency: str = "eur",
                   status: str = "succeeded", metadata: dict[str, str] | None = None,
                   latest_charge: str | None = None) -> dict[str, Any]:
    intent_id = intent_id or stripe_id("pi")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount if status == "succeeded" else 0,
        "automatic_payment_methods": {"enabled": True},
        "canceled_at": None,
        "capture_method": "automatic",
        "client_secret": f"{intent_id}_secret_{secrets.token_hex(6)}",
        "created": int(time.time()) - 60,
        "currency": currency,
        "customer": None,
        "description": None,
        "last_payment_error": None,
        "latest_charge": latest_charge or (stripe_id("ch") if status == "succeeded" else None),
        "livemode": False,
        "metadata": metadata or {},
        "payment_method": stripe_id("pm"),
        "status": status,
    }


def charge(*, payment_intent_id: str, amount: int = 299, amount_refunded: int = 0,
           currency: str = "eur", metadata: dict[str, str] | None = None,
           charge_id: str | None = None) -> dict[str, Any]:
    charge_id = charge_id or stripe_id("ch")
    refunds = []
    if amount_refunded:
        refunds.append({"id": stripe_id("re"), "object": "refund", "amount": amount_refunded,
                        "charge": charge_id, "currency": currency, "payment_intent": payment_intent_id,
                        "status": "succeeded"})
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "balance_transaction": stripe_id("txn"),
        "captured": True,
        "created": int(time.time()) - 60,
        "currency": currency,
        "customer": None,
        "disputed": False,
        "livemode": False,
        "metadata": metadata or {},
        "paid": True,
        "payment_intent": payment_intent_id,
        "refunded": amount_refunded >= amount,
        "refunds": {"object": "list", "data": refunds, "has_more": False, "total_count": len(refunds),
                    "url": f"/v1/charges/{charge_id}/refunds"},
        "status": "succeeded",
    }


def dispute(*, payment_intent_id: str, charge_id: str | None = None, amount: int = 299,
            currency: str = "eur") -> dict[str, Any]:
    return {
        "id": stripe_id("du"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_id or stripe_id("ch"),
        "created": int(time.time()),
        "currency": currency,
        "evidence_details": {"due_by": int(time.time()) + 7 * 86400, "has_evidence": False,
                             "past_due": False, "submission_count": 0},
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": payment_intent_id,
        "reason": "fraudulent",
        "status": "needs_response",
    }


# --- Signing, as Stripe does ------------------------------------------------------------


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, indent=2).encode()  # Stripe sends pretty-printed JSON


def signature_header(body: bytes, *, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


# --- Subscriptions and invoices (API 2025-03-31.basil and later shapes) -----------------
#
# Since basil a subscription's billing period lives on its items
# (``items.data[].current_period_start/end``) and an invoice names its subscription under
# ``parent.subscription_details`` (with a snapshot of the subscription's metadata); each
# invoice line has ``period`` and ``parent.subscription_item_details``.


def subscription(*, subscription_id: str | None = None, customer: str | None = None,
                 metadata: dict[str, str] | None = None, status: str = "active",
                 period_start: int | None = None, period_end: int | None = None,
                 quantity: int = 1, unit_amount: int = 2999, currency: str = "eur",
                 cancel_at_period_end: bool = False, item_id: str | None = None,
                 canceled_at: int | None = None, ended_at: int | None = None,
                 product_name: str = "Luna Unlimited (monthly)") -> dict[str, Any]:
    subscription_id = subscription_id or stripe_id("sub")
    period_start = period_start or int(time.time())
    period_end = period_end or period_start + 30 * 86400
    price_id = stripe_id("price")
    return {
        "id": subscription_id,
        "object": "subscription",
        "billing_cycle_anchor": period_start,
        "cancel_at": period_end if cancel_at_period_end else None,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": canceled_at,
        "cancellation_details": {"comment": None, "feedback": None,
                                 "reason": "cancellation_requested" if canceled_at else None},
        "collection_method": "charge_automatically",
        "created": period_start,
        "currency": currency,
        "customer": customer or stripe_id("cus"),
        "ended_at": ended_at,
        "items": {
            "object": "list",
            "data": [{
                "id": item_id or stripe_id("si"),
                "object": "subscription_item",
                "created": period_start,
                "current_period_end": period_end,
                "current_period_start": period_start,
                "metadata": {},
                "price": {
                    "id": price_id, "object": "price", "active": True, "currency": currency,
                    "product": stripe_id("prod"), "type": "recurring", "unit_amount": unit_amount,
                    "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
                },
                "quantity": quantity,
                "subscription": subscription_id,
            }],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": stripe_id("in"),
        "livemode": False,
        "metadata": metadata or {},
        "start_date": period_start,
        "status": status,
    }


def invoice(*, subscription_id: str, metadata: dict[str, str] | None = None,
            billing_reason: str = "subscription_cycle", status: str = "paid",
            period_start: int | None = None, period_end: int | None = None,
            quantity: int = 1, unit_amount: int = 2999, currency: str = "eur",
            invoice_id: str | None = None, customer: str | None = None,
            attempt_count: int = 1, item_id: str | None = None) -> dict[str, Any]:
    """A subscription invoice; its line pays ``period_start``..``period_end``."""
    invoice_id = invoice_id or stripe_id("in")
    period_start = period_start or int(time.time())
    period_end = period_end or period_start + 30 * 86400
    amount = unit_amount * quantity
    paid = status == "paid"
    return {
        "id": invoice_id,
        "object": "invoice",
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "amount_remaining": 0 if paid else amount,
        "attempt_count": attempt_count,
        "attempted": True,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": period_start,
        "currency": currency,
        "customer": customer or stripe_id("cus"),
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test_phoenix/{invoice_id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_test_phoenix/{invoice_id}/pdf",
        "lines": {
            "object": "list",
            "data": [{
                "id": stripe_id("il"),
                "object": "line_item",
                "amount": amount,
                "currency": currency,
                "description": f"{quantity} x Phoenix (at {unit_amount / 100:.2f} / month)",
                "invoice": invoice_id,
                "livemode": False,
                "metadata": metadata or {},
                "parent": {
                    "type": "subscription_item_details",
                    "invoice_item_details": None,
                    "subscription_item_details": {
                        "invoice_item": None, "proration": False, "proration_details": {"credited_items": None},
                        "subscription": subscription_id, "subscription_item": item_id or stripe_id("si"),
                    },
                },
                "period": {"end": period_end, "start": period_start},
                "pricing": {"price_details": {"price": stripe_id("price"), "product": stripe_id("prod")},
                            "type": "price_details", "unit_amount_decimal": str(unit_amount)},
                "quantity": quantity,
            }],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None if paid else period_start + 3 * 86400,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": metadata or {}, "subscription": subscription_id},
        },
        # The invoice's own period is the one *before* the line's (Stripe's semantics).
        "period_end": period_start,
        "period_start": period_start - 30 * 86400,
        "status": "paid" if paid else "open",
        "status_transitions": {"finalized_at": period_start, "paid_at": period_start if paid else None},
        "total": amount,
    }


def subscription_checkout_session(*, subscription_id: str | None = None, amount: int = 2999,
                                  currency: str = "eur", metadata: dict[str, str] | None = None,
                                  session_id: str | None = None,
                                  client_reference_id: str | None = None) -> dict[str, Any]:
    """A completed Checkout Session in ``subscription`` mode (no payment intent: the first
    invoice is paid; the session names the subscription and that invoice)."""
    session = checkout_session(session_id=session_id, amount=amount, currency=currency,
                               metadata=metadata, payment_intent="",
                               client_reference_id=client_reference_id)
    session.update({"mode": "subscription", "payment_intent": None,
                    "subscription": subscription_id or stripe_id("sub"), "invoice": stripe_id("in")})
    return session
