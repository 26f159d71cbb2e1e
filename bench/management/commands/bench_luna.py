"""`manage.py bench_luna`: the /luna API under load, through the Procfile's web process, on loopback.

Runs in a throw-away database copied from a migrated template (LunaBenchDatabase), starts the
Procfile's `web` command (gunicorn, its worker model and settings) on a free 127.0.0.1 port
serving bench.wsgi (Phoenix plus bench.views.MinimalDebitView), and for each client count runs
interleaved rounds of four cells: `POST /luna/energy/consume` with a fresh Idempotency-Key per
request and the production throttles (enough users that none is throttled), the minimal view
(the same token auth and `wallet_debit`, nothing else), and each one's in-process service
layer in threads (bench_wallet's `run_scenario`: `energy_consume` of the same action, and
`wallet_debit`). Prints the medians, the ratios consume / minimal, consume / energy_consume and
minimal / wallet_debit, and the load average; then the CPU time per request of the consume (with and
without a key) and of the minimal view in this process (Django's test client, no gunicorn, no
network), side by side. Bounded: `--seconds` and
`--max-requests` per cell; gunicorn is stopped and the database dropped at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.test import Client, override_settings

from bench.database import BenchDatabase
from bench.ledgers import RunResult, load_average, run_scenario
from phoenix.accounts.services import user_register
from wallet.services import wallet_credit

ENDPOINTS = {
    "consume": ("/luna/energy/consume", {"action": "conseil_rapide"}),
    "can-perform": ("/luna/energy/can-perform", {"action": "lettre_motivation"}),
    # bench.views.MinimalDebitView: the same token auth and wallet_debit, nothing else
    "minimal": ("/bench/minimal-debit", {}),
}
FUNDING = 10**9


def _ints(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip()]


class LunaBenchDatabase(BenchDatabase):
    """bench_wallet's throw-away database, with every app's tables (the API needs them all),
    copied from a migrated template database (`CREATE DATABASE ... TEMPLATE`, a file copy in
    seconds) instead of running every migration each time (minutes). The template is named
    after a digest of every migration file and the pinned requirements, so a new migration or
    library version makes a new one (older templates are dropped)."""

    def _template(self) -> str:
        name = f"{TEMPLATE_PREFIX}{_schema_digest()}"
        exists = self._admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return name
        for (stale,) in self._admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                            [f"{TEMPLATE_PREFIX}%"]).fetchall():
            self._admin.execute(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)')
        building = f"{name}_building"  # renamed when complete: an interrupted build is never used
        self._admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
        self._admin.execute(f'CREATE DATABASE "{building}"')
        self._settings["NAME"] = building
        connections.close_all()
        try:
            call_command("migrate", verbosity=0, interactive=False)
        finally:
            connections.close_all()  # a template must have no connection when it is copied
            self._settings["NAME"] = self._original_name
        self._admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        return name


TEMPLATE_PREFIX = "phoenix_bench_template_"


def _schema_digest() -> str:
    digest = hashlib.sha256()
    base = Path(settings.BASE_DIR)
    for path in sorted([*base.glob("*/migrations/*.py"), *base.glob("phoenix/*/migrations/*.py"),
                        *base.glob("phoenix/djstripe_migrations/*.py"),
                        *base.glob("requirements*.txt")]):
        digest.update(str(path.relative_to(base)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return parts._replace(path=f"/{name}").geturl()


class Gunicorn:
    """The Procfile's `web` process, as written there (its worker model, config and defaults,
    `WEB_CONCURRENCY` / `WEB_THREADS` from the environment or these arguments), on a free
    loopback port, serving `bench.wsgi` (Phoenix's application plus the minimal view) against
    the bench database, with the production throttles and logging at WARNING."""

    def __init__(self, *, database: str, workers: int | None = None, threads: int | None = None,
                 worker_class: str | None = None):
        self.port = _free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(database),
            "SECRET_KEY": settings.SECRET_KEY,
            "LOG_LEVEL": "WARNING",
            "WEB_BIND": f"127.0.0.1:{self.port}",  # loopback only
        }
        if workers:
            env["WEB_CONCURRENCY"] = str(workers)
        if threads:
            env["WEB_THREADS"] = str(threads)
        self.command = procfile_command("web", env)
        if self.command[:1] != ["gunicorn"] or "phoenix.wsgi:application" not in self.command:
            raise CommandError(f"the Procfile's web process is not gunicorn phoenix.wsgi: {self.command}")
        self.command = [sys.executable, "-m", *(
            "bench.wsgi:application" if part == "phoenix.wsgi:application" else part for part in self.command)]
        if worker_class:  # another worker model than the Procfile's, to compare (--worker-class)
            at = self.command.index("--worker-class")
            self.command[at + 1] = worker_class
            if worker_class == "sync" and "--threads" in self.command:
                at = self.command.index("--threads")
                del self.command[at:at + 2]
        self.process = subprocess.Popen(self.command, env=env, cwd=settings.BASE_DIR,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_ready(self, *, token: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CommandError(f"gunicorn exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                response = requests.get(f"{self.url}/luna/energy/actions",
                                        headers={"Authorization": f"Token {token}"}, timeout=10)
                if response.status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # still booting
                pass
            time.sleep(0.2)
        raise CommandError("gunicorn did not answer in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: workers finish, then exit
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def procfile_command(process: str, env: dict[str, str]) -> list[str]:
    """A Procfile process's command line, its `${VAR:-default}` expanded from `env`."""
    for line in (Path(settings.BASE_DIR) / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            expanded = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), command)
            return shlex.split(expanded)
    raise CommandError(f"no {process!r} process in the Procfile")


