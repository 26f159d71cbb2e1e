"""OpenAPI examples of the /luna API: bodies as the API sends them, with the seeded catalogue's codes."""

from __future__ import annotations

from datetime import datetime

from drf_spectacular.utils import OpenApiParameter

from phoenix.core.openapi import (
    EXAMPLE_TIME,
    EXAMPLE_USER_ID,
    IDEMPOTENCY_CONFLICT,
    INVALID_IDEMPOTENCY_KEY,
    THROTTLED,
    THROTTLED_RESPONSE,
    UNAUTHENTICATED_RESPONSE,
    USER_ID_REQUIRED,
    USER_NOT_FOUND,
    error_example,
    error_response,
    request_example,
    success_example,
    validation_error,
)
from wallet.api import serializers as s
from wallet.errors import (
    ActivityNotFound,
    AlreadyRefunded,
    HoldExpired,
    HoldNotFound,
    HoldNotPending,
    InsufficientEnergy,
    OperationNotFound,
    OperationNotRefundable,
    OverrunBeyondCap,
    SpendVelocityExceeded,
    UnknownAction,
)
from wallet.hashing import epoch_microseconds
from wallet.statement import statement_operation_hash

HOLD_ID = "14ac9b9d-cd86-4142-ab49-a85f00f63091"
CAFE_LUNA = {"code": "cafe_luna", "label": "Café Luna", "price_cents": 299, "currency": "EUR", "energy_points": 100}

# --- Errors ------------------------------------------------------------------------------------

UNKNOWN_ACTION = error_example(UnknownAction, "No active energy action 'lettre_motivaton'.",
                               summary="unknown_action: no active action with this code")
INSUFFICIENT_ENERGY = error_example(
    InsufficientEnergy, energy_required=15, available=12, required_pack=CAFE_LUNA,
    summary="insufficient_energy: the cheapest pack covering the shortfall is named (null if none does)",
)
HOLD_NOT_FOUND = error_example(HoldNotFound, summary="hold_not_found (also another user's hold, for an end user)")
HOLD_NOT_PENDING = error_example(HoldNotPending, "The hold is already captured.", hold_status="captured",
                                 summary="hold_not_pending: already captured, released or expired")
HOLD_EXPIRED = error_example(HoldExpired, summary="hold_expired: past its ttl_seconds")

AUTH_ERRORS = {401: UNAUTHENTICATED_RESPONSE, 429: THROTTLED_RESPONSE}
USER_ERRORS = {**AUTH_ERRORS, 404: error_response(USER_NOT_FOUND)}


METADATA_TOO_BIG = validation_error({"metadata": ["A JSON object."]}, summary="validation_error: metadata "
                                    "is not a JSON object (or is over 4096 bytes)")
ACTION_BAD_REQUEST = error_response(UNKNOWN_ACTION, METADATA_TOO_BIG, INVALID_IDEMPOTENCY_KEY, USER_ID_REQUIRED)
MUTATION_CONFLICT = error_response(IDEMPOTENCY_CONFLICT)
NOT_ENOUGH = error_response(INSUFFICIENT_ENERGY, serializer=s.InsufficientEnergySerializer)

# --- Requests and answers ------------------------------------------------------------------

CHECK = [
    request_example("satellite", {"user_id": EXAMPLE_USER_ID}, summary="A satellite names the user"),
    request_example("end user", {}, summary="An end user asks for themselves"),
    success_example("balance", {"balance": 85, "held": 0, "available": 85, "paid": 0, "free": 85,
                                "next_expiry": {"amount": 85, "expires_at": EXAMPLE_TIME}, "unlimited": False}),
]
CHECK_RESPONSES = {
    200: s.CheckSerializer,
    400: error_response(USER_ID_REQUIRED, validation_error({"user_id": ["Must be a valid UUID."]})),
    **USER_ERRORS,
}

CAN_PERFORM = [
    request_example("lettre_motivation", {"user_id": EXAMPLE_USER_ID, "action": "lettre_motivation"}),
    success_example("enough energy", {"can_perform": True, "energy_required": 15, "available": 85,
                                      "unlimited": False, "required_pack": None}),
    success_example("not enough energy", {"can_perform": False, "energy_required": 15, "available": 12,
                                          "unlimited": False, "required_pack": CAFE_LUNA},
                    summary="not enough energy: the cheapest pack covering the shortfall"),
    success_example("unlimited user", {"can_perform": True, "energy_required": 0, "available": 85,
                                       "unlimited": True, "required_pack": None}),
]
CAN_PERFORM_RESPONSES = {
    200: s.CanPerformSerializer,
    400: error_response(UNKNOWN_ACTION, USER_ID_REQUIRED),
    **USER_ERRORS,
}

