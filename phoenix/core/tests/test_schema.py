"""The OpenAPI schema a satellite developer reads in Swagger UI: valid, with examples everywhere.

The schema is generated as `manage.py spectacular --validate --fail-on-warn` does it, then walked:
every operation has a request example (when it takes a body) and a response example for every
answer with a body, each example matches its schema, every operation a satellite may call lists
the ApiKeyAuth scheme, and no component name or text leaks an internal name.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from drf_spectacular.generators import EndpointEnumerator
from jsonschema import Draft7Validator, FormatChecker

from phoenix.core.openapi import API_KEY_SCHEME, accepts_api_key

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict[str, Any]:
    out = io.StringIO()
    with django_db_blocker.unblock():
        # --fail-on-warn: any generator warning or validation error fails the command.
        call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    return json.loads(out.getvalue())


def operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def json_schema(node):
    """OpenAPI 3.0 schema -> JSON Schema: `nullable` becomes a null type."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        out = {**out, "type": [out["type"], "null"]} if "type" in out else {"anyOf": [out, {"type": "null"}]}
    return out


def example_errors(schema, media: dict) -> list[str]:
    components = json_schema(schema["components"])
    validator = Draft7Validator({"allOf": [json_schema(media["schema"])], "components": components},
                                format_checker=FormatChecker())
    return [f"{name}: {error.message}" for name, example in media.get("examples", {}).items()
            for error in validator.iter_errors(example["value"])]


def test_the_schema_validates_without_warnings(schema):
    assert schema["openapi"].startswith("3.")
    assert len(list(operations(schema))) >= 43


def test_every_operation_has_request_and_response_examples(schema):
    missing = []
    for name, op in operations(schema):
        body = op.get("requestBody")
        if body and not all(media.get("examples") for media in body["content"].values()):
            missing.append(f"{name}: request")
        answers = {code: r for code, r in op["responses"].items() if r.get("content")}
        assert any(code.startswith("2") for code in op["responses"]), name
        for code, response in answers.items():
            if not all(media.get("examples") for media in response["content"].values()):
                missing.append(f"{name}: {code}")
        has_success_example = any(media.get("examples") for code, r in answers.items() if code.startswith("2")
                                  for media in r["content"].values())
        no_success_body = all(not r.get("content") for code, r in op["responses"].items() if code.startswith("2"))
        if not (has_success_example or no_success_body):
            missing.append(f"{name}: success")
    assert not missing, missing


def test_every_example_matches_its_schema(schema):
    wrong = []
    for name, op in operations(schema):
        contents = [("request", op.get("requestBody", {}).get("content", {}))]
        contents += [(code, r.get("content", {})) for code, r in op["responses"].items()]
        for where, content in contents:
            for media in content.values():
                wrong += [f"{name} {where} {error}" for error in example_errors(schema, media)]
    assert not wrong, wrong


def test_error_examples_are_error_bodies(schema):
    for name, op in operations(schema):
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")) and "HealthReport" not in json.dumps(response):
                for example in response["content"]["application/json"]["examples"].values():
                    value = example["value"]
                    assert set(value) >= {"error", "detail"}, (name, code, value)
                    assert value["error"] in response["description"], (name, code, value["error"])


def test_every_operation_a_satellite_may_call_lists_api_key_auth(schema):
    ops = dict(operations(schema))
    satellite_ops, seen = set(), set()
    for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints():
        name = f"{method} {path}"
        if name not in ops:  # the schema and docs views themselves
            continue
        seen.add(name)
        security = [next(iter(requirement), None) for requirement in ops[name].get("security", [])]
        if accepts_api_key(callback.cls.permission_classes):
            satellite_ops.add(name)
            assert API_KEY_SCHEME in security and "tokenAuth" in security, name
        else:
            assert API_KEY_SCHEME not in security, name
    assert seen == set(ops)
    assert {"POST /luna/energy/consume", "GET /subscriptions/access/{user_id}", "POST /billing/checkout",
            "POST /luna/energy/purchase", "POST /subscriptions/cancel"} <= satellite_ops
    assert "POST /pro/licenses/purchase" not in satellite_ops
    assert API_KEY_SCHEME in schema["components"]["securitySchemes"]


def test_idempotency_key_header_wherever_the_body_takes_a_key(schema):
    for name, op in operations(schema):
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        ref = body.get("$ref", "").rpartition("/")[2]
        fields = schema["components"]["schemas"].get(ref, {}).get("properties", {})
        assert ("idempotency_key" in fields) <= ("Idempotency-Key" in headers), name
    header = next(p for p in schema["paths"]["/luna/energy/consume"]["post"]["parameters"]
                  if p["name"] == "Idempotency-Key")
    assert "must be equal" in header["description"]


def test_metadata_is_an_object(schema):
    components = schema["components"]["schemas"]
    for component in ("ConsumeRequest", "FreezeRequest", "CommitRequest", "EventRequest", "UsageEvent"):
        assert components[component]["properties"]["metadata"]["type"] == "object", component


def test_names_and_texts_are_tidy(schema):
    assert not [name for name in schema["components"]["schemas"] if name.endswith("RequestRequest")]
    text = json.dumps(schema, ensure_ascii=False)
    for leak in ("§", "DESIGN"):
        assert leak not in text
    # The error shape is a markdown code span (Swagger UI would read a bare <code> as an HTML tag).
    assert '`{"error": "<code>", "detail": "<text>", ...}`' in schema["info"]["description"]


def test_the_rules_are_stated(schema):
    paths = schema["paths"]
    assert "must send the `user_id`" in paths["/luna/energy/consume"]["post"]["description"]
    assert "exactly one of `transaction_id`" in paths["/luna/energy/refund"]["post"]["description"]
    assert "at least 8 characters" in paths["/auth/register"]["post"]["description"]
