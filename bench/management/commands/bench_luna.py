"""`manage.py bench_luna`: the /luna API under load, through gunicorn, on loopback only.

Runs in a throw-away database (wallet.BenchDatabase, here with the full schema
migrated into it), starts gunicorn on a free 127.0.0.1 port against it, drives
`consume` and `can-perform` with N concurrent clients (threads, one requests.Session
and one end user each), and prints requests/s and p50/p99 beside the service-layer
figure of bench_wallet (wallet.run_scenario, `wallet_debit` in-process) for
the same worker counts, measured in the same run. Bounded: `--seconds` per cell and
`--max-requests` per cell; gunicorn is stopped and the database dropped at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from bench.database import BenchDatabase
from bench.ledgers import RunResult, load_average, run_scenario
from phoenix.accounts.services import user_register
from wallet.services import wallet_credit

ENDPOINTS = {
    "consume": ("/luna/energy/consume", {"action": "conseil_rapide"}),
    "can-perform": ("/luna/energy/can-perform", {"action": "lettre_motivation"}),
}
FUNDING = 10**9


def _ints(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip()]


class LunaBenchDatabase(BenchDatabase):
    """bench_wallet's throw-away database, with every app's tables (the API needs them all)."""

    @staticmethod
    def _create_schema() -> None:
        call_command("migrate", verbosity=0, interactive=False)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return parts._replace(path=f"/{name}").geturl()


class Gunicorn:
    def __init__(self, *, database: str, workers: int, threads: int):
        self.port = _free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(database),
            "SECRET_KEY": settings.SECRET_KEY,
            # The bench measures the API, not the throttles (which would answer 429).
            "LUNA_USER_THROTTLE_RATE": "100000000/min",
            "LUNA_SATELLITE_THROTTLE_RATE": "100000000/min",
            "LOG_LEVEL": "WARNING",
        }
        self.command = [
            sys.executable, "-m", "gunicorn", "phoenix.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}",  # loopback only
            "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
            "--no-control-socket", "--log-level", "warning",
        ]
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


def drive(*, url: str | list[str], tokens: list[str], endpoint: str, clients: int, seconds: float,
          max_requests: int) -> tuple[RunResult, int]:
    """`clients` threads, each its own session and user, for `seconds` (or `max_requests`
    in all); returns the latencies of 2xx answers and the count of the others. Several
    urls (web nodes): client i talks to url i mod n, so the clients spread evenly."""
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
            session.headers["Authorization"] = f"Token {tokens[index % len(tokens)]}"
            try:
                session.post(url + path, json=body, timeout=30)  # warm-up: connect
                barrier.wait()
                while time.perf_counter() < stop_at[0] and budget.acquire(blocking=False):
                    started = time.perf_counter()
                    response = session.post(url + path, json=body, timeout=30)
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
    help = ("Load-test POST /luna/energy/consume and /can-perform through gunicorn (127.0.0.1 only, "
            "throw-away database) at 1, 8 and 32 clients, beside the wallet service-layer figure.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=3.0, help="Duration of each cell.")
        parser.add_argument("--clients", type=_ints, default=[1, 8, 32], help="Comma-separated client counts.")
        parser.add_argument("--max-requests", type=int, default=20_000, help="Cap per cell.")
        parser.add_argument("--users", type=int, default=32, help="End users the clients act as (round robin).")
        parser.add_argument("--gunicorn-workers", type=int, default=4)
        parser.add_argument("--gunicorn-threads", type=int, default=8)
        parser.add_argument("--skip-service", action="store_true", help="Skip the in-process service figure.")

    def handle(self, *args, **options):
        out = self.stdout.write
        started = time.perf_counter()
        out(f"cores: {os.cpu_count()}  load average (1/5/15 min) at start: {load_average()}")
        with LunaBenchDatabase() as database:
            out(f"database: {database.name} (migrated for this run, dropped at the end)")
            tokens, user_ids = self._users(options["users"])
            server = Gunicorn(database=database.name, workers=options["gunicorn_workers"],
                              threads=options["gunicorn_threads"])
            try:
                server.wait_ready(token=tokens[0])
                out(f"gunicorn: {server.url}, {options['gunicorn_workers']} workers x "
                    f"{options['gunicorn_threads']} threads (gthread); clients: threads of this process, "
                    f"one user each ({len(tokens)} users, Token auth)")
                out("")
                out("| endpoint | clients | requests | req/s | p50 / p99 ms | non-2xx |")
                out("|---|---|---|---|---|---|")
                for endpoint in ENDPOINTS:
                    for clients in options["clients"]:
                        result, failed = drive(url=server.url, tokens=tokens, endpoint=endpoint, clients=clients,
                                               seconds=options["seconds"], max_requests=options["max_requests"])
                        out(f"| POST /luna/energy/{endpoint} | {clients} | {result.ops:,} "
                            f"| {result.throughput:,.0f} "
                            f"| {result.percentile(50):.2f} / {result.percentile(99):.2f} | {failed} |")
            finally:
                server.stop()
            if not options["skip_service"]:
                self._service(options, user_ids)
        out(f"load average at end: {load_average()}  total {time.perf_counter() - started:.0f} s")

    def _users(self, count: int) -> tuple[list[str], list[int]]:
        tokens, user_ids = [], []
        for index in range(count):
            user, token = user_register(email=f"bench{index}@bench.invalid", password="bench-Password-123456")
            wallet_credit(user=user, amount=FUNDING, source="admin", reason="bench funding")
            tokens.append(token)
            user_ids.append(user.pk)
        return tokens, user_ids

    def _service(self, options, user_ids: list[int]) -> None:
        """bench_wallet's measuring function, same run and database: wallet_debit in-process."""
        out = self.stdout.write
        out("")
        out("| wallet service layer (bench_wallet, in-process `wallet_debit`) | workers | ops/s | p50 / p99 ms |")
        out("|---|---|---|---|")
        for workers in options["clients"]:
            result = run_scenario(layer="service", operation="consume", placement="spread",
                                            workers=workers, seconds=options["seconds"], hot_user=user_ids[0],
                                            spread_users=user_ids)
            out(f"| consume (debit), {len(user_ids)} wallets | {workers} | {result.throughput:,.0f} "
                f"| {result.percentile(50):.2f} / {result.percentile(99):.2f} |")
