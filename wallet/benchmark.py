"""`manage.py bench_wallet`: ledger throughput/latency and health-check scaling.

Everything runs in a dedicated database (``phoenix_bench_<pid>``) created next to the
configured one and dropped at the end: the command points Django's ``default`` alias at
it for its own process, builds only the tables the ledger needs (users, wallets, holds,
operations, with every CHECK/UNIQUE and the append-only trigger), and never touches the
real data.

Throughput: for consume (one debit) and freeze+commit (two transactions), at 1/4/16
worker threads, on one hot wallet and spread over 1,000 wallets, for
(a) the service layer (`wallet_debit`, `wallet_freeze` + `wallet_commit`) and
(b) a raw-SQL baseline through psycopg that issues the same statements in the same
transactions (same row locks, same rows written, hash chain included), so (a)/(b) is
the cost of the Django layer.

Health: wallets with 10 operations each (credit, debit, freeze/commit, credit,
freeze/release, debit, a pending freeze, debit) are generated set-based in SQL with
their real hash chain; the health query must report nothing on them, and is timed at
each size.
"""

from __future__ import annotations

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
from django.db import connection, connections

from wallet.hashing import operation_hash, operation_hash_sql
from wallet.models import GENESIS_HASH

HOT_FUNDING = 10**12
CONSUME_COST = 5
FREEZE_COST = 12
CAPTURE = 10  # partial capture: the commit also writes the release of the rest


# --- The dedicated database --------------------------------------------------------------


class BenchDatabase:
    """Create a throw-away database and point Django's default alias at it (this process)."""

    def __init__(self, *, keep: bool = False):
        self.name = f"phoenix_bench_{os.getpid()}"
        self.keep = keep
        self._settings = connections.settings["default"]
        self._original_name = self._settings["NAME"]

    def __enter__(self) -> BenchDatabase:
        connections.close_all()
        self._admin = psycopg.connect(**connection.get_connection_params(), autocommit=True)
        self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
        self._admin.execute(f'CREATE DATABASE "{self.name}"')
        self._settings["NAME"] = self.name  # new connections (every thread's) go to the bench DB
        connections.close_all()
        try:
            self._create_schema()
        except BaseException:
            self.__exit__()  # never leave the connection settings pointing at the bench DB
            raise
        return self

    def __exit__(self, *exc) -> None:
        connections.close_all()
        self._settings["NAME"] = self._original_name
        if not self.keep:
            self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.close()

    @staticmethod
    def _create_schema() -> None:
        from django.apps import apps

        from phoenix.core.db import APPEND_ONLY_FUNCTION_SQL, append_only_trigger

        trigger_sql = APPEND_ONLY_FUNCTION_SQL + append_only_trigger("wallet_balanceoperation").sql
        models = [apps.get_model(label) for label in (
            "contenttypes.ContentType", "auth.Permission", "auth.Group", "accounts.User",
            "wallet.Wallet", "wallet.Hold", "wallet.BalanceOperation", "wallet.Incident",
        )]
        with connection.schema_editor() as editor:
            for model in models:
                editor.create_model(model)
        with connection.cursor() as cursor:
            cursor.execute(trigger_sql)


# --- Set-based data generation --------------------------------------------------------------


