"""Phoenix's debit against pgledger's transfer, each worker a separate process.

Three ledgers on the same PostgreSQL server, through the same driver (psycopg 3):
(a) the service layer (`wallet_debit` through Django; (a') the same with server-side binding
and prepared statements, this process only), (b) its raw-SQL twin
(bench.ledgers.RawLedger: the services' own statements), (b') the twin without the energy
lots (plain operation insert: what the lots cost), and (c) pgledger's
`pgledger_create_transfer` (vendored in bench/pgledger/pgledger.sql, loaded into its own
throw-away database, never Phoenix's).

Processes, not threads: the worker threads of bench_wallet share one GIL, so on a small
machine they measure Python's CPU per operation more than the ledger; here each worker has
its own interpreter and connection, like gunicorn workers. Workers are forked after the
parent closed its connections (no socket is shared). Each worker also reports its own CPU
and its PostgreSQL backend's (from /proc, the server being local): the per-op work a layer
does, which explains a throughput gap on a CPU-bound machine.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.db import connection, connections

from bench.ledgers import RawLedger, ServiceLedger

PGLEDGER_SQL = Path(__file__).parent / "pgledger" / "pgledger.sql"
TRANSFER_AMOUNT = 5  # CONSUME_COST's twin
WARM_UP_OPS = 10  # > psycopg's prepare_threshold (5)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- pgledger ---------------------------------------------------------------------------------


class PgLedgerDatabase:
    """pgledger's schema and functions in a throw-away database ``phoenix_pgledger_<pid>`` next
    to the configured one; its accounts: per wallet a user account (no negative balance, like a
    wallet) and its own revenue account (so a spread run has no shared hot row: a transfer locks
    both sides)."""

    def __init__(self, params: dict):
        self.name = f"phoenix_pgledger_{os.getpid()}"
        self._admin_params = params
        self.params = {**params, "dbname": self.name}

    def __enter__(self) -> PgLedgerDatabase:
        self._admin = psycopg.connect(**self._admin_params, autocommit=True)
        self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
        self._admin.execute(f'CREATE DATABASE "{self.name}"')
        with psycopg.connect(**self.params, autocommit=True) as conn:
            conn.execute(PGLEDGER_SQL.read_text())
        return self

    def __exit__(self, *exc) -> None:
        self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.close()

    def create_pairs(self, count: int, *, funding: int) -> list[tuple[str, str]]:
        """`count` (user account, revenue account) pairs, each user account funded with `funding`
        by a transfer from a funding account (pgledger's own way to create a balance)."""
        pairs = []
        with psycopg.connect(**self.params, autocommit=True) as conn:
            (funder,) = conn.execute("SELECT id FROM pgledger_create_account('funding', 'ENERGY')").fetchone()
            for index in range(count):
                (user,) = conn.execute(
                    "SELECT id FROM pgledger_create_account(%s, 'ENERGY', allow_negative_balance => false)",
                    [f"user{index}"]).fetchone()
                (revenue,) = conn.execute("SELECT id FROM pgledger_create_account(%s, 'ENERGY')",
                                          [f"revenue{index}"]).fetchone()
                conn.execute("SELECT 1 FROM pgledger_create_transfer(%s, %s, %s)", [funder, user, funding])
                pairs.append((user, revenue))
            for table in ("pgledger_accounts", "pgledger_transfers", "pgledger_entries"):
                conn.execute(f"VACUUM ANALYZE {table}")
        return pairs


class PgLedger:
    """One `pgledger_create_transfer` per operation: one statement, autocommit (the function
    is its own transaction), the way pgledger's README calls it."""

    def __init__(self, params: dict):
        self.conn = psycopg.connect(**params, autocommit=True)

    def consume(self, pair: tuple[str, str]) -> None:
        self.conn.execute("SELECT id FROM pgledger_create_transfer(%s, %s, %s)", [*pair, TRANSFER_AMOUNT]).fetchone()

    def close(self) -> None:
        self.conn.close()


class RawLedgerWithoutLots(RawLedger):
    """The raw twin minus the energy lots (plain operation insert): lock, insert, update."""

    def consume(self, user_id: int) -> None:
        with self.conn.transaction(), self.conn.cursor() as cursor:
            wallet = self._lock_by_user(cursor, user_id)
            self._append(cursor, wallet, op_type="debit", amount=TRANSFER_AMOUNT, hold_id=None, reason="bench",
                         reference="bench")
            self._save(cursor, wallet)


# --- Running a cell in separate processes -------------------------------------------------------


@dataclass
class ProcessResult:
    layer: str
    placement: str
    workers: int
    ops: int
    seconds: float
    client_cpu_s: float  # the workers' own CPU (user + system)
    backend_cpu_s: float | None  # their PostgreSQL backends' CPU; None when /proc is unreadable
    latencies_ms: list[float] = field(repr=False, default_factory=list)

    @property
    def throughput(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def per_op_ms(self, cpu_s: float | None) -> float | None:
        return None if cpu_s is None or not self.ops else cpu_s / self.ops * 1000

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _backend_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime


def _make_ledger(layer: str, *, phoenix_params: dict, pgledger_params: dict):
    if layer == "service_prepared":
        # This process only (forked): what server-side binding and prepared statements (the raw
        # twin's psycopg defaults; Phoenix's settings use neither, for PgBouncer) save per op.
        connections.settings["default"].setdefault("OPTIONS", {}).update(server_side_binding=True,
                                                                          prepare_threshold=5)
    if layer.startswith("service"):
        return ServiceLedger()
    if layer == "raw":
        return RawLedger(phoenix_params)
    if layer == "raw_nolots":
        return RawLedgerWithoutLots(phoenix_params)
    return PgLedger(pgledger_params)


def _backend_pid(layer: str, ledger) -> int:
    if layer.startswith("service"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]
    return ledger.conn.info.backend_pid


def _worker(index, layer, targets, phoenix_params, pgledger_params, seconds, barrier, results) -> None:
    chooser = random.Random(index)
    ledger = _make_ledger(layer, phoenix_params=phoenix_params, pgledger_params=pgledger_params)
    try:
        for _ in range(WARM_UP_OPS):  # connect, fill the backend's caches, prepare
            ledger.consume(chooser.choice(targets))
        backend = _backend_pid(layer, ledger)
        barrier.wait()
        cpu_before, backend_before = time.process_time(), _backend_cpu_s(backend)
        latencies = []
        started = time.perf_counter()
        stop_at = started + seconds
        while (now := time.perf_counter()) < stop_at:
            ledger.consume(chooser.choice(targets))
            latencies.append((time.perf_counter() - now) * 1000)
        elapsed = time.perf_counter() - started
        backend_after = _backend_cpu_s(backend)
        backend_cpu = None if backend_before is None or backend_after is None else backend_after - backend_before
        results.put((len(latencies), elapsed, time.process_time() - cpu_before, backend_cpu, latencies, None))
    except BaseException as exc:  # reported by the parent
        with contextlib.suppress(Exception):
            barrier.abort()
        results.put((0, 0.0, 0.0, None, [], repr(exc)))
    finally:
        ledger.close()


def run_in_processes(*, layer: str, placement: str, workers: int, seconds: float, targets: list,
                     pgledger_params: dict) -> ProcessResult:
    """`workers` forked processes running `layer`'s consume on `targets` (one: hot) for `seconds`."""
    phoenix_params = connection.get_connection_params()
    connections.close_all()  # a forked child must not share the parent's socket
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [context.Process(target=_worker, args=(i, layer, targets, phoenix_params, pgledger_params, seconds,
                                                       barrier, results)) for i in range(workers)]
    for process in processes:
        process.start()
    reports = [results.get(timeout=seconds + 300) for _ in processes]
    for process in processes:
        process.join()
    failures = [report[5] for report in reports if report[5]]
    if failures:
        raise RuntimeError(f"{layer}/{placement}/{workers}: {failures[0]}")
    backend = [report[3] for report in reports]
    return ProcessResult(
        layer=layer, placement=placement, workers=workers, ops=sum(report[0] for report in reports),
        seconds=max(report[1] for report in reports), client_cpu_s=sum(report[2] for report in reports),
        backend_cpu_s=None if None in backend else sum(backend),
        latencies_ms=[value for report in reports for value in report[4]],
    )