CONSUME = [
    request_example("lettre_motivation", {
        "user_id": EXAMPLE_USER_ID, "action": "lettre_motivation", "source_app": "letters",
        "metadata": {"letter_id": "L-2041"}, "idempotency_key": "letters-L-2041-1",
    }),
    success_example("debited", {"transaction_id": 2, "event_id": 1, "energy_consumed": 15, "available": 70,
                                "unlimited": False,
                                "lots": [{"lot_id": 1, "category": "welcome", "kind": "draw", "amount": 15}]}),
    success_example("unlimited user", {"transaction_id": None, "event_id": 7, "energy_consumed": 0,
                                       "available": 85, "unlimited": True, "lots": []},
                    summary="unlimited user (or free action): nothing deducted, the event is recorded"),
]
FREEZE = [
    request_example("analyse_cv_complete", {
        "user_id": EXAMPLE_USER_ID, "action": "analyse_cv_complete", "source_app": "cv", "ttl_seconds": 600,
        "metadata": {"cv_id": "CV-77"}, "idempotency_key": "cv-CV-77-analysis",
    }),
    success_example("held", {"hold_id": HOLD_ID, "amount": 25, "expires_at": "2026-12-01T22:26:02.756831Z",
                             "available": 45, "unlimited": False, "event_id": None}, status=201),
    success_example("unlimited user", {"hold_id": None, "amount": 0, "expires_at": None, "available": 85,
                                       "unlimited": True, "event_id": 8}, status=201,
                    summary="unlimited user (or free action): no hold, the event is recorded at once"),
]
VELOCITY_EXCEEDED = error_example(SpendVelocityExceeded, retry_after=1800, limit="20000 energy per 3600 s",
                                  summary="spend_velocity_exceeded: the breaker; retry after `retry_after` s")
ACTION_MUTATION_RESPONSES = {
    400: ACTION_BAD_REQUEST, 402: NOT_ENOUGH, **USER_ERRORS, 409: MUTATION_CONFLICT,
    # Both 429s: the request throttle and the spend-velocity breaker.
    429: error_response(THROTTLED, VELOCITY_EXCEEDED),
}

COMMIT = [
    request_example("capture all", {"hold_id": HOLD_ID, "idempotency_key": "cv-CV-77-commit"}),
    request_example("capture less", {"hold_id": HOLD_ID, "amount": 20, "metadata": {"pages": 2}},
                    summary="Capture less than held: the rest is released"),
    request_example("true-up", {"hold_id": HOLD_ID, "amount": 31, "idempotency_key": "cv-CV-77-commit"},
                    summary="Capture more than held (the generation cost more): up to the action's overrun cap"),
    success_example("captured", {"transaction_id": 5, "event_id": 2, "energy_consumed": 20, "available": 50,
                                 "lots": [{"lot_id": 1, "category": "welcome", "kind": "unreserve", "amount": 20},
                                          {"lot_id": 1, "category": "welcome", "kind": "draw", "amount": 20}],
                                 "overrun": 0, "overrun_transaction_id": None}),
    success_example("trued up", {"transaction_id": 7, "event_id": 2, "energy_consumed": 31, "available": 39,
                                 "lots": [{"lot_id": 1, "category": "welcome", "kind": "unreserve", "amount": 25},
                                          {"lot_id": 1, "category": "welcome", "kind": "draw", "amount": 25},
                                          {"lot_id": 1, "category": "welcome", "kind": "draw", "amount": 6}],
                                 "overrun": 6, "overrun_transaction_id": 6},
                    summary="A true-up: the hold's 25 plus 6 debited beyond it, in the same transaction"),
]
COMMIT_RESPONSES = {
    200: s.CommitSerializer,
    400: error_response(
        validation_error({"hold_id": ["This field is required."]}),
        INVALID_IDEMPOTENCY_KEY,
    ),
    402: error_response(
        error_example(OverrunBeyondCap, "The commit asks 50 points; the hold of 25 allows at most 37 (+50 %).",
                      energy_required=50, available=37, hold_amount=25, overrun_cap_percent=50,
                      summary="overrun_beyond_cap: more than the hold plus the action's cap; the hold is untouched"),
        error_example(InsufficientEnergy, "The true-up needs 6 points beyond the hold; 2 are available.",
                      energy_required=6, available=2, hold_amount=25,
                      summary="insufficient_energy: the true-up exceeds the available energy; the hold is untouched"),
    ),
    **AUTH_ERRORS,
    404: error_response(HOLD_NOT_FOUND),
    409: error_response(HOLD_NOT_PENDING, HOLD_EXPIRED, IDEMPOTENCY_CONFLICT),
}

