"""The OpenAPI schema's shared parts: the schema class, the error examples, the common parameters.

- ``PhoenixAutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) lists the ``ApiKeyAuth``
  scheme on every operation a satellite may call (its permission accepts an API key), and names
  request components after their serializer without a doubled ``Request`` suffix
  (``ConsumeRequestSerializer`` -> ``ConsumeRequest``, not ``ConsumeRequestRequest``).
- ``error_example`` / ``error_response`` build error answers from the real error classes, so an
  example's code and text are the ones the API sends.
- Each app's examples live next to its views (``<app>/api/examples.py``); the ones every app
  shares (authentication, throttling, user_id, idempotency) are here.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework_api_key.permissions import BaseHasAPIKey

from phoenix.core.api import ErrorSerializer, IsUserOrSatellite, UserIdRequired, UserNotFound
from phoenix.core.errors import (
    IdempotencyConflict,
    InvalidIdempotencyKey,
    PhoenixError,
    service_unavailable_body,
)
from phoenix.core.idempotency import HEADER
from phoenix.core.input_policy import (
    InvalidCharacters,
    InvalidPaging,
    NestingTooDeep,
    PayloadTooLarge,
    UnknownQueryParameter,
)

API_KEY_SCHEME = "ApiKeyAuth"


def accepts_api_key(permission_classes) -> bool:
    """Whether a view's permissions let a satellite (an ``Api-Key``) in."""
    return any(issubclass(cls, (IsUserOrSatellite, BaseHasAPIKey)) for cls in permission_classes)


class PhoenixAutoSchema(AutoSchema):
    def get_auth(self):
        auths = super().get_auth()
        if not accepts_api_key(type(p) for p in self.view.get_permissions()):
            return auths
        # Next to the token and session schemes (before an "anonymous too" `{}`, if any).
        return [a for a in auths if a] + [{API_KEY_SCHEME: []}] + [a for a in auths if not a]

    def get_serializer_name(self, serializer, direction):
        name = super().get_serializer_name(serializer, direction)
        if direction == "request" and settings.SPECTACULAR_SETTINGS.get("COMPONENT_SPLIT_REQUEST"):
            # drf-spectacular appends "Request" to every request component itself.
            base = name.removesuffix("Serializer")
            if base.endswith("Request") and base != "Request":
                return base.removesuffix("Request")
        return name


# --- Examples ---------------------------------------------------------------------------------

# One example user, payment and pro account across every app's examples.
EXAMPLE_USER_ID = "a0b9b9dd-614a-4771-be70-3fcc00a4f444"
EXAMPLE_OTHER_USER_ID = "4834d1f9-1bad-4833-93d3-6cf1e3c0c5ac"
EXAMPLE_TIME = "2026-12-01T22:16:02.496025Z"


