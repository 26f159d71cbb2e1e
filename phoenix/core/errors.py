"""One error format for the whole API.

Every error answer is ``{"error": "<machine code>", "detail": "<human text>", ...extra}``.
Services raise ``PhoenixError`` subclasses; DRF and Django exceptions are translated
here; anything unexpected becomes a logged 500 ``server_error`` and the transaction is
rolled back. A dependency that cannot be reached (database, cache, broker) is a 503
``service_unavailable`` naming it, with ``Retry-After``, on every endpoint.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import kombu.exceptions
import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError, connections
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

from phoenix.core.cache import REDIS_UNREACHABLE

logger = structlog.get_logger("phoenix.errors")


class PhoenixError(Exception):
    """A domain error with a machine-readable code, an HTTP status and extra fields."""

    code = "error"
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request could not be processed."

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any):
        self.detail = detail or self.default_detail
        if code:
            self.code = code
        self.extra = extra
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


class ConflictError(PhoenixError):
    code = "conflict"
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."


class NotFoundError(PhoenixError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "Not found."


class ServiceUnavailableError(PhoenixError):
    code = "service_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service Phoenix depends on is unavailable."


# Seconds a client should wait before retrying when a dependency is down.
RETRY_AFTER_UNAVAILABLE = 5


def unavailable_dependency(exc: BaseException | None) -> str | None:
    """Which dependency an exception says is unreachable (None: a real bug)."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return "database"
    if isinstance(exc, REDIS_UNREACHABLE):
        return "cache"
    if isinstance(exc, kombu.exceptions.OperationalError):
        return "broker"
    return None


def service_unavailable_body(dependency: str) -> dict[str, Any]:
    error = ServiceUnavailableError(f"The {dependency} is unavailable; retry later.", service=dependency,
                                    retry_after=RETRY_AFTER_UNAVAILABLE)
    return error.as_dict()


class PayloadTooLarge(PhoenixError):
    code = "payload_too_large"
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."


class IdempotencyConflict(ConflictError):
    code = "idempotency_conflict"
    default_detail = "This idempotency key was already used for a different request."


class InvalidIdempotencyKey(PhoenixError):
    code = "invalid_idempotency_key"
    default_detail = "An idempotency key is 1 to 128 characters, the same in body and header."


class ReasonRequired(PhoenixError):
    code = "reason_required"
    default_detail = "Operator actions need a reason."


class OperatorActionRepeated(ConflictError):
    """The same operator intent (action, target, fields, reason) was already carried out:
    a Back + resubmit, or a deliberate repeat that the operator must confirm."""

    code = "operator_action_repeated"
    default_detail = "This exact action was already done; nothing was changed."


class JobAlreadyRunning(ConflictError):
    code = "job_already_running"
    default_detail = "Another run of this job holds its lock; nothing was done."


def set_rollback() -> None:
    """DRF's own ``set_rollback`` (rest_framework.views), here so that this module does not
    import DRF's views: the JSON parser DRF's APIView loads raises these errors."""
    for db in connections.all():
        if db.settings_dict["ATOMIC_REQUESTS"] and db.in_atomic_block:
            db.set_rollback(True)


# DRF exception class -> our error code. Order matters: subclasses first.
_DRF_CODES: list[tuple[type[drf_exceptions.APIException], str]] = [
    (drf_exceptions.ValidationError, "validation_error"),
    (drf_exceptions.ParseError, "malformed_request"),
    (drf_exceptions.AuthenticationFailed, "authentication_failed"),
    (drf_exceptions.NotAuthenticated, "not_authenticated"),
    (drf_exceptions.PermissionDenied, "permission_denied"),
    (drf_exceptions.NotFound, "not_found"),
    (drf_exceptions.MethodNotAllowed, "method_not_allowed"),
    (drf_exceptions.NotAcceptable, "not_acceptable"),
    (drf_exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (drf_exceptions.Throttled, "throttled"),
]


def _drf_error_body(exc: drf_exceptions.APIException) -> dict[str, Any]:
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "error")
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return {"error": code, "detail": "The request has invalid fields.", "fields": fields}
    body: dict[str, Any] = {"error": code, "detail": str(exc.detail)}
    if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
        body["retry_after"] = math.ceil(exc.wait)
    return body


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF EXCEPTION_HANDLER: every API error in the one error shape."""
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, RequestDataTooBig):  # a body without Content-Length, read past the limit
        exc = PayloadTooLarge()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    if isinstance(exc, PhoenixError):
        set_rollback()
        return Response(exc.as_dict(), status=exc.status_code)

    if isinstance(exc, drf_exceptions.APIException):
        set_rollback()
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(math.ceil(exc.wait))
        return Response(_drf_error_body(exc), status=exc.status_code, headers=headers)

    set_rollback()
    view = context.get("view")
    dependency = unavailable_dependency(exc)
    if dependency is not None:
        logger.warning("dependency_unavailable", dependency=dependency, error=f"{type(exc).__name__}: {exc}"[:300])
        return Response(service_unavailable_body(dependency), status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)})
    logger.exception("unhandled_api_error", view=type(view).__name__ if view else None)
    return Response(
        {"error": "server_error", "detail": "An unexpected error occurred."},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


# --- Django-level handlers (errors raised outside DRF views, e.g. unknown URLs) ------


def json_not_found(request, exception=None):
    return JsonResponse({"error": "not_found", "detail": "Not found."}, status=404)


def json_server_error(request):
    # Called while the exception is being handled: a dependency down is a 503, not a bug.
    dependency = unavailable_dependency(sys.exc_info()[1])
    if dependency is not None:
        response = JsonResponse(service_unavailable_body(dependency), status=503)
        response["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
        return response
    return JsonResponse(
        {"error": "server_error", "detail": "An unexpected error occurred."}, status=500
    )


def json_bad_request(request, exception=None):
    return JsonResponse({"error": "bad_request", "detail": "Bad request."}, status=400)


def json_permission_denied(request, exception=None):
    return JsonResponse({"error": "permission_denied", "detail": "Permission denied."}, status=403)
