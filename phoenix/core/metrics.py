"""Phoenix's own Prometheus metrics, and the scrape of them (``/metrics``).

The metric objects live here, one definition each; the apps increment them at their
boundaries (the /luna views, the ledger's commit, the webhook pipeline, the Stripe gateway,
the Celery job runs) so the domain code stays free of them. HTTP basics come from
django-prometheus' middleware.

Several processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn with several workers,
the Celery worker's children), prometheus_client writes each process's values into files of
that directory and the scrape adds them up (``MultiProcessCollector``). The directory must
exist, be empty when the service starts, and be the same for web and worker when the web's
``/metrics`` should show the worker's metrics too (the gunicorn config empties it).

Values read from the database at scrape time (pending holds, failed webhook events) are
gauges registered by their app with ``register_scrape_gauge``: one cheap query per scrape,
never a per-process copy that could disagree.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from phoenix.core.idempotency import REPLAY_HEADER

# --- The metric objects ------------------------------------------------------------------------

ENERGY_OPERATIONS = Counter(
    "phoenix_energy_operations_total",
    "Energy API operations (consume, freeze, commit, refund) by action and outcome "
    "(ok, idempotent_replay, insufficient_energy, error).",
    ["operation", "action", "outcome"],
)
ENERGY_DEBITED = Counter(
    "phoenix_energy_debited_total", "Energy units taken from balances (committed ledger rows), by source.",
    ["source"],
)
ENERGY_CREDITED = Counter(
    "phoenix_energy_credited_total", "Energy units added to balances (committed ledger rows), by source.",
    ["source"],
)
HOLDS_EXPIRED = Counter("phoenix_holds_expired_total", "Holds released by the expiry job past their deadline.")
WEBHOOK_EVENTS_RECEIVED = Counter(
    "phoenix_stripe_webhook_events_received_total", "Verified Stripe webhook deliveries, by event type.", ["type"],
)
WEBHOOK_EVENTS_PROCESSED = Counter(
    "phoenix_stripe_webhook_events_processed_total",
    "Stripe webhook deliveries that ended well, by event type and outcome (processed, ignored, duplicate).",
    ["type", "outcome"],
)
WEBHOOK_EVENTS_FAILED = Counter(
    "phoenix_stripe_webhook_events_failed_total", "Stripe webhook deliveries whose handlers raised, by event type.",
    ["type"],
)
WEBHOOK_PROCESSING_LAG = Histogram(
    "phoenix_stripe_webhook_processing_lag_seconds",
    "From the Stripe event's creation to the end of its processing, by event type.",
    ["type"], buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600),
)
JOB_RUNS = Counter(
    "phoenix_job_runs_total",
    "Scheduled job runs by job and outcome (ok, warning, critical, skipped_locked, failed).",
    ["job", "outcome"],
)
JOB_DURATION = Histogram(
    "phoenix_job_duration_seconds", "Duration of scheduled job runs, by job.", ["job"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
JOB_LAST_SUCCESS = Gauge(
    "phoenix_job_last_success_timestamp_seconds", "Unix time of the job's last run that did not fail.",
    ["job"], multiprocess_mode="max",
)
HEALTH_FINDINGS = Gauge(
    "phoenix_health_findings", "Findings of the last wallet health run, by severity (critical, warning).",
    ["severity"], multiprocess_mode="mostrecent",
)
RECONCILIATION_MISMATCHES = Gauge(
    "phoenix_reconciliation_mismatches", "Mismatches found by the last payment reconciliation run.",
    multiprocess_mode="mostrecent",
)
STRIPE_API_CALLS = Counter(
    "phoenix_stripe_api_calls_total",
    "Outbound Stripe API calls by operation and outcome (ok, unavailable, refused).", ["operation", "outcome"],
)
STRIPE_API_DURATION = Histogram(
    "phoenix_stripe_api_call_duration_seconds", "Latency of outbound Stripe API calls (retries included).",
    ["operation"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
OUTBOUND_DELIVERY_ATTEMPTS = Counter(
    "phoenix_outbound_delivery_attempts_total",
    "Outbound webhook delivery attempts by outcome (delivered, retry, failed, gone).", ["outcome"],
)
OUTBOUND_DELIVERY_DURATION = Histogram(
    "phoenix_outbound_delivery_duration_seconds", "Time a subscriber endpoint took to answer a delivery.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# --- Energy operations at the API boundary -----------------------------------------------------

OUTCOME_OK = "ok"
OUTCOME_REPLAY = "idempotent_replay"
OUTCOME_INSUFFICIENT = "insufficient_energy"
OUTCOME_ERROR = "error"


def count_energy_operation(operation: str, *, action_field: str | None = None):
    """Decorate a /luna view's ``post`` (outside ``@idempotent``) to count its outcome.

    The action label is the request's catalogue code only when the service accepted it
    (an answer or a 402), so a client sending random codes cannot grow the label set.
    """

    def decorator(method):
        @functools.wraps(method)
        def wrapper(view, request, *args: Any, **kwargs: Any):
            try:
                response = method(view, request, *args, **kwargs)
            except Exception as exc:
                outcome = OUTCOME_INSUFFICIENT if getattr(exc, "code", None) == OUTCOME_INSUFFICIENT else OUTCOME_ERROR
                _count(operation, request, action_field, outcome)
                raise
            if 200 <= response.status_code < 300:
                outcome = OUTCOME_REPLAY if response.headers.get(REPLAY_HEADER) == "true" else OUTCOME_OK
            else:
                outcome = OUTCOME_ERROR
            _count(operation, request, action_field, outcome)
            return response

        return wrapper

    return decorator


def _count(operation: str, request, action_field: str | None, outcome: str) -> None:
    action = ""
    if action_field and outcome != OUTCOME_ERROR and isinstance(request.data, dict):
        action = str(request.data.get(action_field) or "")
    ENERGY_OPERATIONS.labels(operation=operation, action=action, outcome=outcome).inc()


def count_energy_moved_on_commit(*, balance_sign: int, source: str, amount: int) -> None:
    """A ledger row changing the balance: counted once its transaction commits (a rolled
    back debit never happened)."""
    if balance_sign == 0 or amount == 0:
        return
    counter = ENERGY_CREDITED if balance_sign > 0 else ENERGY_DEBITED
    transaction.on_commit(functools.partial(counter.labels(source=source).inc, amount))


# --- Stripe calls, webhooks --------------------------------------------------------------------


@dataclass
class StripeCallTimer:
    """``with StripeCallTimer("payment_intent_create") as call: ...; call.outcome = "refused"``"""

    operation: str
    outcome: str = OUTCOME_OK

    def __enter__(self) -> StripeCallTimer:
        self._started = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        STRIPE_API_DURATION.labels(operation=self.operation).observe(time.perf_counter() - self._started)
        STRIPE_API_CALLS.labels(operation=self.operation, outcome=self.outcome).inc()


def webhook_event_type_label(event_type: str, handled: Iterable[str]) -> str:
    """Stripe's type when Phoenix handles it, else ``other``: a bounded label set."""
    return event_type if event_type in handled else "other"


