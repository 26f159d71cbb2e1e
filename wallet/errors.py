"""Typed wallet errors (re-exported by wallet.services). Each has a machine code and status."""

from __future__ import annotations

from rest_framework import status

from phoenix.core.errors import ConflictError, NotFoundError, PhoenixError


class WalletValidationError(PhoenixError):
    """A malformed argument (bad source, text too long, ...); `fields` names it."""

    code = "validation_error"
    default_detail = "The request has invalid fields."


class InvalidAmount(PhoenixError):
    code = "invalid_amount"
    default_detail = "The amount must be a positive whole number of energy points."


class InsufficientEnergy(PhoenixError):
    code = "insufficient_energy"
    status_code = status.HTTP_402_PAYMENT_REQUIRED
    default_detail = "Not enough energy available for this action."

    def __init__(self, *, required: int, available: int, detail: str | None = None, **extra):
        self.required = required
        self.available = available
        # `energy_required` / `available`: the names of the /luna 402 answer.
        super().__init__(detail, energy_required=required, available=available, **extra)


class HoldNotFound(NotFoundError):
    code = "hold_not_found"
    default_detail = "No such hold."


class HoldNotPending(ConflictError):
    code = "hold_not_pending"
    default_detail = "The hold is already resolved."

    def __init__(self, *, hold_status: str, detail: str | None = None):
        self.hold_status = hold_status
        super().__init__(detail or f"The hold is already {hold_status}.", hold_status=hold_status)


class HoldExpired(ConflictError):
    code = "hold_expired"
    default_detail = "The hold has expired; its energy is being released."


class OperationNotFound(NotFoundError):
    code = "operation_not_found"
    default_detail = "No such balance operation."


class OperationNotRefundable(ConflictError):
    code = "operation_not_refundable"
    default_detail = "Only a debit or a commit can be refunded."


class AlreadyRefunded(ConflictError):
    code = "already_refunded"
    default_detail = "This operation was already refunded."


class UnknownAction(PhoenixError):
    code = "unknown_action"
    default_detail = "No such active energy action."


class ActivityNotFound(NotFoundError):
    """One answer for every refusal (unknown user, not linked, no premium access, not a pro):
    a stranger learns nothing from it."""

    code = "activity_not_found"
    default_detail = "No collaborator activity you may see."


class OverrunBeyondCap(InsufficientEnergy):
    """A commit asked more than its hold plus the action's overrun cap (the hold is untouched)."""

    code = "overrun_beyond_cap"
    default_detail = "The commit exceeds the hold plus the action's overrun cap."


class SpendVelocityExceeded(PhoenixError):
    """The user spent their window's allowance (or performed their window's actions)."""

    code = "spend_velocity_exceeded"
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Too much energy spent in too short a time; try again later."

    def __init__(self, *, retry_after: int, limit: str, user_id: int | None = None, detail: str | None = None):
        self.retry_after = retry_after
        self.limit = limit
        self.user_id = user_id  # whose breaker tripped (for the incident; not in the answer)
        self.incident_opened = False
        super().__init__(detail, retry_after=retry_after, limit=limit)
