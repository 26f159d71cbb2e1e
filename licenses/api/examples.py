"""OpenAPI examples of the /pro API: bodies as the API sends them."""

from __future__ import annotations

from licenses.errors import (
    AccountRequired,
    AlreadyLinked,
    AssignmentPending,
    CannotLinkOwner,
    CollaboratorNotFound,
    InvitationExpired,
    InvitationNotFound,
    InvitationNotPending,
    InvitationPending,
    LicenseNotAvailable,
    LicenseNotCancelable,
    LicenseNotFound,
    LicenseNotUnlinkable,
    NotACollaborator,
    PremiumCancelConsentRequired,
    ProAccountExists,
    ProAccountNotActive,
    ProAccountNotFound,
)
from phoenix.core.openapi import (
    EXAMPLE_OTHER_USER_ID,
    EXAMPLE_TIME,
    EXAMPLE_USER_ID,
    UNAUTHENTICATED_RESPONSE,
    error_example,
    error_response,
    request_example,
    success_example,
    validation_error,
)
from subscriptions.errors import AlreadyLicensed, AlreadyLifetime

PRO_ACCOUNT_ID = "382e484f-4f6f-4da8-aa5f-82fc27693334"
LICENSE_ID = "0d8c4f5e-7a1b-4c2d-9e3f-5a6b7c8d9e0f"
OWNER = {"id": EXAMPLE_USER_ID, "email": "ada@example.com"}
COLLABORATOR = {"id": EXAMPLE_OTHER_USER_ID, "email": "bob@example.com"}

NO_ACCOUNT = error_example(ProAccountNotFound, summary="pro_account_not_found: the caller owns no pro account")
COLLABORATOR_NOT_FOUND = error_example(CollaboratorNotFound, summary="collaborator_not_found: no such active user")
LICENSE_NOT_FOUND = error_example(LicenseNotFound)
NOT_A_COLLABORATOR = error_example(NotACollaborator)

UNAUTH = {401: UNAUTHENTICATED_RESPONSE}
OWNER_ERRORS = {**UNAUTH, 404: error_response(NO_ACCOUNT)}
LICENSE_ERRORS = {**UNAUTH, 404: error_response(NO_ACCOUNT, LICENSE_NOT_FOUND)}

ACCOUNT_BODY = {
    "id": PRO_ACCOUNT_ID, "status": "active", "trial_ends_at": "2026-12-08T22:16:03.148365Z",
    "billing_anchor_day": 15, "next_billing_at": "2026-12-15T00:00:00Z", "regularize_required": False,
    "created_at": EXAMPLE_TIME,
}
ACCOUNT = [success_example("active", ACCOUNT_BODY)]
OPEN = [success_example("trial", {**ACCOUNT_BODY, "status": "trial", "billing_anchor_day": None,
                                  "next_billing_at": None}, status=201)]
OPEN_RESPONSES = {**UNAUTH, 409: error_response(error_example(ProAccountExists))}

LICENSE_REF = {"id": LICENSE_ID, "kind": "monthly", "status": "active"}
COLLABORATOR_BODY = {
    "user": COLLABORATOR, "linked_at": EXAMPLE_TIME, "access_type": "LICENSED", "premium": True,
    "license": LICENSE_REF, "activity_visible": True,
    "activity_url": f"/pro/collaborators/{COLLABORATOR['id']}/activity",
}
COLLABORATORS = [success_example("licensed collaborator", COLLABORATOR_BODY)]
UNLINK_COLLABORATOR_RESPONSES = {
    **UNAUTH, 404: error_response(NO_ACCOUNT, COLLABORATOR_NOT_FOUND,
                                  description="pro_account_not_found, collaborator_not_found (also for an "
                                  "existing user who is not a collaborator: the same answer as a random id)"),
}

LICENSE_BODY = {
    "id": LICENSE_ID, "kind": "monthly", "status": "active", "is_owner_license": False, "assignee": COLLABORATOR,
    "assigned_at": EXAMPLE_TIME, "effective_at": None, "pending_assignment": None,
}
POOL = [success_example("pool", {
    "counts": {"available": 1, "active": 1, "suspended": 0, "canceled": 0, "unlinked": 0}, "total": 2,
    "licenses": [LICENSE_BODY, {**LICENSE_BODY, "id": "1e9d5a6f-8b2c-4d3e-af40-6b7c8d9e0fa1", "kind": "lifetime",
                                "status": "available", "assignee": None, "assigned_at": None}],
})]

