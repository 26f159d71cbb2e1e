"""The benchmarks' throw-away database and its set-based data generation.

Everything runs in a dedicated database (``phoenix_bench_<pid>``) created next to the
configured one and dropped at the end: the command points Django's ``default`` alias at
it for its own process, builds only the tables the ledger needs (users, wallets, holds,
operations, energy lots and their consumption rows, the health checkpoints and job runs, the
outbound webhooks' outbox, with every CHECK/UNIQUE and the append-only triggers), and never
touches the real data.

Health data: wallets with 10 operations each (credit, debit, freeze/commit, credit,
freeze/release, debit, a pending freeze, debit) are generated set-based in SQL with
their real hash chain (the column lists come from wallet.services.sql, like the services').
"""

from __future__ import annotations

import os

import psycopg
from django.apps import apps
from django.db import connection, connections

from phoenix.core.db import APPEND_ONLY_FUNCTION_SQL, append_only_trigger
from wallet.hashing import operation_hash_sql
from wallet.models import GENESIS_HASH, OPERATION_EFFECTS, BalanceOperation, EnergyLot, Hold, Wallet
from wallet.services.sql import OPERATION_INSERT_EXCLUDE, insert_select_sql

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
        try:
            template = self._template()
            if template:
                self._admin.execute(f'CREATE DATABASE "{self.name}" TEMPLATE "{template}"')
            else:
                self._admin.execute(f'CREATE DATABASE "{self.name}"')
            self._settings["NAME"] = self.name  # new connections (every thread's) go to the bench DB
            connections.close_all()
            if not template:
                self._create_schema()
        except BaseException:
            self.__exit__()  # never leave the connection settings pointing at the bench DB
            raise
        return self

    def _template(self) -> str | None:
        """A database to copy instead of building the schema (None: build it)."""
        return None

    def __exit__(self, *exc) -> None:
        connections.close_all()
        self._settings["NAME"] = self._original_name
        if not self.keep:
            self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.close()

    @staticmethod
    def _create_schema() -> None:
        trigger_sql = (APPEND_ONLY_FUNCTION_SQL + append_only_trigger("wallet_balanceoperation").sql
                       + append_only_trigger("wallet_lotconsumption").sql)
        models = [apps.get_model(label) for label in (
            "contenttypes.ContentType", "auth.Permission", "auth.Group", "accounts.User",
            "wallet.Wallet", "wallet.Hold", "wallet.BalanceOperation", "wallet.Incident",
            "wallet.EnergyLot", "wallet.LotConsumption",
            # the health run's checkpoints and the JobRun row it leaves
            "wallet.HealthCheckpoint", "core.JobRun",
            # the outbox every ledger write emits into (no endpoint here: it writes nothing)
            "outbound.Endpoint", "outbound.Event", "outbound.SubjectSequence", "outbound.Delivery",
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
               FROM generate_series(%s, %s) g RETURNING id""",
            [start, start + count - 1],
        )
        # The ids the sequence gave (past MAX(id) where rolled-back inserts used some).
        user_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            insert_select_sql(Wallet, {
                "user_id": "id", "balance": "0", "held": "0", "last_seq": "0", "last_hash": "%s",
                "created_at": "now()", "updated_at": "now()",
            }, exclude=("id",), source="accounts_user WHERE id BETWEEN %s AND %s ORDER BY id", returning="id"),
            [GENESIS_HASH, min(user_ids), max(user_ids)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return min(ids), max(ids)


def append_operations(*, wallets: tuple[int, int], op_type: str, amount: int, hold_code: str | None = None) -> None:
    """Append one operation to every wallet of the id range, in ONE statement: next seq,
    before/after from the wallet, prev_hash = the wallet's chain head, hash computed by the
    same SQL definition the health check uses; the wallets are updated from the rows."""
    balance_sign, held_sign = OPERATION_EFFECTS[op_type]
    hold_join = "JOIN wallet_hold h ON h.wallet_id = w.id AND h.action_code = %(hold_code)s" if hold_code else ""
    # The next row of each wallet, every column but the hash (computed over these below).
    next_rows = {
        "wallet_id": "w.id", "seq": "w.last_seq + 1", "type": "%(type)s::varchar", "amount": "%(amount)s::bigint",
        "balance_before": "w.balance", "balance_after": "w.balance + %(balance_delta)s",
        "held_before": "w.held", "held_after": "w.held + %(held_delta)s",
        "hold_id": "h.id" if hold_code else "NULL::uuid", "refund_of_id": "NULL::bigint",
        # Consumption as the API writes it (source api, the action code as reference), the rest
        # system; spread over the last 30 days (wallet by wallet, each wallet's operations a
        # minute apart, in seq order), as a live ledger is, so the dashboard's rollups have buckets.
        "source": "%(source)s::varchar", "reason": "'bench data'::varchar", "reference": "%(reference)s::varchar",
        "actor_id": "NULL::bigint", "idempotency_key": "NULL::varchar", "request_fingerprint": "''::varchar",
        "created_at": "now() - (w.id %% 720) * interval '1 hour' + w.last_seq * interval '1 minute' "
                      "- interval '1 hour'",
        "prev_hash": "w.last_hash",
    }
    selected = ", ".join(f"{expression} AS {name}" for name, expression in next_rows.items())
    expressions = {name: f"o.{name}" for name in next_rows} | {"hash": operation_hash_sql("o")}
    insert = insert_select_sql(
        BalanceOperation, expressions, exclude=OPERATION_INSERT_EXCLUDE,
        source=f"(SELECT {selected} FROM wallet_wallet w {hold_join} "
               "WHERE w.id BETWEEN %(low)s AND %(high)s) o",
        returning="wallet_id, seq, balance_after, held_after, hash",
    )
    sql(
        f"""
        WITH ins AS ({insert})
        UPDATE wallet_wallet w
        SET balance = ins.balance_after, held = ins.held_after, last_seq = ins.seq, last_hash = ins.hash
        FROM ins WHERE w.id = ins.wallet_id
        """,
        {"type": op_type, "amount": amount, "balance_delta": balance_sign * amount,
         "source": "api" if op_type in ("debit", "commit") else "system",
         "reference": "conseil_rapide" if op_type in ("debit", "commit") else "",
         "held_delta": held_sign * amount, "hold_code": hold_code, "low": wallets[0], "high": wallets[1]},
    )


def create_lots(*, wallets: tuple[int, int], lots: list[tuple[str, int, int | None]]) -> None:
    """Give every wallet of the range the lots (category, amount, expiry in days or None), full,
    in ONE statement; their amounts must add up to what the wallets' credits posted."""
    for category, amount, days in lots:
        sql(
            insert_select_sql(EnergyLot, {
                "wallet_id": "id", "category": "%s", "amount": "%s", "remaining": "%s", "reserved": "0",
                "priority": "50",
                "expires_at": "CASE WHEN %s::int IS NULL THEN NULL ELSE now() + %s * interval '1 day' END",
                "operation_id": "NULL", "reference": "'bench'", "price_cents": "0", "created_at": "now()",
            }, exclude=("id",), source="wallet_wallet WHERE id BETWEEN %s AND %s"),
            [category, amount, amount, days, days or 0, wallets[0], wallets[1]],
        )


def create_holds(*, wallets: tuple[int, int], amount: int, hold_code: str) -> None:
    sql(
        insert_select_sql(Hold, {
            "id": "gen_random_uuid()", "wallet_id": "id", "amount": "%s", "captured_amount": "NULL",
            "status": "'pending'", "action_code": "%s", "source": "'api'", "idempotency_key": "NULL",
            "expires_at": "now() + interval '1 day'", "created_at": "now()", "resolved_at": "NULL",
            "ttl_seconds": "86400", "max_expires_at": "now() + interval '1 day'", "overrun_amount": "NULL",
        }, source="wallet_wallet WHERE id BETWEEN %s AND %s"),
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
    # The lots' end state: one never-expiring lot holding the balance, the pending hold's 25
    # reserved on it against the freeze (#9), like the opening lots of migration 0004.
    create_lots(wallets=wallets, lots=[("legacy", 1050, None)])
    sql("UPDATE wallet_energylot SET reserved = 25 WHERE wallet_id BETWEEN %s AND %s", [wallets[0], wallets[1]])
    sql("""INSERT INTO wallet_lotconsumption (lot_id, operation_id, kind, amount, created_at)
           SELECT l.id, o.id, 'reserve', 25, now() FROM wallet_energylot l
           JOIN wallet_balanceoperation o ON o.wallet_id = l.wallet_id AND o.seq = 9
           WHERE l.wallet_id BETWEEN %s AND %s""", [wallets[0], wallets[1]])
    return wallets


def vacuum_analyze() -> None:
    for table in ("accounts_user", "wallet_wallet", "wallet_hold", "wallet_balanceoperation", "wallet_energylot",
                  "wallet_lotconsumption"):
        sql(f"VACUUM ANALYZE {table}")


def truncate_ledger() -> None:
    sql("TRUNCATE wallet_incident, wallet_lotconsumption, wallet_energylot, wallet_balanceoperation, wallet_hold, "
        "wallet_wallet, accounts_user CASCADE")
