"""Observability across the processes: /metrics under two gunicorn workers and a Celery
worker (Prometheus multiprocess mode), one trace from a request through PostgreSQL into
the Celery task it enqueued, and the consume path's statements with metrics on."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from billing import gateway
from billing.errors import StripeUnavailable
from billing.models import Payment
from billing.tests import factories as f
from billing.tests.conftest import make_buyer, packs, plans, stripe_keys, stripe_server  # noqa: F401 (fixtures)
from billing.tests.helpers import f_token, start_monthly
from phoenix.accounts.services import user_register
from phoenix.celery import app as celery_app
from phoenix.core import tracing
from tests.test_consume_round_trips import CONSUME_ROUND_TRIPS
from wallet.services import wallet_debit, wallet_freeze
from wallet.tasks import wallet_health_check
from wallet.tests.factories import hold_vanish, wallet_balance_drift

ROOT = Path(settings.BASE_DIR)
METRICS_TOKEN = "scrape-token-" + "q7Lm2xVb" * 4
BOOT_TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _service_env(multiproc_dir: Path) -> dict[str, str]:
    """The test database (committed data: transactional tests), a shared metrics dir."""
    database = urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}").geturl()
    return {**os.environ, "DATABASE_URL": database, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
            "METRICS_TOKEN": METRICS_TOKEN, "STRIPE_WEBHOOK_SECRET": f.WEBHOOK_SECRET,
            "LUNA_USER_THROTTLE_RATE": "100000/min", "LOG_LEVEL": "WARNING"}


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _metric(body: str, name: str, **labels: str) -> float:
    """A sample's value in the text exposition (0 when absent); labels match exactly."""
    total = 0.0
    for line in body.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(key) == value for key, value in labels.items()) and len(found) == len(labels):
            total += float(match.group(2))
    return total


@pytest.fixture
def services(tmp_path):
    """gunicorn with two workers and a Celery worker, sharing one multiprocess dir."""
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = _service_env(multiproc)
    port = _free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "phoenix.wsgi:application",
         "--config", "python:phoenix.core.gunicorn_config", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--no-control-socket", "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "phoenix", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while True:
            assert web.poll() is None, web.stderr.read().decode()[-3000:]
            try:
                if requests.get(f"{url}/metrics", timeout=10).status_code == 403:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer in time"
            time.sleep(0.3)
        yield url, multiproc
    finally:
        _stop(web)
        _stop(worker)