REFUND = [
    request_example("a transaction", {"transaction_id": 2, "reason": "generation failed",
                                      "idempotency_key": "letters-L-2041-refund"},
                    summary="Credit a consume or commit back (once)"),
    request_example("a hold", {"hold_id": HOLD_ID, "reason": "generation failed"},
                    summary="Release a pending hold"),
    success_example("refunded", {"refunded": 15, "available": 65}),
]
REFUND_RESPONSES = {
    200: s.RefundSerializer,
    400: error_response(
        validation_error({"non_field_errors": ["Give either transaction_id or hold_id."]},
                         summary="validation_error: neither or both of transaction_id and hold_id"),
        INVALID_IDEMPOTENCY_KEY,
    ),
    **AUTH_ERRORS,
    404: error_response(error_example(OperationNotFound, summary="operation_not_found (also another user's, "
                                      "for an end user)"), HOLD_NOT_FOUND),
    409: error_response(
        error_example(AlreadyRefunded),
        error_example(OperationNotRefundable, summary="operation_not_refundable: not a debit or a commit"),
        error_example(HoldNotPending, "The hold is already captured.", hold_status="captured",
                      summary="hold_not_pending: a captured hold (refund its transaction_id instead)"),
        IDEMPOTENCY_CONFLICT,
    ),
}

TRANSACTIONS = [success_example("refund credit", {
    "transaction_id": 8, "seq": 8, "type": "credit", "amount": 15, "balance_after": 65, "held_after": 0,
    "available_after": 65, "source": "api", "reason": "generation failed", "reference": "lettre_motivation",
    "hold_id": None, "refund_of": 2,
    "lots": [{"lot_id": 1, "category": "welcome", "kind": "restore", "amount": 15}], "created_at": EXAMPLE_TIME,
}, summary="A page, newest first (one entry shown)")]

LOTS = [success_example("welcome lot", {
    "lot_id": 1, "category": "welcome", "amount": 85, "remaining": 70, "reserved": 0, "priority": 50,
    "expires_at": EXAMPLE_TIME, "created_at": EXAMPLE_TIME,
}, summary="The lots in consumption order (one entry shown)")]

ANALYTICS = [success_example("30 days", {
    "window_days": 30, "since": "2026-11-01T22:16:02.984009Z", "until": "2026-12-01T22:16:02.984009Z",
    "actions": 3, "unlimited_actions": 0, "consumed": 35, "refunded": 15, "purchased": 0, "average_per_action": 11,
    "top_actions": [{"action": "analyse_cv_complete", "count": 1, "energy": 20},
                    {"action": "lettre_motivation", "count": 1, "energy": 15}],
})]

ACTIONS = [success_example("lettre_motivation", {
    "code": "lettre_motivation", "label": "Lettre de motivation", "category": "medium", "cost": 15,
    "source_app": "letters",
}, summary="The catalogue, cheapest first (one entry shown)")]

PACKS = [success_example("cafe_luna", {
    "code": "cafe_luna", "label": "Café Luna", "price_cents": 299, "currency": "EUR", "energy_points": 100,
    "first_purchase_bonus_percent": 10, "badge": "", "is_unlimited": False,
}, summary="The packs on sale (one entry shown)")]

LEADERBOARD = [success_example("leaderboard", {
    "window_days": 30, "generated_at": EXAMPLE_TIME,
    "entries": [{"rank": 1, "user": "731462fe8ca87fb5", "actions": 42, "energy_consumed": 610},
                {"rank": 2, "user": "0c5d2e9a41b7f3d8", "actions": 17, "energy_consumed": 245}],
})]

EVENT = {"event_id": 3, "action_code": "luna_conversation", "category": "luna", "source_app": "luna",
         "energy_consumed": 0, "unlimited": False, "transaction_id": None, "refund_of": None, "refunded_by": None,
         "metadata": {"conversation_id": "c-81"}, "created_at": EXAMPLE_TIME}
# A refund of a consume: the compensating event names the one it cancels (netted out of every total).
COMPENSATING_EVENT = {"event_id": 5, "action_code": "cv_generation", "category": "complex", "source_app": "cv",
                      "energy_consumed": -20, "unlimited": False, "transaction_id": 12, "refund_of": 4,
                      "refunded_by": None, "metadata": {"reason": "generation failed"}, "created_at": EXAMPLE_TIME}
