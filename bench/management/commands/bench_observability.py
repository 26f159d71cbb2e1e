"""`manage.py bench_observability`: what metrics and tracing cost on POST /luna/energy/consume.

In-process (Django's test client, one thread, no network: the difference between the modes
is not drowned in socket noise), in bench_luna's throw-away database (full schema, dropped
at the end). The modes run in interleaved rounds so a change of machine load hits them all:

- ``shipped``: as configured (django-prometheus' middlewares, Phoenix's counters, tracing off);
- ``no-http-metrics``: django-prometheus' middlewares removed (Phoenix's counters stay);
- then, once, ``tracing-on``: OpenTelemetry installed with an in-memory exporter (it cannot
  be removed from a process afterwards, so it runs last).

Per mode: microseconds per request (median and p90 of the rounds' means) and SQL statements
per request, which must be the same in every mode. Phoenix's own counter increments on the
consume path are also timed alone. Run with ``PROMETHEUS_MULTIPROC_DIR`` set to measure the
multiprocess (file-backed) values gunicorn uses.
"""

from __future__ import annotations

import os
import statistics
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench.ledgers import load_average
from bench.management.commands.bench_luna import FUNDING, LunaBenchDatabase
from phoenix.accounts.services import user_register
from phoenix.core import metrics, tracing
from wallet.services import wallet_credit

PATH, BODY = "/luna/energy/consume", {"action": "conseil_rapide"}


def _plain_middleware() -> list[str]:
    return [m for m in settings.MIDDLEWARE if not m.startswith("django_prometheus.")]


class Command(BaseCommand):
    help = "Time per consume request and statements with metrics on / off and tracing off / on (in-process)."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--rounds", type=int, default=5, help="Interleaved rounds per mode.")
        parser.add_argument("--requests", type=int, default=200, help="Consumes per round and mode.")

    def handle(self, *args, rounds, requests, **options):
        out = self.stdout.write
        if requests < 1 or rounds < 1:
            raise CommandError("--rounds and --requests must be positive")
        started = time.perf_counter()
        multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        out(f"cores: {os.cpu_count()}  load average (1/5/15 min) at start: {load_average()}")
        out(f"prometheus values: {'multiprocess files in ' + multiproc if multiproc else 'in process memory'}")
        with override_settings(LUNA_USER_THROTTLE_RATE="100000000/min", ALLOWED_HOSTS=["localhost"]), \
                LunaBenchDatabase() as database:
            out(f"database: {database.name} (migrated for this run, dropped at the end)")
            user, token = user_register(email="bench-obs@bench.invalid", password="bench-Password-123456")
            wallet_credit(user=user, amount=FUNDING, source="admin", reason="bench funding")
            modes = {"shipped": settings.MIDDLEWARE, "no-http-metrics": _plain_middleware()}
            means: dict[str, list[float]] = {mode: [] for mode in modes}
            statements: dict[str, int] = {}
            for _round in range(rounds):
                for mode, middleware in modes.items():
                    with override_settings(MIDDLEWARE=middleware):
                        client = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Token {token}")
                        statements[mode] = self._statements(client)
                        means[mode].append(self._mean_us(client, requests))
            tracing.tracing_configure(exporter=(exporter := InMemorySpanExporter()))
            connection.close()  # reconnect through the instrumented psycopg
            client = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Token {token}")
            statements["tracing-on"] = self._statements(client)
            exporter.clear()
            means["tracing-on"] = [self._mean_us(client, requests) for _ in range(rounds)]
            spans_per_request = len(exporter.get_finished_spans()) / (rounds * requests)
            tracing.tracing_uninstrument()
            connection.close()
        out("")
        out(f"| POST {PATH} (in-process, 1 thread) | µs/request median | p90 of rounds | statements |")
        out("|---|---|---|---|")
        for mode, values in means.items():
            p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
            out(f"| {mode} | {statistics.median(values):,.0f} | {p90:,.0f} | {statements[mode]} |")
        out(f"tracing-on: {spans_per_request:.1f} spans per request (in-memory exporter)")
        out(f"Phoenix's counters alone, per consume: {self._counters_us():.2f} µs")
        if len(set(statements.values())) != 1:
            raise CommandError(f"statements differ between modes: {statements}")
        out(f"load average at end: {load_average()}  total {time.perf_counter() - started:.0f} s")

    @staticmethod
    def _statements(client: Client) -> int:
        client.post(PATH, BODY, content_type="application/json")  # warm the caches
        with CaptureQueriesContext(connection) as captured:
            response = client.post(PATH, BODY, content_type="application/json")
        if response.status_code != 200:
            raise CommandError(f"consume answered {response.status_code}: {response.content[:500]!r}")
        return len(captured.captured_queries)

    @staticmethod
    def _mean_us(client: Client, requests: int) -> float:
        begin = time.perf_counter()
        for _ in range(requests):
            client.post(PATH, BODY, content_type="application/json")
        return (time.perf_counter() - begin) / requests * 1e6

    @staticmethod
    def _counters_us(loops: int = 20_000) -> float:
        """What the consume path's own metrics do: the outcome counter and the debit counter
        (the on_commit registration that defers the latter is Django's, not measured here)."""
        begin = time.perf_counter()
        for _ in range(loops):
            metrics.ENERGY_OPERATIONS.labels(operation="consume", action="bench", outcome="ok").inc()
            metrics.ENERGY_DEBITED.labels(source="bench").inc(5)
        return (time.perf_counter() - begin) / loops * 1e6
