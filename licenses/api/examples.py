"""OpenAPI examples of the /pro API: bodies as the API sends them."""

from __future__ import annotations

from licenses.errors import (
    AlreadyLinked,
    AssignmentPending,
    CannotLinkOwner,
    CollaboratorNotFound,
    LicenseNotAvailable,
    LicenseNotCancelable,
    LicenseNotFound,
    LicenseNotUnlinkable,
    NotACollaborator,
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
LINK = [
    request_example("by e-mail", {"email": "bob@example.com"}),
    success_example("linked", {**COLLABORATOR_BODY, "access_type": "TRIAL", "license": None}, status=201),
]
LINK_RESPONSES = {
    400: error_response(validation_error({"email": ["Enter a valid email address."]}),
                        error_example(CannotLinkOwner)),
    **UNAUTH,
    404: error_response(NO_ACCOUNT, COLLABORATOR_NOT_FOUND),
    409: error_response(error_example(AlreadyLinked)),
}
UNLINK_COLLABORATOR_RESPONSES = {
    **UNAUTH, 404: error_response(NO_ACCOUNT, COLLABORATOR_NOT_FOUND), 409: error_response(NOT_A_COLLABORATOR),
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
                        error_example(LicenseNotAvailable), NOT_A_COLLABORATOR, error_example(AssignmentPending),
                        error_example(ProAccountNotActive)),
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
