"""Every error class of `licenses`."""

from __future__ import annotations

from rest_framework import status

from phoenix.core.errors import ConflictError, NotFoundError, PhoenixError

# --- pro account ----------------------------------------------------------------------


class ProAccountNotFound(NotFoundError):
    code = "pro_account_not_found"
    default_detail = "No pro account."


class ProAccountExists(ConflictError):
    code = "pro_account_exists"
    default_detail = "This user already has a pro account."


class ProAccountNotActive(ConflictError):
    code = "pro_account_not_active"
    default_detail = "The pro account must be active (buy a license, or regularize the payment)."


class ProAccountNotSuspendable(ConflictError):
    code = "pro_account_not_suspendable"
    default_detail = "Only an active pro account can be suspended."


class ProAccountNotSuspended(ConflictError):
    code = "pro_account_not_suspended"
    default_detail = "Only a suspended pro account can be reactivated."


# --- collaborators ----------------------------------------------------------------------


class CollaboratorNotFound(NotFoundError):
    code = "collaborator_not_found"
    default_detail = "No such user."


class NotACollaborator(ConflictError):
    code = "not_a_collaborator"
    default_detail = "The user is not linked to this pro account."


class AlreadyLinked(ConflictError):
    code = "already_linked"
    default_detail = "The user is already linked to this pro account."


class CannotLinkOwner(PhoenixError):
    code = "cannot_link_owner"
    default_detail = "The owner of a pro account is not one of its collaborators."


# --- licenses ---------------------------------------------------------------------------


class LicenseNotFound(NotFoundError):
    code = "license_not_found"
    default_detail = "No such license in this pro account."


class LicenseNotAvailable(ConflictError):
    code = "license_not_available"
    default_detail = "The license is not available for assignment."


class AssignmentPending(ConflictError):
    code = "assignment_pending"
    default_detail = "A license assignment to this user already waits for Stripe."


class LicenseNotCancelable(ConflictError):
    code = "license_not_cancelable"
    default_detail = "This license cannot be canceled in its current state."


class LicenseNotUnlinkable(ConflictError):
    code = "license_not_unlinkable"
    default_detail = "This license is not assigned to anybody."


# --- purchase ---------------------------------------------------------------------------


class InvalidQuantity(PhoenixError):
    code = "invalid_quantity"
    default_detail = "Quantity must be between 1 and 1000."


class InvalidLicenseKind(PhoenixError):
    code = "invalid_kind"
    default_detail = "kind must be monthly or lifetime."


class PlanNotConfigured(PhoenixError):
    code = "plan_not_configured"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "No active pro seat plan of this kind: an admin must set one."


# --- invitations ------------------------------------------------------------------------


class InvitationNotFound(NotFoundError):
    code = "invitation_not_found"
    default_detail = "No such invitation for you."


class InvitationPending(ConflictError):
    code = "invitation_pending"
    default_detail = "An invitation to this address is already pending."


class InvitationNotPending(ConflictError):
    code = "invitation_not_pending"
    default_detail = "This invitation was already answered or revoked."


class InvitationExpired(ConflictError):
    code = "invitation_expired"
    default_detail = "This invitation has expired: ask the pro for a new one."


class AccountRequired(ConflictError):
    code = "account_required"
    default_detail = "Register with the invited e-mail address first, then accept."


class PremiumCancelConsentRequired(ConflictError):
    code = "consent_required"
    default_detail = ("The collaborator has a paid plan of their own and did not consent to its cancellation "
                      "when accepting the invitation.")
