"""The endpoint registry: URL rule (no SSRF), event types, the command that prints the
secret once, the audited admin actions."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from phoenix.core.models import AdminAction
from phoenix.outbound.errors import InvalidEndpoint, InvalidEndpointUrl, UnknownEventType
from phoenix.outbound.models import URL_MAX_LENGTH, Delivery, DeliveryStatus, Endpoint
from phoenix.outbound.outbox import emit
from phoenix.outbound.services.endpoints import endpoint_create, endpoint_url_check
from phoenix.outbound.tests.conftest import deliver_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict(settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False


@pytest.mark.parametrize("url,reason", [
    ("ftp://93.184.216.34/hook", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("http://93.184.216.34/hook", "https_required"),
    ("https://10.0.0.5/hook", "private_address"),
    ("https://192.168.1.1/hook", "private_address"),
    ("https://127.0.0.1/hook", "private_address"),
    ("https://[::1]/hook", "private_address"),
    ("https://169.254.169.254/latest/meta-data", "private_address"),
    ("https://localhost/hook", "private_address"),
    ("https://user:pw@93.184.216.34/hook", "credentials"),
    ("https:///hook", "host_required"),
    ("https://93.184.216.34/" + "a" * URL_MAX_LENGTH, "too_long"),
    ("", "required"),
])
def test_urls_refused_with_a_reason(strict, url, reason):
    with pytest.raises(InvalidEndpointUrl) as raised:
        endpoint_create(url=url, event_types=["wallet.credited"])
    assert raised.value.as_dict()["reason"] == reason
    assert raised.value.as_dict()["error"] == "invalid_endpoint_url" and raised.value.status_code == 400
    assert Endpoint.objects.count() == 0


def test_a_public_https_url_is_accepted(strict):
    assert endpoint_url_check("https://93.184.216.34/hooks?x=1") == "https://93.184.216.34/hooks?x=1"


def test_development_settings_allow_http_and_loopback(settings):
    settings.WEBHOOK_ALLOW_HTTP = settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    assert endpoint_url_check("http://127.0.0.1:8123/h") == "http://127.0.0.1:8123/h"


def test_a_delivery_to_an_address_that_became_private_is_refused(receiver, endpoint, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with transaction.atomic():
        emit(type="wallet.credited", subject="user:1", body={"user_id": 1})
    (attempt,) = deliver_due()
    assert attempt.error.startswith("refused:") and receiver.requests_seen == 0


@pytest.mark.parametrize("event_types", [[], "wallet.credited", ["wallet.credited", "wallet.exploded"],
                                         ["webhook.test"]])
def test_unknown_or_missing_event_types_are_refused(event_types):
    with pytest.raises((UnknownEventType, InvalidEndpoint)) as raised:
        endpoint_create(url="https://93.184.216.34/h", event_types=event_types)
    assert raised.value.code in ("unknown_event_type", "invalid_endpoint")


def test_emit_of_an_unknown_type_is_refused():
    with pytest.raises(UnknownEventType) as raised:
        emit(type="wallet.exploded", subject="user:1", body={})
    assert raised.value.as_dict()["event_type"] == "wallet.exploded"


def test_the_command_prints_the_secret_once_and_it_signs():
    out = io.StringIO()
    call_command("webhook_endpoint_create", "--url", "https://93.184.216.34/hooks", "--events",
                 "wallet.credited,wallet.depleted", stdout=out)
    endpoint = Endpoint.objects.get()
    assert f"secret (shown once, store it in the receiver): {endpoint.secret}" in out.getvalue()
    assert endpoint.secret.startswith("whsec_") and endpoint.event_types == ["wallet.credited", "wallet.depleted"]
    Webhook(endpoint.secret)  # a valid Standard Webhooks secret


def test_the_command_refuses_bad_input_clearly():
    with pytest.raises(CommandError, match="unknown_event_type"):
        call_command("webhook_endpoint_create", "--url", "https://93.184.216.34/h", "--events", "nope")


def test_admin_create_is_audited_and_shows_the_secret_once(finance_client):
    url = reverse("admin:outbound_endpoint_operator_create")
    response = finance_client.post(url, {"url": "https://93.184.216.34/hooks", "event_types": ["wallet.credited"],
                                         "description": "letters", "reason": "ticket 12"}, follow=True)
    endpoint = Endpoint.objects.get()
    assert endpoint.secret in response.content.decode()
    action = AdminAction.objects.get(action="webhook_endpoint_create")
    assert action.target_id == str(endpoint.pk) and action.reason == "ticket 12"
    assert endpoint.secret not in str(action.after)
    page = finance_client.get(reverse("admin:outbound_endpoint_change", args=[endpoint.pk])).content.decode()
    assert endpoint.secret not in page


def test_admin_refuses_a_private_url_with_the_reason(finance_client, strict):
    response = finance_client.post(reverse("admin:outbound_endpoint_operator_create"), {
        "url": "https://10.1.2.3/h", "event_types": ["wallet.credited"], "reason": "x"})
    assert "invalid_endpoint_url" in response.content.decode() and Endpoint.objects.count() == 0


def test_admin_test_event_and_redeliver(finance_client, receiver, endpoint):
    finance_client.post(reverse("admin:outbound_endpoint_operator_test", args=[endpoint.pk]),
                        {"reason": "check", "message": "hello"})
    deliver_due()
    (test_event,) = receiver.of_type("webhook.test")
    assert test_event["data"] == {"endpoint_id": endpoint.pk, "message": "hello"}
    delivery = Delivery.objects.get()
    finance_client.post(reverse("admin:outbound_delivery_operator_redeliver", args=[delivery.pk]), {"reason": "again"})
    deliver_due()
    assert [r.webhook_id for r in receiver.received] == [test_event["id"]] * 2  # same webhook-id: receivers dedupe
    assert AdminAction.objects.filter(action__in=["webhook_send_test", "webhook_redeliver"]).count() == 2


def test_admin_redeliver_every_failed_event_of_an_endpoint(finance_client, receiver, endpoint):
    with transaction.atomic():
        emit(type="wallet.credited", subject="user:1", body={"user_id": 1})
        emit(type="wallet.credited", subject="user:1", body={"user_id": 1})
    Delivery.objects.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    finance_client.post(reverse("admin:outbound_endpoint_operator_redeliver-failed", args=[endpoint.pk]),
                        {"reason": "receiver fixed"})
    deliver_due()
    assert len(receiver.unique_ids()) == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_support_cannot_manage_endpoints(support_client):
    response = support_client.get(reverse("admin:outbound_endpoint_operator_create"))
    assert response.status_code == 403


def test_admin_change_starts_from_the_current_values_and_is_audited(finance_client, endpoint):
    url = reverse("admin:outbound_endpoint_operator_change", args=[endpoint.pk])
    assert endpoint.url in finance_client.get(url).content.decode()
    finance_client.post(url, {"url": endpoint.url, "event_types": ["wallet.depleted"], "description": "cv",
                              "balance_low_threshold": "5", "reason": "only depletion"})
    endpoint.refresh_from_db()
    assert (endpoint.event_types, endpoint.description, endpoint.balance_low_threshold) == (
        ["wallet.depleted"], "cv", 5)
    action = AdminAction.objects.get(action="webhook_endpoint_change")
    assert action.before["description"] == "letters" and action.after["event_types"] == ["wallet.depleted"]


def test_admin_rotate_shows_the_new_secret_once(finance_client, endpoint):
    old = endpoint.secret
    response = finance_client.post(reverse("admin:outbound_endpoint_operator_rotate", args=[endpoint.pk]),
                                   {"reason": "leaked"}, follow=True)
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert endpoint.secret in response.content.decode()
