"""Schemathesis over the whole schema (issue 14): generated requests to every operation,
with an end user's token and with a satellite's API key, in-process (WSGI) on the test
database; Stripe is the local Stripe-compatible server. Bounded (a few examples per
operation, derandomized). Every answer must be no server error and must match the schema
where its status is documented."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from rest_framework_api_key.models import APIKey
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

# Fixtures: Stripe is the local Stripe-compatible server.
from billing.tests.conftest import stripe_keys, stripe_server  # noqa: F401
from phoenix.accounts.services import user_register

EXAMPLES_PER_OPERATION = 8


def _schema() -> dict:
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(_schema())
schema.app = get_wsgi_application()


@pytest.fixture
def _same_connection():
    """As Django's test client does: the in-process requests keep the test's connection
    (and its transaction) instead of closing it at each request's start and end."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def principals(db, _same_connection, stripe_keys):  # noqa: F811
    user, token = user_register(email="fuzz@example.com", password="a-Long-fuzz-passphrase-42")
    _, key = APIKey.objects.create_key(name="fuzz satellite")
    assert Token.objects.filter(key=token).exists()
    return {"user": f"Token {token}", "satellite": f"Api-Key {key}"}


@pytest.mark.slow
@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_no_server_error_and_no_schema_breaking_answer(case, principals):
    for authorization in principals.values():
        case.call_and_validate(headers={"Authorization": authorization},
                               checks=[not_a_server_error, response_schema_conformance])
