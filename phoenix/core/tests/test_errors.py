"""Every error kind the API can give comes out as {"error", "detail", ...}."""

import pytest
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.urls("phoenix.core.tests.error_urls")]


def assert_error_shape(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def test_validation_error(api_client):
    body = assert_error_shape(api_client.post("/auth/login", {}, format="json"), 400, "validation_error")
    assert set(body["fields"]) == {"email", "password"}


def test_malformed_json(api_client):
    response = api_client.post("/auth/login", "{not json", content_type="application/json")
    assert_error_shape(response, 400, "malformed_request")


def test_unsupported_media_type(api_client):
    response = api_client.post("/auth/login", "email=a", content_type="application/x-www-form-urlencoded")
    assert_error_shape(response, 415, "unsupported_media_type")


def test_401(api_client):
    assert_error_shape(api_client.get("/auth/profile"), 401, "not_authenticated")


def test_403(api_client):
    assert_error_shape(api_client.get("/test/forbidden"), 403, "permission_denied")


def test_404_unknown_url(api_client):
    assert_error_shape(api_client.get("/no/such/path"), 404, "not_found")


def test_405(api_client):
    assert_error_shape(api_client.get("/auth/login"), 405, "method_not_allowed")


def test_429(api_client):
    for _ in range(5):
        api_client.post("/auth/login", {"email": "a@example.com", "password": "x"}, format="json")
    body = assert_error_shape(
        api_client.post("/auth/login", {"email": "a@example.com", "password": "x"}, format="json"),
        429, "throttled",
    )
    assert body["retry_after"] > 0


def test_500_is_logged_and_hidden():
    client = APIClient(raise_request_exception=False)
    body = assert_error_shape(client.get("/test/crash"), 500, "server_error")
    assert "boom" not in body["detail"]


def test_domain_error_keeps_its_extra_fields(api_client):
    body = assert_error_shape(api_client.get("/test/domain"), 409, "already_done")
    assert body == {"error": "already_done", "detail": "Already done.", "hold_id": 7}
