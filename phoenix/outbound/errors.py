"""Errors of the outbound webhooks (registry, emit)."""

from phoenix.core.errors import NotFoundError, PhoenixError


class WebhookError(PhoenixError):
    code = "webhook_error"


class InvalidEndpointUrl(WebhookError):
    code = "invalid_endpoint_url"
    default_detail = "The endpoint URL is not allowed."


class UnknownEventType(WebhookError):
    code = "unknown_event_type"
    default_detail = "Unknown webhook event type."


class InvalidEndpoint(WebhookError):
    code = "invalid_endpoint"
    default_detail = "The endpoint has invalid fields."


class EndpointNotFound(NotFoundError):
    code = "endpoint_not_found"
    default_detail = "No such webhook endpoint."