EVENTS = [
    request_example("luna_conversation", {"user_id": EXAMPLE_USER_ID, "action": "luna_conversation",
                                          "metadata": {"conversation_id": "c-81"},
                                          "idempotency_key": "luna-c-81"}),
    success_example("recorded", EVENT, status=201),
]
EVENTS_RESPONSES = {
    201: s.UsageEventSerializer, 400: ACTION_BAD_REQUEST, **USER_ERRORS, 409: MUTATION_CONFLICT,
}
USER_EVENTS = [success_example("event", EVENT, summary="A page, newest first (one entry shown)"),
               success_example("compensating event", COMPENSATING_EVENT,
                               summary="A refund's compensating event, linked to the action it cancels")]

NARRATIVE = [success_example("narrative", {
    "actions": 3, "energy_consumed": 35, "unlimited_actions": 0,
    "by_category": [{"name": "complex", "actions": 1, "energy": 20}, {"name": "medium", "actions": 1, "energy": 15},
                    {"name": "luna", "actions": 1, "energy": 0}],
    "by_app": [{"name": "cv", "actions": 1, "energy": 20}, {"name": "letters", "actions": 1, "energy": 15},
               {"name": "luna", "actions": 1, "energy": 0}],
    "timeline": [{"week": "2026-11-30", "actions": 3, "energy": 35}],
    "first_action": {"action": "lettre_motivation", "category": "medium", "source_app": "letters",
                     "at": "2026-12-01T22:16:02.707679Z"},
    "latest_action": {"action": "luna_conversation", "category": "luna", "source_app": "luna",
                      "at": "2026-12-01T22:16:02.956558Z"},
    "milestones": [{"kind": "actions", "count": 1, "reached_at": "2026-12-01T22:16:02.707679Z"}],
})]

# --- A collaborator's activity, seen by their pro owner ---------------------------------------------

ACTIVITY = [success_example("activity", {
    "event_id": 4, "action": "lettre_motivation", "label": "Lettre de motivation", "category": "medium",
    "source_app": "letters", "energy_consumed": 15, "created_at": EXAMPLE_TIME,
}, summary="A page, newest first (one entry shown)")]
ACTIVITY_RESPONSES = {
    400: error_response(validation_error({"until": ["Must be after since."]})),
    401: UNAUTHENTICATED_RESPONSE, 429: THROTTLED_RESPONSE,
    404: error_response(error_example(
        ActivityNotFound, summary="activity_not_found: not your linked collaborator, no premium access now, "
                                  "or no such user (one answer for all)")),
}

EXTEND = [
    request_example("heartbeat", {"hold_id": HOLD_ID, "ttl_seconds": 120},
                    summary="Renew the lease every N s (N well below ttl_seconds) while the generation runs"),
    success_example("extended", {"hold_id": HOLD_ID, "expires_at": "2026-12-01T22:28:02.756831Z",
                                 "max_expires_at": "2026-12-01T23:16:02.756831Z", "at_max_lifetime": False}),
]
EXTEND_RESPONSES = {
    200: s.ExtendSerializer,
    400: error_response(validation_error({"hold_id": ["This field is required."]}), INVALID_IDEMPOTENCY_KEY),
    **AUTH_ERRORS,
    404: error_response(HOLD_NOT_FOUND),
    409: error_response(HOLD_NOT_PENDING, HOLD_EXPIRED, IDEMPOTENCY_CONFLICT),
}

STATEMENT_PARAMETERS = [
    OpenApiParameter("from", str, description="ISO 8601: operations created at or after (default: the first)."),
    OpenApiParameter("to", str, description="ISO 8601: operations created before (default: now, up to the head)."),
]
STATEMENT_BAD_REQUEST = error_response(validation_error({"from": ["Datetime has wrong format."]}))
_STATEMENT_OPERATION = {
    "seq": 1, "type": "credit", "amount": 70, "balance_before": 0, "balance_after": 70, "held_before": 0,
    "held_after": 0, "hold_id": None, "refund_of_id": None, "source": "system", "reason": "welcome grant",
    "reference": "welcome", "actor_id": None, "idempotency_key": "welcome-grant", "created_at": EXAMPLE_TIME,
    "created_at_us": epoch_microseconds(datetime.fromisoformat(EXAMPLE_TIME)), "prev_hash": "0" * 64,
}
# The example's hash is the real one for its content: the example verifies.
_STATEMENT_OPERATION["hash"] = statement_operation_hash(_STATEMENT_OPERATION, wallet_id=12)
STATEMENT = [success_example("statement", {
    "user_id": EXAMPLE_USER_ID, "wallet_id": 12, "from": None, "to": None,
    "head": {"seq": 1, "hash": _STATEMENT_OPERATION["hash"]}, "operations": [_STATEMENT_OPERATION],
}, summary="A new wallet's statement (verify the hashes with the README's procedure)")]
