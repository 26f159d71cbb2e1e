"""OpenAPI examples of the /auth API: bodies as the API sends them."""

from __future__ import annotations

from phoenix.accounts.errors import EmailTaken, InvalidCredentials
from phoenix.core.openapi import (
    EXAMPLE_TIME,
    EXAMPLE_USER_ID,
    NOT_AUTHENTICATED,
    THROTTLED,
    UNAUTHENTICATED_RESPONSE,
    USER_NOT_FOUND,
    error_example,
    error_response,
    request_example,
    success_example,
    validation_error,
)

EMAIL = "ada@example.com"
TOKEN = "966e6e699e3f829778c7f1f25f874d9667a82b17"
USER_REF = {"id": EXAMPLE_USER_ID, "email": EMAIL}
PASSWORD_RULES = (
    "The password must have at least 8 characters, not be too similar to the e-mail address, not be a "
    "commonly used password, and not be entirely numeric; a weak one is 400 `validation_error` with the "
    "reasons under `fields.password`."
)

CREDENTIALS = request_example("credentials", {"email": EMAIL, "password": "a-long-Password-123"})

REGISTER = [CREDENTIALS, success_example("registered", {**USER_REF, "token": TOKEN}, status=201)]
REGISTER_RESPONSES = {
    400: error_response(
        validation_error({"password": ["This password is too short. It must contain at least 8 characters."]},
                         name="weak password", summary="validation_error: a weak password"),
        validation_error({"email": ["Enter a valid email address."]}, name="bad e-mail",
                         summary="validation_error: not an e-mail address"),
    ),
    409: error_response(error_example(EmailTaken)),
    429: error_response(THROTTLED, description="throttled: too many registrations from this IP"),
}

LOGIN = [CREDENTIALS, success_example("logged in", {"token": TOKEN, "user": USER_REF})]
LOGIN_RESPONSES = {
    400: error_response(validation_error({"password": ["This field is required."]})),
    401: error_response(error_example(InvalidCredentials)),
    429: error_response(THROTTLED, description="throttled: per IP and per e-mail; `retry_after` in seconds"),
}

AUTH_ONLY = {401: UNAUTHENTICATED_RESPONSE}

PROFILE_BODY = {
    **USER_REF, "date_joined": EXAMPLE_TIME,
    "access": {"type": "TRIAL", "premium": True, "unlimited": False, "trial_ends_at": "2026-12-08T22:16:02.502965Z"},
    "energy": {"balance": 85, "held": 0, "available": 85, "paid": 0, "free": 85,
               "next_expiry": {"amount": 85, "expires_at": "2027-03-02T10:00:00Z"}},
}
PROFILE = [success_example("profile", PROFILE_BODY)]

ERASE = [request_example("confirm", {"password": "a-long-Password-123"})]
ERASE_RESPONSES = {
    400: error_response(validation_error({"password": ["This field is required."]})),
    401: error_response(NOT_AUTHENTICATED, error_example(InvalidCredentials, "The password is incorrect.",
                                                         summary="invalid_credentials: wrong password")),
}

USER_PROFILE_RESPONSES = {**AUTH_ONLY, 404: error_response(USER_NOT_FOUND)}