ASSIGN = [
    request_example("a collaborator", {"user_id": EXAMPLE_OTHER_USER_ID}),
    success_example("assigned", {"outcome": "assigned", "license": LICENSE_BODY}),
    success_example("needs_cancel_existing", {"outcome": "needs_cancel_existing", "license": {
        **LICENSE_BODY, "status": "available", "assignee": None, "assigned_at": None,
        "pending_assignment": {"collaborator": COLLABORATOR, "created_at": EXAMPLE_TIME},
    }}, status=202, summary="The collaborator is PREMIUM: pending until Stripe cancels their subscription"),
]
ASSIGN_RESPONSES = {
    400: error_response(validation_error({"user_id": ["Must be a valid UUID."]})),
    **UNAUTH,
    404: error_response(NO_ACCOUNT, LICENSE_NOT_FOUND, COLLABORATOR_NOT_FOUND),
    409: error_response(error_example(AlreadyLifetime), error_example(AlreadyLicensed),
                        error_example(LicenseNotAvailable), error_example(AssignmentPending),
                        error_example(ProAccountNotActive), error_example(PremiumCancelConsentRequired)),
}

CANCEL = [success_example("cancel scheduled", {**LICENSE_BODY, "status": "canceled",
                                               "effective_at": "2026-12-15T00:00:00Z"},
                          summary="Effective on the grouped billing date; access kept until then")]
CANCEL_RESPONSES = {**LICENSE_ERRORS, 409: error_response(error_example(LicenseNotCancelable, status="canceled"))}
UNLINK = [success_example("unlink scheduled", {**LICENSE_BODY, "status": "unlinked",
                                               "effective_at": "2026-12-15T00:00:00Z"},
                          summary="Effective on the grouped billing date; access kept until then")]
UNLINK_RESPONSES = {**LICENSE_ERRORS, 409: error_response(error_example(LicenseNotUnlinkable, status="available"))}

MEMBERSHIPS = [success_example("membership", {"pro_account_id": PRO_ACCOUNT_ID, "owner": OWNER,
                                              "linked_at": EXAMPLE_TIME})]
LEAVE_RESPONSES = {**UNAUTH, 404: error_response(error_example(ProAccountNotFound)),
                   409: error_response(NOT_A_COLLABORATOR)}

INVITATION_ID = "5b1f0c2e-3d4a-4b5c-8d6e-7f8091a2b3c4"
INVITATION_BODY = {"id": INVITATION_ID, "email": "bob@example.com", "status": "pending",
                   "expires_at": "2026-12-08T22:16:02.496025Z", "responded_at": None, "created_at": EXAMPLE_TIME}
INVITATIONS = [success_example("pending", INVITATION_BODY)]
INVITE = [
    request_example("by e-mail", {"email": "bob@example.com"}),
    success_example("invited", INVITATION_BODY, status=202,
                    summary="The same answer whether the address has an account or not"),
]
NOT_PENDING = error_example(InvitationNotPending, status="accepted")
INVITE_RESPONSES = {
    400: error_response(validation_error({"email": ["Enter a valid email address."]}),
                        error_example(CannotLinkOwner)),
    **OWNER_ERRORS,
    409: error_response(error_example(InvitationPending), error_example(AlreadyLinked)),
}
REVOKE_RESPONSES = {**UNAUTH, 404: error_response(NO_ACCOUNT, error_example(InvitationNotFound)),
                    409: error_response(NOT_PENDING)}
RECEIVED = [success_example("open", {"id": INVITATION_ID, "pro_account_id": PRO_ACCOUNT_ID, "owner": OWNER,
                                     "expires_at": "2026-12-08T22:16:02.496025Z", "created_at": EXAMPLE_TIME})]
ACCEPT = [
    request_example("consenting to the cancellation of one's own plan", {"premium_cancel_consent": True}),
    success_example("accepted", {"id": INVITATION_ID, "status": "accepted", "premium_cancel_consent": True}),
]
_ANSWER_409 = error_response(NOT_PENDING, error_example(InvitationExpired), error_example(AlreadyLinked))
ANSWER_RESPONSES = {
    400: error_response(error_example(CannotLinkOwner)), **UNAUTH,
    404: error_response(error_example(InvitationNotFound, summary="invitation_not_found: no such invitation "
                                      "to the caller's address")),
    409: _ANSWER_409,
}
RESPOND = [
    request_example("accept by link", {"token": "IjViMWYwYzJlIg:1tHx:abc", "decision": "accept",
                                       "premium_cancel_consent": False}),
    success_example("accepted", {"id": INVITATION_ID, "status": "accepted", "premium_cancel_consent": False}),
]
LINK_ANSWER_RESPONSES = {
    400: error_response(validation_error({"decision": ['"maybe" is not a valid choice.']}),
                        error_example(CannotLinkOwner)),
    404: error_response(error_example(InvitationNotFound)),
    409: error_response(error_example(AccountRequired), NOT_PENDING, error_example(InvitationExpired),
                        error_example(AlreadyLinked)),
}
DECLINE = [success_example("declined", {"id": INVITATION_ID, "status": "declined", "premium_cancel_consent": False})]
REVOKE = [success_example("revoked", {**INVITATION_BODY, "status": "revoked", "responded_at": EXAMPLE_TIME})]