# --- Job runs (Celery task signals) ------------------------------------------------------------


def job_run_observe(*, job: str, summary: Any, seconds: float, failed: bool) -> None:
    """Count a job run from its JobReport summary (``phoenix.core.jobs.JobReport.summary``).

    Tasks that do not return a summary are not jobs and are not counted here.
    """
    if failed:
        outcome = "failed"
    elif not isinstance(summary, dict) or "job" not in summary:
        return
    elif summary.get("skipped_locked"):
        outcome = "skipped_locked"
    elif summary.get("critical"):
        outcome = "critical"
    elif summary.get("warnings"):
        outcome = "warning"
    else:
        outcome = "ok"
    JOB_RUNS.labels(job=job, outcome=outcome).inc()
    JOB_DURATION.labels(job=job).observe(seconds)
    if outcome in ("failed", "skipped_locked"):
        return
    JOB_LAST_SUCCESS.labels(job=job).set(time.time())
    observe = _job_summary_observers.get(job)
    if observe and not summary.get("dry_run"):
        observe(summary)


_job_summary_observers: dict[str, Callable[[dict], None]] = {}


def register_job_summary_observer(job: str, observe: Callable[[dict], None]) -> None:
    """What an app's job summary says beyond its outcome (findings, expired holds), set on
    its metrics after each real run (registered in ``AppConfig.ready``)."""
    _job_summary_observers[job] = observe


_task_started: dict[str, float] = {}


def on_task_prerun(sender=None, task_id=None, **kwargs) -> None:
    _task_started[task_id] = time.perf_counter()


def on_task_postrun(sender=None, task_id=None, retval=None, state=None, **kwargs) -> None:
    started = _task_started.pop(task_id, None)
    if started is None or state == "RETRY":
        return
    job_run_observe(job=sender.name, summary=retval, seconds=time.perf_counter() - started,
                    failed=state == "FAILURE")


def on_worker_process_shutdown(pid=None, **kwargs) -> None:
    """A Celery child exits: its live gauges leave the multiprocess scrape."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid or os.getpid())


# --- Scrape-time gauges ------------------------------------------------------------------------


@dataclass(frozen=True)
class ScrapeGauge:
    name: str
    documentation: str
    read: Callable[[], float]


_scrape_gauges: dict[str, ScrapeGauge] = {}


def register_scrape_gauge(name: str, documentation: str, read: Callable[[], float]) -> None:
    """An app's gauge read from the database at each scrape (registered in ``AppConfig.ready``)."""
    _scrape_gauges[name] = ScrapeGauge(name=name, documentation=documentation, read=read)


class _ScrapeGaugeCollector:
    def collect(self):
        for gauge in _scrape_gauges.values():
            yield GaugeMetricFamily(gauge.name, gauge.documentation, value=gauge.read())


class _ProcessRegistryCollector:
    """The single-process registry, inside the per-scrape registry."""

    def collect(self):
        yield from REGISTRY.collect()


def metrics_exposition() -> tuple[bytes, str]:
    """The text exposition of every metric: all processes' when in multiprocess mode."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistryCollector())
    registry.register(_ScrapeGaugeCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


# --- Who may scrape ----------------------------------------------------------------------------


def metrics_request_allowed(request) -> bool:
    """``METRICS_TOKEN`` as a bearer token, or (``METRICS_ALLOW_LOOPBACK``) a direct
    loopback client. A request that came through a proxy (``X-Forwarded-For``) is never
    taken for a loopback one: a local reverse proxy would make every client look local."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    if settings.METRICS_ALLOW_LOOPBACK and "X-Forwarded-For" not in request.headers:
        try:
            return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
        except ValueError:
            return False
    return False
