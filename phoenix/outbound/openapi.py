"""The OpenAPI schema's `webhooks` section (SPECTACULAR_SETTINGS["WEBHOOKS"]): one entry per
event type of the catalogue, the POST a subscriber receives, with its headers and body."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiWebhook

from phoenix.outbound.catalogue import EVENT_TYPES, EventType, envelope

_HEADERS = [
    ("webhook-id", "The event id: the same on every retry and for every endpoint; de-duplicate on it."),
    ("webhook-timestamp", "Unix seconds of this attempt (refuse one more than 5 minutes off)."),
    ("webhook-signature", ("`v1,<base64 HMAC-SHA256>` per valid secret, space-separated (two during a "
                           "key rotation); verify with the `standardwebhooks` library and the endpoint's "
                           "`whsec_` secret.")),
]


def _json_type(spec: str) -> dict:
    kinds = spec.split("|")  # "integer|null": OpenAPI 3.1 writes a nullable field as a type list
    return {"type": kinds[0] if len(kinds) == 1 else kinds}


def _schema(event: EventType) -> dict:
    data = {"type": "object", "required": list(event.fields),
            "properties": {name: {**_json_type(kind), "description": text}
                           for name, (kind, text) in event.fields.items()}}
    return {"type": "object", "required": ["id", "type", "timestamp", "subject", "sequence", "data"],
            "properties": {
                "id": {"type": "string", "format": "uuid", "description": "Equals the webhook-id header."},
                "type": {"type": "string", "enum": [event.name]},
                "timestamp": {"type": "string", "format": "date-time", "description": "When the change happened."},
                "subject": {"type": "string",
                            "description": "user:<id>, pro_account:<uuid> (endpoint:<id> for tests)."},
                "sequence": {"type": "integer", "description": "Increases per subject: drop one older than the "
                                                                "last you applied."},
                "data": data,
            }}


def _webhook(event: EventType) -> OpenApiWebhook:
    example = envelope(event_id="3f1c2b8e-9a47-4d2e-8b61-0c5e7d9f1a23", type=event.name,
                       timestamp="2026-12-01T10:00:00+00:00", subject=f"{event.subject}:42", sequence=7,
                       data=event.example)
    operation = {
        "operationId": "webhook_" + event.name.replace(".", "_"),
        "summary": event.name,
        "description": event.summary,
        "tags": ["webhooks"],
        "parameters": [{"name": name, "in": "header", "required": True, "schema": {"type": "string"},
                        "description": text} for name, text in _HEADERS],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": _schema(event), "examples": {event.name: {"value": example}}}}},
        "responses": {
            "200": {"description": "Received: any 2xx within WEBHOOK_TIMEOUT_SECONDS ends the retries."},
            "410": {"description": "Gone: the endpoint is disabled at once, nothing more is sent."},
        },
    }
    return OpenApiWebhook(name=event.name, decorator={"post": operation})


WEBHOOKS = [_webhook(event) for event in EVENT_TYPES.values()]
