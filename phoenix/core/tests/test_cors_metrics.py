"""CORS (django-cors-headers from the environment) and who may read /metrics."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from phoenix.core import metrics

pytestmark = pytest.mark.django_db

SITE = "https://www.example.com"


def _preflight(client: Client, origin: str):
    return client.options("/luna/energy/consume", HTTP_ORIGIN=origin,
                          HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                          HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type,idempotency-key")


def test_a_preflight_from_an_allowed_origin_is_answered(settings):
    settings.CORS_ALLOWED_ORIGINS = [SITE]
    response = _preflight(Client(), SITE)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "POST" in response["Access-Control-Allow-Methods"]
    allowed = response["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= set(allowed.split(", "))
    assert "Access-Control-Allow-Credentials" not in response  # no cookies cross-origin by default
    # The real request from that origin carries the header too, and exposes the replay header.
    answer = Client().post("/luna/energy/check", {}, content_type="application/json", HTTP_ORIGIN=SITE)
    assert answer.status_code == 401 and answer["Access-Control-Allow-Origin"] == SITE
    assert "Idempotent-Replayed" in answer["Access-Control-Expose-Headers"]


def test_a_preflight_from_another_origin_is_refused(settings):
    settings.CORS_ALLOWED_ORIGINS = [SITE]
    for origin in ("https://evil.example.net", "http://www.example.com", "https://www.example.com.evil.net"):
        response = _preflight(Client(), origin)
        assert "Access-Control-Allow-Origin" not in response, origin


def test_nothing_is_allowed_by_default():
    response = _preflight(Client(), SITE)
    assert "Access-Control-Allow-Origin" not in response


def test_credentials_are_allowed_only_when_configured(settings):
    settings.CORS_ALLOWED_ORIGINS = [SITE]
    settings.CORS_ALLOW_CREDENTIALS = True
    assert _preflight(Client(), SITE)["Access-Control-Allow-Credentials"] == "true"


def test_metrics_refuses_without_the_token_and_answers_with_it(settings):
    settings.METRICS_TOKEN = "scrape-" + "s3cr3t" * 6
    client = Client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {settings.METRICS_TOKEN}").status_code == 403
    answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/plain")
    body = answer.content.decode()
    assert "# TYPE phoenix_energy_operations_total counter" in body
    assert "phoenix_holds_pending 0.0" in body  # a scrape-time gauge, read from the database
    assert "django_http_requests_total_by_method_total" in body  # django-prometheus' basics


def test_metrics_is_refused_to_everyone_by_default(settings):
    assert not settings.METRICS_TOKEN and not settings.METRICS_ALLOW_LOOPBACK
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_metrics_on_the_loopback_only_when_allowed_and_not_proxied(settings):
    settings.METRICS_ALLOW_LOOPBACK = True
    client = Client()
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.8").status_code == 403
    # A local reverse proxy makes every client look local: a forwarded request is not one.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_job_runs_are_counted_by_outcome_with_their_duration():
    before_ok = _sample("phoenix_job_runs_total", job="demo.job", outcome="ok")
    before_skip = _sample("phoenix_job_runs_total", job="demo.job", outcome="skipped_locked")
    before_failed = _sample("phoenix_job_runs_total", job="demo.job", outcome="failed")
    base = {"job": "demo.job", "dry_run": False}
    metrics.job_run_observe(job="demo.job", summary={**base, "skipped_locked": False}, seconds=0.2, failed=False)
    metrics.job_run_observe(job="demo.job", summary={**base, "skipped_locked": True}, seconds=0.01, failed=False)
    metrics.job_run_observe(job="demo.job", summary=None, seconds=1.0, failed=True)
    metrics.job_run_observe(job="not.a.job", summary="text", seconds=1.0, failed=False)  # not a JobReport
    assert _sample("phoenix_job_runs_total", job="demo.job", outcome="ok") == before_ok + 1
    assert _sample("phoenix_job_runs_total", job="demo.job", outcome="skipped_locked") == before_skip + 1
    assert _sample("phoenix_job_runs_total", job="demo.job", outcome="failed") == before_failed + 1
    assert _sample("phoenix_job_runs_total", job="not.a.job", outcome="ok") == 0
    assert _sample("phoenix_job_duration_seconds_count", job="demo.job") >= 3
    assert _sample("phoenix_job_last_success_timestamp_seconds", job="demo.job") > 0
