"""The schema's `webhooks` section: every event type of the catalogue, its example valid
against its schema, the Standard Webhooks headers listed."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from jsonschema import Draft202012Validator

from phoenix.outbound.catalogue import EVENT_TYPES

pytestmark = pytest.mark.django_db


def test_every_event_type_is_a_documented_webhook_with_a_valid_example():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    webhooks = json.loads(out.getvalue())["webhooks"]
    assert set(webhooks) == set(EVENT_TYPES)
    for name, item in webhooks.items():
        operation = item["post"]
        assert {p["name"] for p in operation["parameters"]} == {"webhook-id", "webhook-timestamp",
                                                                 "webhook-signature"}
        media = operation["requestBody"]["content"]["application/json"]
        (example,) = media["examples"].values()
        errors = list(Draft202012Validator(media["schema"]).iter_errors(example["value"]))
        assert errors == [], (name, errors)
        assert set(media["schema"]["properties"]["data"]["required"]) == set(EVENT_TYPES[name].fields)
        assert set(example["value"]["data"]) == set(EVENT_TYPES[name].fields)
