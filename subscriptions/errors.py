"""Every error class of `subscriptions`: illegal access transitions."""

from __future__ import annotations

from phoenix.core.errors import ConflictError


class AccessTransitionError(ConflictError):
    code = "illegal_access_transition"
    default_detail = "This access change is not allowed in the current state."


class AlreadyLifetime(AccessTransitionError):
    code = "already_lifetime"
    default_detail = "The user already has lifetime access."


class AlreadyLicensed(AccessTransitionError):
    code = "already_licensed"
    default_detail = "The user is already covered by a license."


class NeedsCancelExisting(AccessTransitionError):
    code = "needs_cancel_existing"
    default_detail = "The user's personal subscription must be canceled first."


class NotPremium(AccessTransitionError):
    code = "not_premium"
    default_detail = "The user has no monthly subscription."
