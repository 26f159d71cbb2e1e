"""Every error class of `subscriptions`: illegal access transitions, invalid trial ends."""

from __future__ import annotations

from phoenix.core.errors import ConflictError, PhoenixError


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


class NotTrial(AccessTransitionError):
    code = "not_trial"
    default_detail = "The user's access is not a trial (any more)."


class InvalidTrialEnd(PhoenixError):
    """An extension that would not move a running trial's end later, within the limit."""

    code = "invalid_trial_end"
    default_detail = "The new trial end must be later than the current one, in the future and within the limit."
