"""Every error class of `phoenix.accounts`: registration and login."""

from __future__ import annotations

from rest_framework import status

from phoenix.core.errors import ConflictError, PhoenixError


class EmailTaken(ConflictError):
    code = "email_taken"
    default_detail = "An account with this e-mail address already exists."


class InvalidCredentials(PhoenixError):
    code = "invalid_credentials"
    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = "E-mail or password is incorrect."


class WeakPassword(PhoenixError):
    code = "validation_error"
    default_detail = "The request has invalid fields."