def _scrape(url: str) -> str:
    response = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_metrics_under_two_gunicorn_workers_and_the_celery_worker(services):
    url, multiproc = services
    rich, rich_token = user_register(email="rich@example.com", password="Str0ng-pass-phrase!")
    poor, poor_token = user_register(email="poor@example.com", password="Str0ng-pass-phrase!")
    wallet_debit(user=poor, amount=poor.wallet.balance, source="admin", reason="empty it for the 402")

    assert requests.get(f"{url}/metrics", timeout=10).status_code == 403
    assert requests.get(f"{url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 403

    consumes, errors = 6, []

    def consume(index: int) -> None:
        try:
            answer = requests.post(f"{url}/luna/energy/consume", json={"action": "conseil_rapide"},
                                   headers={"Authorization": f"Token {rich_token}"}, timeout=60)
            assert answer.status_code == 200, answer.text
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(consumes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    refused = requests.post(f"{url}/luna/energy/consume", json={"action": "conseil_rapide"},
                            headers={"Authorization": f"Token {poor_token}"}, timeout=60)
    assert refused.status_code == 402
    hold = requests.post(f"{url}/luna/energy/freeze", json={"action": "conseil_rapide", "ttl_seconds": 1},
                         headers={"Authorization": f"Token {rich_token}"}, timeout=60)
    assert hold.status_code == 201, hold.text

    session = f.checkout_session(metadata={"source": "someone else's"})  # not Phoenix's: processed, no effect
    body = f.encode(f.event("checkout.session.completed", session))
    webhook = requests.post(f"{url}/stripe/webhook/", data=body, timeout=60, headers={
        "Content-Type": "application/json", "Stripe-Signature": f.signature_header(body)})
    assert webhook.status_code == 200, webhook.text

    before_job = _scrape(url)
    assert _metric(before_job, "phoenix_holds_pending") == 1
    time.sleep(1.5)  # the hold's deadline passes: the expiry job releases it
    summary = celery_app.send_task("wallet.expire_holds").get(timeout=BOOT_TIMEOUT_S)
    assert summary["expired"] == 1

    # Celery stores the task's result before its task_postrun signal (where the worker counts
    # the run) has run: on a loaded machine the first scrape after .get() may come too early.
    deadline = time.monotonic() + 30
    body = _scrape(url)
    while (_metric(body, "phoenix_job_runs_total", job="wallet.expire_holds", outcome="ok") == 0
           and time.monotonic() < deadline):
        time.sleep(0.2)
        body = _scrape(url)
    assert _metric(body, "phoenix_energy_operations_total", operation="consume", action="conseil_rapide",
                   outcome="ok") == consumes
    assert _metric(body, "phoenix_energy_operations_total", operation="consume", action="conseil_rapide",
                   outcome="insufficient_energy") == 1
    assert _metric(body, "phoenix_energy_operations_total", operation="freeze", action="conseil_rapide",
                   outcome="ok") == 1
    assert _metric(body, "phoenix_energy_debited_total", source="api") == consumes * 5
    assert _metric(body, "phoenix_stripe_webhook_events_received_total", type="checkout.session.completed") == 1
    assert _metric(body, "phoenix_stripe_webhook_events_processed_total", type="checkout.session.completed",
                   outcome="processed") == 1
    assert _metric(body, "phoenix_stripe_webhook_processing_lag_seconds_count",
                   type="checkout.session.completed") == 1
    assert _metric(body, "phoenix_stripe_webhook_events_failed_total", type="checkout.session.completed") == 0
    # The job ran in the Celery worker process; the web's scrape shows it.
    assert _metric(body, "phoenix_job_runs_total", job="wallet.expire_holds", outcome="ok") == 1
    assert _metric(body, "phoenix_job_duration_seconds_count", job="wallet.expire_holds") == 1
    assert _metric(body, "phoenix_holds_expired_total") == 1
    assert _metric(body, "phoenix_holds_pending") == 0
    # Each process wrote its own file: both gunicorn workers served requests, the worker ran the job.
    pids = {p.stem.rsplit("_", 1)[-1] for p in multiproc.glob("counter_*.db")}
    assert len(pids) >= 3, pids
    assert _metric(body, "django_http_requests_total_by_view_transport_method_total",
                   view="luna-energy-consume", transport="http", method="POST") == consumes + 1


# --- Traces --------------------------------------------------------------------------------------


@pytest.fixture
def spans():
    """Tracing on, into memory, for this test only."""
    exporter = InMemorySpanExporter()
    tracing.tracing_configure(exporter=exporter)
    connection.close()  # the next connection is made through the instrumented psycopg
    try:
        yield exporter
    finally:
        tracing.tracing_uninstrument()
        connection.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_one_trace_from_the_request_through_sql_into_the_enqueued_celery_task(
        spans, stripe_keys, packs, plans, caplog):  # noqa: F811 (fixtures imported above)
    # Whatever an earlier test left of the logging levels, the request's INFO lines reach caplog.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="django_structlog")
    client = Client()
    buyer = make_buyer()
    _, subscription, _ = start_monthly(client, stripe_keys, buyer)
    response = f_token(buyer).post("/billing/checkout", {"product": "luna_lifetime"}, format="json")
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(public_id=response.json()["payment_id"])
    session = stripe_keys.complete_session(payment.stripe_checkout_session_id)
    event = f.event("checkout.session.completed", session)
    # The request's log lines carry its trace id as their request id (checked before the
    # worker starts: Celery's worker set-up takes over the logging handlers).
    checkout_traces = {format(s.context.trace_id, "032x") for s in spans.get_finished_spans()
                       if s.name == "POST billing/checkout"}
    logged = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "request_finished"
              and r.msg.get("request") == "POST /billing/checkout"]
    assert len(checkout_traces) == 2 and {line["request_id"] for line in logged} == checkout_traces
    assert all(line["trace_id"] == line["request_id"] for line in logged)

    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        spans.clear()
        # Lifetime bought over the monthly plan: the webhook enqueues the plan's cancellation.
        assert f.post_event(Client(), event).status_code == 200
        deadline = time.monotonic() + 120
        while stripe_keys.subscriptions[subscription["id"]]["status"] != "canceled":
            assert time.monotonic() < deadline, "the worker did not cancel the subscription"
            time.sleep(0.2)
        deadline = time.monotonic() + 30
        while not any(s.name.startswith("run/") for s in spans.get_finished_spans()):
            assert time.monotonic() < deadline
            time.sleep(0.1)

    finished = spans.get_finished_spans()
    view = next(s for s in finished if s.kind == SpanKind.SERVER and "stripe/webhook" in s.name)
    trace_id = view.context.trace_id
    in_trace = [s for s in finished if s.context.trace_id == trace_id]
    sql = [s for s in in_trace if s.attributes.get("db.system") == "postgresql"
           or s.attributes.get("db.system.name") == "postgresql"]
    published = [s for s in in_trace if s.name == "apply_async/billing.cancel_stripe_subscription"]
    ran = [s for s in in_trace if s.name == "run/billing.cancel_stripe_subscription"]
    stripe_calls = [s for s in in_trace if s.kind == SpanKind.CLIENT and s.attributes.get("http.request.method",
                    s.attributes.get("http.method")) == "DELETE"]
    assert len(sql) >= 5, [s.name for s in in_trace]
    assert all(s.parent is not None for s in sql)
    assert len(published) == 1 and len(ran) == 1, [s.name for s in finished]
    assert ran[0].parent.span_id == published[0].context.span_id  # continued in the worker from the headers
    assert stripe_calls and stripe_calls[0].parent.span_id == ran[0].context.span_id  # the outbound Stripe call
    assert {s.context.trace_id for s in sql + published + ran + stripe_calls} == {trace_id}
    assert _sample("phoenix_stripe_api_calls_total", operation="subscription_cancel", outcome="ok") >= 1


# --- The consume path's cost ---------------------------------------------------------------------

# A warm consume with a key-less request, inside the test's transaction (the service's
# SAVEPOINT/RELEASE stand for production's BEGIN/COMMIT: the same count, listed in
# tests/test_consume_round_trips.py). The metrics issue no SQL: the same count with
# django-prometheus' middlewares removed, and phoenix's counters only touch process memory
# (or the multiprocess files).
CONSUME_STATEMENTS = CONSUME_ROUND_TRIPS


def _consume_statements(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.post("/luna/energy/consume", {"action": "conseil_rapide"}, format="json").status_code == 200
    return len(captured.captured_queries)


@pytest.mark.django_db
def test_metrics_add_no_statements_to_the_consume_path(user_client):
    _consume_statements(user_client)  # warm: the catalogue and the unlimited check are cached
    with_metrics = _consume_statements(user_client)
    plain = [m for m in settings.MIDDLEWARE if not m.startswith("django_prometheus.")]
    with override_settings(MIDDLEWARE=plain):
        without_http_metrics = _consume_statements(user_client)
    assert (with_metrics, without_http_metrics) == (CONSUME_STATEMENTS, CONSUME_STATEMENTS)


# --- Job summaries and Stripe calls, in-process -------------------------------------------------


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_a_health_run_sets_the_findings_by_severity_and_its_outcome():
    critical_runs = _sample("phoenix_job_runs_total", job="wallet.health_check", outcome="critical")
    first, _ = user_register(email="drift@example.com", password="Str0ng-pass-phrase!")
    second, _ = user_register(email="vanish@example.com", password="Str0ng-pass-phrase!")
    wallet_balance_drift(first.wallet, delta=7)  # CRITICAL twice: against its ledger and its lots
    wallet_freeze(user=second, amount=10, action_code="mirror_match", ttl_seconds=300)
    hold_vanish(second.wallet)  # WARNING
    summary = wallet_health_check.apply().get()  # through Celery's task signals, as in the worker
    assert (summary["critical"], summary["warnings"]) == (2, 1)
    assert _sample("phoenix_job_runs_total", job="wallet.health_check", outcome="critical") == critical_runs + 1
    assert _sample("phoenix_health_findings", severity="critical") == 2
    assert _sample("phoenix_health_findings", severity="warning") == 1


@pytest.mark.django_db
def test_an_unreachable_stripe_is_counted_as_unavailable(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_" + "x" * 24
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    before = _sample("phoenix_stripe_api_calls_total", operation="payment_intent_retrieve", outcome="unavailable")
    with pytest.raises(StripeUnavailable):
        gateway.payment_intent_retrieve(payment_intent_id="pi_123")
    assert _sample("phoenix_stripe_api_calls_total", operation="payment_intent_retrieve",
                   outcome="unavailable") == before + 1
    assert _sample("phoenix_stripe_api_call_duration_seconds_count", operation="payment_intent_retrieve") >= 1


@pytest.mark.django_db
def test_consume_outcomes_replay_and_error_with_a_bounded_action_label(user_client):
    labels = {"operation": "consume", "action": "conseil_rapide"}
    ok, replay = _sample("phoenix_energy_operations_total", **labels, outcome="ok"), _sample(
        "phoenix_energy_operations_total", **labels, outcome="idempotent_replay")
    errors = _sample("phoenix_energy_operations_total", operation="consume", action="", outcome="error")
    for _ in range(2):
        answer = user_client.post("/luna/energy/consume", {"action": "conseil_rapide"}, format="json",
                                  HTTP_IDEMPOTENCY_KEY="retry-1")
        assert answer.status_code == 200
    assert answer["Idempotent-Replayed"] == "true"
    refused = user_client.post("/luna/energy/consume", {"action": "no-such-action-" + "x" * 20}, format="json")
    assert refused.status_code in (400, 404)
    assert _sample("phoenix_energy_operations_total", **labels, outcome="ok") == ok + 1
    assert _sample("phoenix_energy_operations_total", **labels, outcome="idempotent_replay") == replay + 1
    assert _sample("phoenix_energy_operations_total", operation="consume", action="", outcome="error") == errors + 1
    assert _sample("phoenix_energy_operations_total", operation="consume", action="no-such-action-" + "x" * 20,
                   outcome="error") == 0
