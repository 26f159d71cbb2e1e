"""The event catalogue: every event type Phoenix sends, its subject and its documented body.

One source for the emit check (an unknown type is refused), the README's catalogue, the
OpenAPI schema's `webhooks` section and the endpoint registry's validation.

Every delivery is the JSON envelope `{"id", "type", "timestamp", "subject", "sequence",
"data"}`; `data` is the body described here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from phoenix.outbound.errors import UnknownEventType

TEST_EVENT = "webhook.test"
BALANCE_LOW = "wallet.balance_low"


@dataclass(frozen=True)
class EventType:
    name: str
    subject: str  # "user" or "pro_account"
    summary: str
    # field -> (JSON type, description); every field is always present (nullable ones say so)
    fields: dict[str, tuple[str, str]] = field(default_factory=dict)
    example: dict = field(default_factory=dict)


_USER = ("integer", "The user's id.")
_AVAILABLE = ("integer", "Energy available after the change (balance - held).")

EVENT_TYPES: dict[str, EventType] = {e.name: e for e in (
    EventType(
        "wallet.credited", "user", "Energy was added: a pack, its bonus, a grant, a refunded action.",
        {"user_id": _USER, "operation_id": ("integer", "The ledger operation."),
         "amount": ("integer", "Points added."), "source": ("string", "stripe, admin, system or api."),
         "reason": ("string", "Why (free text)."), "reference": ("string", "e.g. the pack or payment."),
         "balance": ("integer", "Posted balance after."), "available": _AVAILABLE},
        {"user_id": 42, "operation_id": 1017, "amount": 100, "source": "stripe", "reason": "pack cafe_luna",
         "reference": "payment:8f0c", "balance": 185, "available": 185},
    ),
    EventType(
        "wallet.balance_low", "user",
        "Available energy crossed the endpoint's threshold downward (once per crossing; it re-arms when "
        "the balance rises above it).",
        {"user_id": _USER, "operation_id": ("integer", "The operation that crossed it."),
         "available_before": ("integer", "Available before the change."),
         "available_after": ("integer", "Available after the change."),
         "threshold": ("integer", "This endpoint's threshold.")},
        {"user_id": 42, "operation_id": 1018, "available_before": 25, "available_after": 10, "threshold": 20},
    ),
    EventType(
        "wallet.depleted", "user", "Available energy reached 0.",
        {"user_id": _USER, "operation_id": ("integer", "The operation that emptied it."),
         "available_before": ("integer", "Available before the change.")},
        {"user_id": 42, "operation_id": 1019, "available_before": 10},
    ),
    EventType(
        "hold.expired", "user", "A pending hold passed its deadline; its energy is available again.",
        {"user_id": _USER, "hold_id": ("string", "The hold (uuid)."), "amount": ("integer", "Points released."),
         "action_code": ("string", "The action it reserved for."), "available": _AVAILABLE},
        {"user_id": 42, "hold_id": "5b7c0f6e-3a59-4f1e-9a57-2d3b1f3e9c11", "amount": 15,
         "action_code": "lettre_motivation", "available": 100},
    ),
    EventType(
        "wallet.lot_expired", "user",
        "An energy lot passed its expiry: its unreserved remainder expired (a `lot_expiry` operation).",
        {"user_id": _USER, "operation_id": ("integer", "The lot_expiry operation."),
         "lot_id": ("integer", "The lot."),
         "category": ("string", "paid, bonus, welcome, promotional, goodwill, legacy."),
         "amount": ("integer", "Points expired."), "expired_at": ("string", "The lot's expiry (ISO 8601)."),
         "balance": ("integer", "Posted balance after."), "available": _AVAILABLE},
        {"user_id": 42, "operation_id": 1020, "lot_id": 311, "category": "welcome", "amount": 40,
         "expired_at": "2027-03-01T09:00:00Z", "balance": 60, "available": 60},
    ),
    EventType(
        "wallet.spend_velocity_exceeded", "user",
        "The spend-velocity breaker tripped: the user's consumes and freezes are refused until the window "
        "passes or an operator lifts it (once per trip, not per refused request).",
        {"user_id": _USER, "incident_id": ("integer", "The wallet incident the trip opened."),
         "limit": ("string", "Which limit (energy or actions per window, per user or per API key)."),
         "retry_after": ("integer", "Seconds until the window passes.")},
        {"user_id": 42, "incident_id": 77, "limit": "30 energy per 3600 s", "retry_after": 1800},
    ),
    EventType(
        "access.changed", "user", "The user's access type, premium or unlimited flag changed.",
        {"user_id": _USER, "kind": ("string", "The transition (premium_activated, trial_expired, ...)."),
         "from": ("object", "{type, premium, unlimited} before."),
         "to": ("object", "{type, premium, unlimited} after.")},
        {"user_id": 42, "kind": "premium_activated", "from": {"type": "TRIAL", "premium": True, "unlimited": False},
         "to": {"type": "PREMIUM", "premium": True, "unlimited": True}},
    ),
    EventType(
        "license.changed", "pro_account", "A seat license of a pro account changed status or assignee.",
        {"pro_account_id": ("string", "The pro account (public uuid)."),
         "license_id": ("string", "The license (public uuid)."), "kind": ("string", "license_assigned, ..."),
         "license_kind": ("string", "monthly or lifetime."), "from_status": ("string", "Status before."),
         "to_status": ("string", "Status after (empty: the license was deleted)."),
         "assignee_user_id": ("integer|null", "The collaborator holding it, if any.")},
        {"pro_account_id": "0b6a2d4e-1f7c-4f3a-8e44-5c1b9a7d2e10", "license_id": "c3a1e2f4-6b7d-4c8e-9f00-112233445566",
         "kind": "license_assigned", "license_kind": "monthly", "from_status": "available",
         "to_status": "active", "assignee_user_id": 43},
    ),
    EventType(
        "pro_account.changed", "pro_account", "A pro account's status or membership changed.",
        {"pro_account_id": ("string", "The pro account (public uuid)."), "owner_user_id": ("integer", "Its owner."),
         "kind": ("string", "account_suspended, collaborator_linked, ..."),
         "from_status": ("string", "Status before (empty when unchanged)."), "status": ("string", "Status now."),
         "collaborator_user_id": ("integer|null", "The collaborator concerned, if any.")},
        {"pro_account_id": "0b6a2d4e-1f7c-4f3a-8e44-5c1b9a7d2e10", "owner_user_id": 42, "kind": "account_suspended",
         "from_status": "active", "status": "suspended", "collaborator_user_id": None},
    ),
    EventType(
        "payment.succeeded", "user", "A payment succeeded and was fulfilled.",
        {"user_id": _USER, "payment_id": ("string", "The payment (public uuid)."),
         "product_kind": ("string", "energy_pack, subscription, ..."), "product_code": ("string", "The product."),
         "amount_cents": ("integer", "Money paid."), "currency": ("string", "ISO code."),
         "fulfilled_quantity": ("integer", "Points credited / seats granted.")},
        {"user_id": 42, "payment_id": "9d1e0b7c-2a3f-4d5e-8f90-a1b2c3d4e5f6", "product_kind": "energy_pack",
         "product_code": "cafe_luna", "amount_cents": 299, "currency": "eur", "fulfilled_quantity": 110},
    ),
    EventType(
        "payment.refunded", "user", "A refund or dispute reversed (part of) a payment; says what was clawed back.",
        {"user_id": _USER, "payment_id": ("string", "The payment (public uuid)."),
         "reversal_kind": ("string", "refund or dispute."), "amount_cents": ("integer", "Money reversed now."),
         "amount_refunded_cents": ("integer", "Money refunded in total."),
         "requested": ("integer", "What this reversal takes back (points / seats)."),
         "recovered": ("integer", "What was clawed back."), "shortfall": ("integer", "What could not be.")},
        {"user_id": 42, "payment_id": "9d1e0b7c-2a3f-4d5e-8f90-a1b2c3d4e5f6", "reversal_kind": "refund",
         "amount_cents": 299, "amount_refunded_cents": 299, "requested": 110, "recovered": 85, "shortfall": 25},
    ),
    EventType(
        TEST_EVENT, "endpoint", "Sent by an operator to check an endpoint (always delivered to that one only).",
        {"endpoint_id": ("integer", "The endpoint tested."), "message": ("string", "Free text.")},
        {"endpoint_id": 3, "message": "test event sent from the admin"},
    ),
)}

SUBSCRIBABLE_TYPES = tuple(name for name in EVENT_TYPES if name != TEST_EVENT)


def event_type_get(name: str) -> EventType:
    try:
        return EVENT_TYPES[name]
    except (KeyError, TypeError):
        raise UnknownEventType(f"Unknown webhook event type {name!r}; known: {', '.join(SUBSCRIBABLE_TYPES)}.",
                               event_type=str(name)) from None


def envelope(*, event_id: str, type: str, timestamp: str, subject: str, sequence: int, data: dict) -> dict:
    """The JSON object POSTed for an event."""
    return {"id": event_id, "type": type, "timestamp": timestamp, "subject": subject, "sequence": sequence,
            "data": data}