def error_body(error: type[PhoenixError] | str, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    """The body the API sends for ``error`` (a PhoenixError class, or a code with its detail)."""
    if isinstance(error, str):
        if detail is None:
            raise ValueError("A bare error code needs its detail text.")
        code = error
    else:
        code, detail = error.code, detail or error.default_detail
    return {"error": code, "detail": detail, **extra}


def error_example(
    error: type[PhoenixError] | str, detail: str | None = None, *, name: str | None = None,
    summary: str | None = None, **extra: Any,
) -> OpenApiExample:
    """An error answer; it takes the status code of the ``error_response`` it is listed in."""
    body = error_body(error, detail, **extra)
    return OpenApiExample(name or body["error"], value=body, summary=summary or body["error"], response_only=True)


def error_response(*examples: OpenApiExample, description: str = "", serializer=ErrorSerializer) -> OpenApiResponse:
    """An error status: its examples, and a description naming their codes unless given."""
    if not description:
        description = ", ".join(dict.fromkeys(example.value["error"] for example in examples))
    return OpenApiResponse(serializer, description=description, examples=list(examples))


def validation_error(fields: dict[str, list[str]], *, name: str = "validation_error",
                     summary: str = "validation_error") -> OpenApiExample:
    """400 ``validation_error``: ``fields`` maps each invalid field to its messages."""
    return error_example("validation_error", "The request has invalid fields.", name=name, summary=summary,
                         fields=fields)


def success_example(name: str, value: Any, *, summary: str = "", status: int = 200,
                    description: str = "") -> OpenApiExample:
    """A 2xx answer. For a list answer give one item: drf-spectacular lists (and pages) it."""
    return OpenApiExample(name, value=value, summary=summary or name, description=description,
                          response_only=True, status_codes=[str(status)])


def request_example(name: str, value: Any, *, summary: str = "", description: str = "") -> OpenApiExample:
    return OpenApiExample(name, value=value, summary=summary or name, description=description, request_only=True)


NOT_AUTHENTICATED = error_example("not_authenticated", "Authentication credentials were not provided.",
                                  summary="not_authenticated: no Authorization header")
AUTHENTICATION_FAILED = error_example("authentication_failed", "Invalid token.",
                                      summary="authentication_failed: an unknown or revoked token")
THROTTLED = error_example("throttled", "Request was throttled. Expected available in 12 seconds.",
                          retry_after=12, summary="throttled: retry after retry_after seconds")
USER_NOT_FOUND = error_example(UserNotFound, summary="user_not_found: no such active user (or, for an end "
                               "user, anybody but themselves)")
USER_ID_REQUIRED = error_example(UserIdRequired, summary="user_id_required: a satellite named nobody")
IDEMPOTENCY_CONFLICT = error_example(IdempotencyConflict, summary="idempotency_conflict: the key was used "
                                     "with another body")
INVALID_IDEMPOTENCY_KEY = error_example(
    InvalidIdempotencyKey, "The body's idempotency_key and the Idempotency-Key header differ.",
    summary="invalid_idempotency_key: body and header keys differ (or a key over 128 characters)",
)

UNAUTHENTICATED_RESPONSE = error_response(NOT_AUTHENTICATED, AUTHENTICATION_FAILED)
THROTTLED_RESPONSE = error_response(THROTTLED, description="throttled: per end user and per API key; "
                                    "`retry_after` (seconds) and the Retry-After header say when to retry")

# --- Parameters and descriptions -------------------------------------------------------------------

IDEMPOTENCY_HEADER = OpenApiParameter(
    HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Optional, 1 to 128 characters, scoped to the caller: a retry with the same key gets the "
    "first answer (header `Idempotent-Replayed: true`) and never applies twice; the same key with another "
    "body is 409 `idempotency_conflict`. May be sent instead of the body's `idempotency_key`; when both are "
    "sent they must be equal, else 400 `invalid_idempotency_key`.",
    examples=[OpenApiExample("key", value="letters-L-2041-1")],
)

USER_ID_PATH = OpenApiParameter(
    "user_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
    description="The user's public id. A satellite may name any active user; an end user only themselves "
    "(anybody else: 404 `user_not_found`).",
    examples=[OpenApiExample("user", value=EXAMPLE_USER_ID)],
)

USER_ID_RULE = (
    "**user_id**: a satellite (`Api-Key`) must send the `user_id` it acts for (else 400 "
    "`user_id_required`); an end user (`Token`) may omit it or give their own (anybody else: 404 "
    "`user_not_found`)."
)


# --- The input policy and the 503, stated on every operation (a postprocessing hook) ----------

def _error_value(error: type[PhoenixError], **extra: Any) -> dict[str, Any]:
    return {"summary": error.code, "value": error_body(error, **extra)}


def _add_error(op: dict, status: str, examples: dict[str, dict]) -> None:
    response = op["responses"].setdefault(status, {
        "description": "", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}, "examples": {}}},
    })
    media = response.setdefault("content", {}).setdefault("application/json", {})
    media.setdefault("schema", {"$ref": "#/components/schemas/Error"})
    media.setdefault("examples", {}).update(examples)
    codes = [code for code in (e["value"]["error"] for e in examples.values()) if code not in response["description"]]
    response["description"] = ", ".join(filter(None, [response["description"], *codes]))


def input_policy_responses(result, generator, request, public):
    """POSTPROCESSING_HOOKS: the answers the input policy and the 503 give on any operation
    (phoenix.core.input_policy, phoenix.core.errors) are listed on each."""
    for path_item in result.get("paths", {}).values():
        for method, op in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            policy = {"unknown_query_parameter": _error_value(
                UnknownQueryParameter, parameters=["colour"], allowed=[])}
            if op.get("requestBody"):
                policy["invalid_characters"] = _error_value(InvalidCharacters, field="metadata.note")
                policy["nesting_too_deep"] = _error_value(NestingTooDeep, max_depth=32)
                _add_error(op, "413", {"payload_too_large": _error_value(PayloadTooLarge, max_bytes=1048576)})
            if any(p.get("name") in ("page", "page_size", "cursor") for p in op.get("parameters", [])):
                policy["invalid_paging"] = _error_value(InvalidPaging, parameter="page_size", max_page_size=100)
            _add_error(op, "400", policy)
            if "HealthReport" in str(op["responses"].get("503", "")):
                continue  # /health/ answers its report, never an error body
            _add_error(op, "503", {"service_unavailable": {"summary": "service_unavailable: a dependency is down "
                                                           "(Retry-After says when to retry)",
                                                           "value": service_unavailable_body("database")}})
    return result
