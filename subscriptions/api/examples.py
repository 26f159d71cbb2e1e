"""OpenAPI examples of the /subscriptions API: bodies as the API sends them."""

from __future__ import annotations

from phoenix.core.openapi import UNAUTHENTICATED_RESPONSE, USER_NOT_FOUND, error_response, success_example

TRIAL = {"type": "TRIAL", "premium": True, "unlimited": False, "trial_ends_at": "2026-12-08T22:16:02.502965Z",
         "current_period_end": None, "cancel_at_period_end": False, "license_status": "none"}
PREMIUM = {"type": "PREMIUM", "premium": True, "unlimited": True, "trial_ends_at": "2026-12-08T22:16:02.502965Z",
           "current_period_end": "2027-01-08T22:20:11Z", "cancel_at_period_end": False, "license_status": "none"}
PREMIUM_CANCELING = {**PREMIUM, "cancel_at_period_end": True}

ACCESS = [
    success_example("trial", TRIAL, summary="In the trial"),
    success_example("premium", PREMIUM, summary="A monthly subscriber (unlimited energy)"),
]
ACCESS_RESPONSES = {401: UNAUTHENTICATED_RESPONSE, 404: error_response(USER_NOT_FOUND)}