def sql(statement: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def create_wallets(count: int) -> tuple[int, int]:
    """`count` users with empty wallets; returns their wallet id range (inclusive)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM accounts_user")
        start = cursor.fetchone()[0] + 1
        cursor.execute(
            """INSERT INTO accounts_user (password, email, public_id, is_active, is_staff, is_superuser, date_joined)
               SELECT '!', 'bench' || g || '@bench.invalid', gen_random_uuid(), true, false, false, now()
               FROM generate_series(%s, %s) g""",
            [start, start + count - 1],
        )
        cursor.execute(
            """INSERT INTO wallet_wallet (user_id, balance, held, last_seq, last_hash, created_at, updated_at)
               SELECT id, 0, 0, 0, %s, now(), now() FROM accounts_user WHERE id BETWEEN %s AND %s ORDER BY id
               RETURNING id""",
            [GENESIS_HASH, start, start + count - 1],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return min(ids), max(ids)


_EFFECTS = {"credit": (1, 0), "debit": (-1, 0), "freeze": (0, 1), "commit": (-1, -1), "release": (0, -1)}


def append_operations(*, wallets: tuple[int, int], op_type: str, amount: int, hold_code: str | None = None) -> None:
    """Append one operation to every wallet of the id range, in ONE statement: next seq,
    before/after from the wallet, prev_hash = the wallet's chain head, hash computed by the
    same SQL definition the health check uses; the wallets are updated from the rows."""
    balance_sign, held_sign = _EFFECTS[op_type]
    hold_join = "JOIN wallet_hold h ON h.wallet_id = w.id AND h.action_code = %(hold_code)s" if hold_code else ""
    hold_id = "h.id" if hold_code else "NULL::uuid"
    sql(
        f"""
        WITH ins AS (
            INSERT INTO wallet_balanceoperation (wallet_id, seq, type, amount, balance_before, balance_after,
                held_before, held_after, hold_id, refund_of_id, source, reason, reference, actor_id,
                idempotency_key, request_fingerprint, created_at, prev_hash, hash)
            SELECT o.wallet_id, o.seq, o.type, o.amount, o.balance_before, o.balance_after, o.held_before,
                   o.held_after, o.hold_id, o.refund_of_id, o.source, o.reason, o.reference, o.actor_id,
                   o.idempotency_key, '', o.created_at, o.prev_hash, {operation_hash_sql("o")}
            FROM (
                SELECT w.id AS wallet_id, w.last_seq + 1 AS seq, %(type)s::varchar AS type,
                       %(amount)s::bigint AS amount,
                       w.balance AS balance_before, w.balance + %(balance_delta)s AS balance_after,
                       w.held AS held_before, w.held + %(held_delta)s AS held_after,
                       {hold_id} AS hold_id, NULL::bigint AS refund_of_id, 'system'::varchar AS source,
                       'bench data'::varchar AS reason, ''::varchar AS reference, NULL::bigint AS actor_id,
                       NULL::varchar AS idempotency_key, now() AS created_at, w.last_hash AS prev_hash
                FROM wallet_wallet w {hold_join}
                WHERE w.id BETWEEN %(low)s AND %(high)s
            ) o
            RETURNING wallet_id, seq, balance_after, held_after, hash
        )
        UPDATE wallet_wallet w
        SET balance = ins.balance_after, held = ins.held_after, last_seq = ins.seq, last_hash = ins.hash
        FROM ins WHERE w.id = ins.wallet_id
        """,
        {"type": op_type, "amount": amount, "balance_delta": balance_sign * amount,
         "held_delta": held_sign * amount, "hold_code": hold_code, "low": wallets[0], "high": wallets[1]},
    )


def create_holds(*, wallets: tuple[int, int], amount: int, hold_code: str) -> None:
    sql(
        """INSERT INTO wallet_hold (id, wallet_id, amount, captured_amount, status, action_code, source,
                                    idempotency_key, expires_at, created_at, resolved_at)
           SELECT gen_random_uuid(), id, %s, NULL, 'pending', %s, 'api', NULL, now() + interval '1 day', now(), NULL
           FROM wallet_wallet WHERE id BETWEEN %s AND %s""",
        [amount, hold_code, wallets[0], wallets[1]],
    )


def resolve_holds(*, wallets: tuple[int, int], hold_code: str, status: str) -> None:
    captured = "amount" if status == "captured" else "NULL"
    sql(
        f"""UPDATE wallet_hold SET status = %s, captured_amount = {captured}, resolved_at = now()
            WHERE action_code = %s AND wallet_id BETWEEN %s AND %s""",
        [status, hold_code, wallets[0], wallets[1]],
    )


def generate_ten_operation_wallets(count: int) -> tuple[int, int]:
    """`count` wallets with 10 operations each (and 3 holds), healthy by construction."""
    wallets = create_wallets(count)
    append_operations(wallets=wallets, op_type="credit", amount=1000)            # 1  balance 1000
    append_operations(wallets=wallets, op_type="debit", amount=10)               # 2  990
    create_holds(wallets=wallets, amount=20, hold_code="bench_a")
    append_operations(wallets=wallets, op_type="freeze", amount=20, hold_code="bench_a")   # 3 held 20
    resolve_holds(wallets=wallets, hold_code="bench_a", status="captured")
    append_operations(wallets=wallets, op_type="commit", amount=20, hold_code="bench_a")   # 4 970, held 0
    append_operations(wallets=wallets, op_type="credit", amount=100)             # 5  1070
    create_holds(wallets=wallets, amount=30, hold_code="bench_b")
    append_operations(wallets=wallets, op_type="freeze", amount=30, hold_code="bench_b")   # 6 held 30
    resolve_holds(wallets=wallets, hold_code="bench_b", status="released")
    append_operations(wallets=wallets, op_type="release", amount=30, hold_code="bench_b")  # 7 held 0
    append_operations(wallets=wallets, op_type="debit", amount=15)               # 8  1055
    create_holds(wallets=wallets, amount=25, hold_code="bench_c")
    append_operations(wallets=wallets, op_type="freeze", amount=25, hold_code="bench_c")   # 9 held 25 (pending)
    append_operations(wallets=wallets, op_type="debit", amount=5)                # 10 1050
    return wallets


def vacuum_analyze() -> None:
    for table in ("accounts_user", "wallet_wallet", "wallet_hold", "wallet_balanceoperation"):
        sql(f"VACUUM ANALYZE {table}")


def truncate_ledger() -> None:
    sql("TRUNCATE wallet_incident, wallet_balanceoperation, wallet_hold, wallet_wallet, accounts_user CASCADE")


# --- The raw-SQL baseline ---------------------------------------------------------------------


class RawLedger:
    """The services' statements, issued directly through psycopg (same transactions, locks and rows)."""

    _INSERT_OP = """INSERT INTO wallet_balanceoperation (wallet_id, seq, type, amount, balance_before,
        balance_after, held_before, held_after, hold_id, refund_of_id, source, reason, reference, actor_id,
        idempotency_key, request_fingerprint, created_at, prev_hash, hash)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s, %s, NULL, NULL, '', %s, %s, %s) RETURNING id"""
    _UPDATE_WALLET = """UPDATE wallet_wallet SET balance = %s, held = %s, last_seq = %s, last_hash = %s,
        updated_at = %s WHERE id = %s"""

    def __init__(self, params: dict):
        self.conn = psycopg.connect(**params, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def _append(self, cursor, wallet: list, *, op_type: str, amount: int, hold_id, reason: str, reference: str):
        wallet_id, balance, held, last_seq, last_hash = wallet
        balance_sign, held_sign = _EFFECTS[op_type]
        new_balance, new_held, seq = balance + balance_sign * amount, held + held_sign * amount, last_seq + 1
        created_at = datetime.now(UTC)
        digest = operation_hash(
            wallet_id=wallet_id, seq=seq, type=op_type, amount=amount, balance_before=balance,
            balance_after=new_balance, held_before=held, held_after=new_held, hold_id=hold_id, refund_of_id=None,
            source="api", reason=reason, reference=reference, actor_id=None, idempotency_key=None,
            created_at=created_at, prev_hash=last_hash,
        )
        cursor.execute(self._INSERT_OP, [wallet_id, seq, op_type, amount, balance, new_balance, held, new_held,
                                         hold_id, "api", reason, reference, created_at, last_hash, digest])
        wallet[1:] = [new_balance, new_held, seq, digest]

    def _lock_by_user(self, cursor, user_id: int) -> list:
        cursor.execute("SELECT id, balance, held, last_seq, last_hash FROM wallet_wallet WHERE user_id = %s "
                       "FOR UPDATE", [user_id])
        return list(cursor.fetchone())

    def _save(self, cursor, wallet: list) -> None:
        cursor.execute(self._UPDATE_WALLET, [*wallet[1:], datetime.now(UTC), wallet[0]])

    def consume(self, user_id: int) -> None:
        with self.conn.transaction(), self.conn.cursor() as cursor:
            wallet = self._lock_by_user(cursor, user_id)
            if wallet[1] - wallet[2] < CONSUME_COST:
                raise RuntimeError("bench wallet ran dry")
            self._append(cursor, wallet, op_type="debit", amount=CONSUME_COST, hold_id=None, reason="bench",
                         reference="bench")
            self._save(cursor, wallet)

    def freeze_commit(self, user_id: int) -> None:
        with self.conn.transaction(), self.conn.cursor() as cursor:
            wallet = self._lock_by_user(cursor, user_id)
            if wallet[1] - wallet[2] < FREEZE_COST:
                raise RuntimeError("bench wallet ran dry")
            now = datetime.now(UTC)
            hold_id = uuid.uuid4()
            cursor.execute(
                """INSERT INTO wallet_hold (id, wallet_id, amount, captured_amount, status, action_code, source,
                   idempotency_key, expires_at, created_at, resolved_at)
                   VALUES (%s, %s, %s, NULL, 'pending', 'bench', 'api', NULL, %s, %s, NULL)""",
                [hold_id, wallet[0], FREEZE_COST, now + timedelta(seconds=60), now])
            self._append(cursor, wallet, op_type="freeze", amount=FREEZE_COST, hold_id=hold_id, reason="",
                         reference="bench")
            self._save(cursor, wallet)
        with self.conn.transaction(), self.conn.cursor() as cursor:
            cursor.execute("SELECT h.id, h.amount, h.status, h.expires_at, w.id, w.balance, w.held, w.last_seq, "
                           "w.last_hash FROM wallet_hold h JOIN wallet_wallet w ON w.id = h.wallet_id "
                           "WHERE h.id = %s FOR UPDATE OF w", [hold_id])
            wallet = list(cursor.fetchone()[4:])
            cursor.execute("UPDATE wallet_hold SET status = 'captured', captured_amount = %s, resolved_at = %s "
                           "WHERE id = %s AND status = 'pending'", [CAPTURE, datetime.now(UTC), hold_id])
            if cursor.rowcount != 1:
                raise RuntimeError("hold not pending")
            self._append(cursor, wallet, op_type="release", amount=FREEZE_COST - CAPTURE, hold_id=hold_id,
                         reason="unused part of a partly captured hold", reference="bench")
            self._append(cursor, wallet, op_type="commit", amount=CAPTURE, hold_id=hold_id, reason="",
                         reference="bench")
            self._save(cursor, wallet)


# --- The service-layer side ---------------------------------------------------------------------


class ServiceLedger:
    def __init__(self):
        from phoenix.accounts.models import User

        self._users: dict[int, User] = {}
        self._user_model = User

    def _user(self, user_id: int):
        # A real caller has the user object already (request.user / resolve_subject_user).
        if user_id not in self._users:
            self._users[user_id] = self._user_model(pk=user_id)
        return self._users[user_id]

    def consume(self, user_id: int) -> None:
        from wallet.services import wallet_debit

        wallet_debit(user=self._user(user_id), amount=CONSUME_COST, source="api", reason="bench", reference="bench")

    def freeze_commit(self, user_id: int) -> None:
        from wallet.services import wallet_commit, wallet_freeze

        hold = wallet_freeze(user=self._user(user_id), amount=FREEZE_COST, action_code="bench", ttl_seconds=60)
        wallet_commit(hold_id=hold.pk, amount=CAPTURE)

    def close(self) -> None:
        connection.close()


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
        ledger = RawLedger(params) if layer == "raw" else ServiceLedger()
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
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
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
    from wallet.selectors import wallet_health_findings

    timings, findings = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        findings = wallet_health_findings()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), len(findings)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"