def drive(*, url: str | list[str], tokens: list[str], endpoint: str, clients: int, seconds: float,
          max_requests: int, idempotency_keys: bool = False) -> tuple[RunResult, int]:
    """`clients` threads, each its own session and user, for `seconds` (or `max_requests`
    in all); returns the latencies of 2xx answers and the count of the others. Several
    urls (web nodes): client i talks to url i mod n, so the clients spread evenly.
    `idempotency_keys`: every request carries a fresh Idempotency-Key (the production path of
    a careful client, which stores each response for its retries)."""
    urls = [url] if isinstance(url, str) else url
    path, body = ENDPOINTS[endpoint]
    barrier = threading.Barrier(clients + 1)
    stop_at = [time.perf_counter() + 3600]
    budget = threading.Semaphore(max_requests)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    errors: list[BaseException] = []

    def client(index: int) -> None:
        url = urls[index % len(urls)]
        with requests.Session() as session:
            sent = 0
            try:
                session.post(url + path, json=body, timeout=30,  # warm-up: connect
                             headers={"Authorization": f"Token {tokens[index % len(tokens)]}"})
                barrier.wait()
                while time.perf_counter() < stop_at[0] and budget.acquire(blocking=False):
                    # Each request as the next user of this client's share (client i: users i, i + n,
                    # ...), so the users' throttles see a realistic rate, not one user's flood.
                    headers = {"Authorization": f"Token {tokens[(index + sent * clients) % len(tokens)]}"}
                    if idempotency_keys:
                        headers["Idempotency-Key"] = uuid.uuid4().hex
                    sent += 1
                    started = time.perf_counter()
                    response = session.post(url + path, json=body, headers=headers, timeout=30)
                    elapsed = (time.perf_counter() - started) * 1000
                    if 200 <= response.status_code < 300:
                        latencies[index].append(elapsed)
                    else:
                        failures[index] += 1
            except BaseException as exc:  # reported after the run
                errors.append(exc)
                barrier.abort()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a client failed: reported below
        barrier.wait()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise CommandError(f"{endpoint} x{clients}: {errors[0]!r}")
    flat = [value for chunk in latencies for value in chunk]
    return RunResult("http", endpoint, "spread", clients, len(flat), elapsed, flat), sum(failures)


