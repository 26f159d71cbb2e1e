"""The two ledgers the throughput benchmark compares, and the scenario runner.

For consume (one debit) and freeze+commit (two transactions), at N worker threads, on one
hot wallet or spread over many, (a) the service layer (`wallet_debit`, `wallet_freeze` +
`wallet_commit`) and (b) a raw-SQL baseline through psycopg that issues the services' own
statements (wallet.services.sql) in the same transactions (same row locks, same rows
written, hash chain and energy lots included: the debit's draw from the lots in the
consumption order, the freeze's reservation, the commit's settlement), so (a)/(b) is the
cost of the Django layer.

The worker pool here is the benchmark's own (not a test harness): it measures, it does not
assert.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from django.db import connection
from django.test.utils import CaptureQueriesContext

from phoenix.accounts.models import User
from wallet.hashing import operation_hash
from wallet.models import OPERATION_EFFECTS
from wallet.selectors import wallet_health_findings
from wallet.services import sql as ledger_sql
from wallet.services import wallet_commit, wallet_debit, wallet_freeze
from wallet.services.energy import energy_consume

HOT_FUNDING = 10**12
CONSUME_COST = 5
ACTION_CODE = "conseil_rapide"  # ActionLedger's paid action (its cost is CONSUME_COST in the seeded catalogue)
FREEZE_COST = 12
CAPTURE = 10  # partial capture: the commit also writes the release of the rest
# The bench wallets' funding: (category, amount, expiry in days or None), adding up to HOT_FUNDING.
FUNDING_LOTS = [("promotional", HOT_FUNDING // 4, 30), ("bonus", HOT_FUNDING // 4, 90),
                ("paid", HOT_FUNDING // 2, None)]


# --- The raw-SQL baseline ---------------------------------------------------------------------


class RawLedger:
    """The services' statements (wallet.services.sql), issued directly through psycopg (same
    transactions, locks and rows). A wallet is the list [id, balance, held, last_seq, last_hash]."""

    _WALLET_STATE = ("id", "balance", "held", "last_seq", "last_hash")
    _HOLD_WALLET_AT = len(ledger_sql.HOLD_COLUMNS)  # where the wallet's columns start in LOCK_HOLD_SQL's row

    def __init__(self, params: dict):
        self.conn = psycopg.connect(**params, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def _wallet_state(self, row) -> list:
        by_column = dict(zip(ledger_sql.WALLET_COLUMNS, row, strict=True))
        return [by_column[name] for name in self._WALLET_STATE]

    def _append(self, cursor, wallet: list, *, op_type: str, amount: int, hold_id, reason: str, reference: str,
                take_from_lots: str | None = None, save: bool = False) -> int:
        wallet_id, balance, held, last_seq, last_hash = wallet
        balance_sign, held_sign = OPERATION_EFFECTS[op_type]
        row = {
            "wallet_id": wallet_id, "seq": last_seq + 1, "type": op_type, "amount": amount,
            "balance_before": balance, "balance_after": balance + balance_sign * amount,
            "held_before": held, "held_after": held + held_sign * amount, "hold_id": hold_id, "refund_of_id": None,
            "source": "api", "reason": reason, "reference": reference, "actor_id": None, "idempotency_key": None,
            "created_at": datetime.now(UTC), "prev_hash": last_hash,
        }
        row["hash"] = operation_hash(**row)
        row["request_fingerprint"] = ""
        params = [row[name] for name in ledger_sql.OPERATION_INSERT_COLUMNS]
        if take_from_lots is None:
            cursor.execute(ledger_sql.INSERT_OPERATION_SQL, params)
            operation_id = cursor.fetchone()[0]
        else:
            now = row["created_at"]
            lots_params = [wallet_id, now, amount, amount, now]
            if save:  # the service's debit: operation, lots and wallet row in one statement
                cursor.execute(ledger_sql.INSERT_OPERATION_DRAW_LOTS_SAVE_SQL, [
                    *params, *lots_params, row["balance_after"], row["held_after"], row["seq"], row["hash"],
                    now, wallet_id])
            else:
                statement = (ledger_sql.INSERT_OPERATION_DRAW_LOTS_SQL if take_from_lots == "draw"
                             else ledger_sql.INSERT_OPERATION_RESERVE_LOTS_SQL)
                cursor.execute(statement, [*params, *lots_params])
            operation_id, _lots, taken, _categories = cursor.fetchone()
            if sum(taken) < amount:
                raise RuntimeError("bench lots ran dry")
        wallet[1:] = [row["balance_after"], row["held_after"], row["seq"], row["hash"]]
        return operation_id

    def _lock_by_user(self, cursor, user_id: int) -> list:
        cursor.execute(ledger_sql.LOCK_WALLET_OF_USER_SQL, [user_id])
        return self._wallet_state(cursor.fetchone())

    def _save(self, cursor, wallet: list) -> None:
        cursor.execute(ledger_sql.UPDATE_WALLET_SQL, [*wallet[1:], datetime.now(UTC), wallet[0]])

    def consume(self, user_id: int) -> None:
        with self.conn.transaction(), self.conn.cursor() as cursor:
            wallet = self._lock_by_user(cursor, user_id)
            if wallet[1] - wallet[2] < CONSUME_COST:
                raise RuntimeError("bench wallet ran dry")
            self._append(cursor, wallet, op_type="debit", amount=CONSUME_COST, hold_id=None, reason="bench",
                         reference="bench", take_from_lots="draw", save=True)

    def freeze_commit(self, user_id: int) -> None:
        with self.conn.transaction(), self.conn.cursor() as cursor:
            wallet = self._lock_by_user(cursor, user_id)
            if wallet[1] - wallet[2] < FREEZE_COST:
                raise RuntimeError("bench wallet ran dry")
            now = datetime.now(UTC)
            hold = {"id": uuid.uuid4(), "wallet_id": wallet[0], "amount": FREEZE_COST, "captured_amount": None,
                    "status": "pending", "action_code": "bench", "source": "api", "idempotency_key": None,
                    "expires_at": now + timedelta(seconds=60), "created_at": now, "resolved_at": None,
                    "ttl_seconds": 60, "max_expires_at": now + timedelta(seconds=60), "overrun_amount": None}
            cursor.execute(ledger_sql.INSERT_HOLD_SQL, [hold[name] for name in ledger_sql.HOLD_COLUMNS])
            self._append(cursor, wallet, op_type="freeze", amount=FREEZE_COST, hold_id=hold["id"], reason="",
                         reference="bench", take_from_lots="reserve")
            self._save(cursor, wallet)
        with self.conn.transaction(), self.conn.cursor() as cursor:
            cursor.execute(ledger_sql.LOCK_HOLD_SQL.format(user_filter=""), [hold["id"]])
            wallet = self._wallet_state(cursor.fetchone()[self._HOLD_WALLET_AT:])
            cursor.execute(ledger_sql.RESOLVE_HOLD_SQL, ["captured", CAPTURE, datetime.now(UTC), hold["id"]])
            if cursor.rowcount != 1:
                raise RuntimeError("hold not pending")
            cursor.execute(ledger_sql.HOLD_RESERVATIONS_SQL, [hold["id"]])
            reservations = cursor.fetchall()
            release_id = self._append(cursor, wallet, op_type="release", amount=FREEZE_COST - CAPTURE,
                                      hold_id=hold["id"], reason="unused part of a partly captured hold",
                                      reference="bench")
            commit_id = self._append(cursor, wallet, op_type="commit", amount=CAPTURE, hold_id=hold["id"], reason="",
                                     reference="bench")
            moves, left = [], CAPTURE  # the commit draws from the reserved lots in order (no expired lot here)
            for lot_id, _expires_at, reserved in reservations:
                take = min(reserved, left)
                left -= take
                if reserved - take:
                    moves.append((release_id, lot_id, "unreserve", reserved - take))
                if take:
                    moves += [(commit_id, lot_id, "unreserve", take), (commit_id, lot_id, "draw", take)]
            cursor.execute(ledger_sql.lots_apply_sql(len(moves)),
                           [*(value for move in moves for value in move), datetime.now(UTC)])
            self._save(cursor, wallet)


# --- The service-layer side ---------------------------------------------------------------------


class ServiceLedger:
    def __init__(self):
        self._users: dict[int, User] = {}

    def _user(self, user_id: int):
        # A real caller has the user object already (request.user / resolve_subject_user).
        if user_id not in self._users:
            self._users[user_id] = User(pk=user_id)
        return self._users[user_id]

    def consume(self, user_id: int) -> None:
        wallet_debit(user=self._user(user_id), amount=CONSUME_COST, source="api", reason="bench", reference="bench")

    def freeze_commit(self, user_id: int) -> None:
        hold = wallet_freeze(user=self._user(user_id), amount=FREEZE_COST, action_code="bench", ttl_seconds=60)
        wallet_commit(hold_id=hold.pk, amount=CAPTURE)

    def close(self) -> None:
        connection.close()


class ActionLedger(ServiceLedger):
    """`consume` is the service behind POST /luna/energy/consume: `energy_consume` of a paid
    action (catalogue, unlimited check, debit, breaker, usage event). Needs a migrated
    database (bench_luna's), not bench_wallet's ledger-only schema."""

    def _user(self, user_id: int):
        # As the view has it: the user with the access row read by the token's statement.
        if user_id not in self._users:
            user = User.objects.select_related("access").get(pk=user_id)
            user.relations_read_at_authentication = frozenset({"access"})
            self._users[user_id] = user
        return self._users[user_id]

    def consume(self, user_id: int) -> None:
        energy_consume(user=self._user(user_id), action_code=ACTION_CODE)


# --- Running a scenario -------------------------------------------------------------------------------


@dataclass
class RunResult:
    layer: str
    operation: str
    placement: str
    workers: int
    ops: int
    seconds: float
    latencies_ms: list[float] = field(repr=False, default_factory=list)

    @property
    def throughput(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def run_scenario(*, layer: str, operation: str, placement: str, workers: int, seconds: float,
                 hot_user: int, spread_users: list[int]) -> RunResult:
    params = connection.get_connection_params()
    barrier = threading.Barrier(workers + 1)
    stop_at: list[float] = [0.0]
    per_thread: list[list[float]] = [[] for _ in range(workers)]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        ledger = {"raw": lambda: RawLedger(params), "action": ActionLedger}.get(layer, ServiceLedger)()
        chooser = random.Random(index)
        act: Callable[[int], None] = getattr(ledger, operation)
        try:
            act(hot_user if placement == "hot" else chooser.choice(spread_users))  # warm-up: connect
            barrier.wait()
            latencies = per_thread[index]
            while time.perf_counter() < stop_at[0]:
                user_id = hot_user if placement == "hot" else chooser.choice(spread_users)
                started = time.perf_counter()
                act(user_id)
                latencies.append((time.perf_counter() - started) * 1000)
        except BaseException as exc:  # reported after the run
            errors.append(exc)
            barrier.abort()
        finally:
            ledger.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + 3600  # set properly once everyone is connected
    with contextlib.suppress(threading.BrokenBarrierError):  # a worker failed: reported below
        barrier.wait()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{layer}/{operation}/{placement}/{workers}: {errors[0]!r}") from errors[0]
    latencies = [value for chunk in per_thread for value in chunk]
    return RunResult(layer, operation, placement, workers, len(latencies), elapsed, latencies)


def time_health(repeats: int) -> tuple[float, int]:
    """Median seconds of the health query over `repeats` runs, and its finding count."""
    timings, findings = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        findings = wallet_health_findings()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), len(findings)


def statements_per_consume(user_id: int) -> list[str]:
    """The SQL statements one service-layer consume issues, its transaction's BEGIN/COMMIT aside."""
    with CaptureQueriesContext(connection) as captured:
        ServiceLedger().consume(user_id)
    return [q["sql"] for q in captured.captured_queries
            if q["sql"].split()[0].upper() not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"