class Command(BaseCommand):
    help = ("Load-test POST /luna/energy/consume through the Procfile's web process (127.0.0.1 only, throw-away "
            "database) beside the minimal view with the same auth and debit and the in-process service layer, "
            "cells interleaved, at 1, 8 and 32 clients; then /can-perform.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=3.0, help="Duration of each cell.")
        parser.add_argument("--rounds", type=int, default=3,
                            help="Rounds of interleaved cells per client count (the median is reported).")
        parser.add_argument("--clients", type=_ints, default=[1, 8, 32], help="Comma-separated client counts.")
        parser.add_argument("--max-requests", type=int, default=20_000, help="Cap per cell.")
        parser.add_argument("--users", type=int, default=256,
                            help="End users the clients act as (round robin): enough that no one reaches the "
                                 "production throttle (LUNA_USER_THROTTLE_RATE) during the run.")
        parser.add_argument("--gunicorn-workers", type=int, default=None,
                            help="WEB_CONCURRENCY for the Procfile's web process (default: the Procfile's).")
        parser.add_argument("--gunicorn-threads", type=int, default=None,
                            help="WEB_THREADS for the Procfile's web process (default: the Procfile's).")
        parser.add_argument("--cpu-requests", type=int, default=400,
                            help="Requests per cell of the in-process CPU table (0: skip it).")
        parser.add_argument("--worker-class", default=None,
                            help="Replace the Procfile's gunicorn worker class (e.g. sync), to compare.")

    def handle(self, *args, **options):
        out = self.stdout.write
        started = time.perf_counter()
        out(f"cores: {os.cpu_count()}  load average (1/5/15 min) at start: {load_average()}")
        with LunaBenchDatabase() as database:
            out(f"database: {database.name} (copied from the migrated template, dropped at the end) "
                f"in {time.perf_counter() - started:.0f} s")
            tokens, user_ids = self._users(options["users"])
            server = Gunicorn(database=database.name, workers=options["gunicorn_workers"],
                              threads=options["gunicorn_threads"], worker_class=options["worker_class"])
            try:
                server.wait_ready(token=tokens[0])
                out(f"web: {' '.join(server.command[2:])}")
                out(f"clients: threads of this process, one session and user each ({len(tokens)} users, Token "
                    f"auth); production throttles; each consume with a fresh Idempotency-Key")
                self._interleaved(server, tokens, user_ids, options)
                if options["cpu_requests"]:
                    self._cpu_per_request(tokens, options)
                out("")
                out("| endpoint | clients | requests | req/s | p50 / p99 ms | non-2xx |")
                out("|---|---|---|---|---|---|")
                for clients in options["clients"]:
                    result, failed = drive(url=server.url, tokens=tokens, endpoint="can-perform", clients=clients,
                                           seconds=options["seconds"], max_requests=options["max_requests"])
                    out(f"| POST /luna/energy/can-perform | {clients} | {result.ops:,} | {result.throughput:,.0f} "
                        f"| {result.percentile(50):.2f} / {result.percentile(99):.2f} | {failed} |")
            finally:
                server.stop()
        out(f"load average at end: {load_average()}  total {time.perf_counter() - started:.0f} s")

    def _interleaved(self, server: Gunicorn, tokens: list[str], user_ids: list[int], options) -> None:
        """Per client count, `rounds` rounds of the four cells, the order reversed every other
        round (so a drift of the machine's load falls on all alike); medians and ratios. The
        in-process cells are each HTTP cell's service: `energy_consume` behind the consume,
        `wallet_debit` behind the minimal view."""
        out = self.stdout.write
        cells = ("consume", "minimal", "energy_consume", "wallet_debit")
        out("")
        out("| clients | consume req/s (key) | minimal view req/s | energy_consume ops/s (in-process) "
            "| wallet_debit ops/s (in-process) | consume / minimal | consume / energy_consume "
            "| minimal / wallet_debit | consume p50 / p99 ms | non-2xx |")
        out("|---|---|---|---|---|---|---|---|---|---|")
        for clients in options["clients"]:
            figures: dict[str, list[float]] = {cell: [] for cell in cells}
            latencies: list[float] = []
            failed = 0
            for round_index in range(options["rounds"]):
                for cell in cells if round_index % 2 == 0 else reversed(cells):
                    if cell in ("energy_consume", "wallet_debit"):
                        result = run_scenario(layer="action" if cell == "energy_consume" else "service",
                                              operation="consume", placement="spread", workers=clients,
                                              seconds=options["seconds"], hot_user=user_ids[0],
                                              spread_users=user_ids)
                    else:
                        result, cell_failed = drive(
                            url=server.url, tokens=tokens, endpoint=cell, clients=clients,
                            seconds=options["seconds"], max_requests=options["max_requests"],
                            idempotency_keys=cell == "consume")
                        failed += cell_failed
                        if cell == "consume":
                            latencies.extend(result.latencies_ms)
                    figures[cell].append(result.throughput)
            consume, minimal, action, debit = (statistics.median(figures[cell]) for cell in cells)
            consumed = RunResult("http", "consume", "spread", clients, len(latencies), 1, latencies)
            p50, p99 = consumed.percentile(50), consumed.percentile(99)
            out(f"| {clients} | {consume:,.0f} | {minimal:,.0f} | {action:,.0f} | {debit:,.0f} "
                f"| {consume / minimal:.2f} | {consume / action:.2f} | {minimal / debit:.2f} "
                f"| {p50:.2f} / {p99:.2f} | {failed} |")
        out(f"(medians of {options['rounds']} interleaved rounds of {options['seconds']:.0f} s cells; load average "
            f"now {load_average()})")

    def _cpu_per_request(self, tokens: list[str], options) -> None:
        """The same requests without gunicorn, the network or the clients: Django's test client in
        this process (bench.urls, the production throttles, request logging at WARNING as in the
        web process), the CPU time of this process per request (user + system; PostgreSQL's and
        Redis's own CPU is not in it). Cells interleaved like the HTTP ones; medians."""
        out = self.stdout.write
        cells = {"consume (key)": ("consume", True), "consume (no key)": ("consume", False),
                 "minimal view": ("minimal", False)}
        figures: dict[str, list[float]] = {cell: [] for cell in cells}
        client = Client(HTTP_HOST="127.0.0.1")
        count = options["cpu_requests"]
        request_log = logging.getLogger("django_structlog")
        level = request_log.level
        request_log.setLevel(logging.WARNING)
        try:
            with override_settings(ROOT_URLCONF="bench.urls"):
                for round_index in range(options["rounds"]):
                    order = list(cells) if round_index % 2 == 0 else list(reversed(cells))
                    for cell in order:
                        endpoint, keyed = cells[cell]
                        figures[cell].append(self._cpu_cell(client, tokens, endpoint, keyed, count, round_index))
        finally:
            request_log.setLevel(level)
        key, no_key, minimal = (statistics.median(figures[cell]) for cell in cells)
        out("")
        out("| in process (CPU ms per request) | consume (key) | consume (no key) | minimal view "
            "| minimal / consume (key) | minimal / consume (no key) |")
        out("|---|---|---|---|---|---|")
        out(f"| {count} requests x {options['rounds']} rounds | {key:.3f} | {no_key:.3f} | {minimal:.3f} "
            f"| {minimal / key:.2f} | {minimal / no_key:.2f} |")
        out(f"(load average now {load_average()})")

    @staticmethod
    def _cpu_cell(client: Client, tokens: list[str], endpoint: str, keyed: bool, count: int,
                  round_index: int) -> float:
        path, body = ENDPOINTS[endpoint]
        payload = json.dumps(body)
        for index in range(-20, count):  # 20 warm-up requests, not timed
            if index == 0:
                started = resource.getrusage(resource.RUSAGE_SELF)
            # Round robin over the users (each well under LUNA_USER_THROTTLE_RATE).
            headers = {"HTTP_AUTHORIZATION": f"Token {tokens[(index + round_index * count) % len(tokens)]}"}
            if keyed:
                headers["HTTP_IDEMPOTENCY_KEY"] = uuid.uuid4().hex
            response = client.post(path, payload, content_type="application/json", **headers)
            if response.status_code != 200:
                raise CommandError(f"{endpoint}: {response.status_code} {response.content[:200]!r}")
        ended = resource.getrusage(resource.RUSAGE_SELF)
        spent = (ended.ru_utime + ended.ru_stime) - (started.ru_utime + started.ru_stime)
        return 1000 * spent / count

    def _users(self, count: int) -> tuple[list[str], list[int]]:
        tokens, user_ids = [], []
        for index in range(count):
            user, token = user_register(email=f"bench{index}@bench.invalid", password="bench-Password-123456")
            wallet_credit(user=user, amount=FUNDING, source="admin", reason="bench funding")
            tokens.append(token)
            user_ids.append(user.pk)
        return tokens, user_ids
