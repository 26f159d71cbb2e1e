"""The SQL statements of the ledger's hot path, with their column lists derived from the models.

The hot path (lock the wallet, insert the operation, update the wallet, insert/resolve a
hold) is plain SQL rather than ORM calls: on the benchmark (`manage.py bench_wallet`) the
ORM's per-statement query compilation and save() machinery were most of the service
layer's CPU per operation (a `select_for_update().get()` alone cost ~0.5 ms CPU against
~0.2 ms for the same statement as SQL). The statements, row locks and transactions are
exactly those the ORM issued; rows come back as model instances through `Model.from_db`.

Every column list is computed from the model's concrete fields (`columns`), here and only
here: the services, the benchmark (`bench`) and the raw-SQL tests build their statements
from these functions, and `wallet/tests/test_models.py` checks them against the live tables.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import models

from phoenix.core.db import prepared_cursor
from wallet.models import LOT_ORDER_SQL, BalanceOperation, EnergyLot, Hold, LotConsumption, Wallet


def columns(model: type[models.Model], *, exclude: Iterable[str] = ()) -> tuple[str, ...]:
    """The table columns of `model`, in field order (foreign keys as `<name>_id`)."""
    excluded = set(exclude)
    return tuple(f.column for f in model._meta.concrete_fields if f.column not in excluded)


def insert_sql(model: type[models.Model], *, exclude: Iterable[str] = (), returning: str | None = None) -> str:
    """`INSERT INTO <table> (<columns>) VALUES (%s, ...)`; parameters in `columns()` order."""
    names = columns(model, exclude=exclude)
    statement = (f"INSERT INTO {model._meta.db_table} ({', '.join(names)}) "
                 f"VALUES ({', '.join(['%s'] * len(names))})")
    return f"{statement} RETURNING {returning}" if returning else statement


def insert_select_sql(model: type[models.Model], expressions: Mapping[str, str], *, source: str,
                      exclude: Iterable[str] = (), returning: str | None = None) -> str:
    """`INSERT INTO <table> (<columns>) SELECT <expression per column> FROM <source>`.

    `expressions` must name every column of `columns(model, exclude=...)`, no more: a field
    added to the model without an expression fails here instead of inserting a default.
    """
    names = columns(model, exclude=exclude)
    if set(expressions) != set(names):
        raise ValueError(f"{model._meta.db_table}: expressions for {sorted(expressions)} "
                         f"but the columns are {sorted(names)}")
    selected = ", ".join(f"{expressions[name]} AS {name}" for name in names)
    statement = f"INSERT INTO {model._meta.db_table} ({', '.join(names)}) SELECT {selected} FROM {source}"
    return f"{statement} RETURNING {returning}" if returning else statement


def row_params(instance: models.Model, *, exclude: Iterable[str] = ()) -> list:
    """The values of `instance` for `insert_sql(type(instance), exclude=...)`, in the same order."""
    excluded = set(exclude)
    return [getattr(instance, f.attname) for f in instance._meta.concrete_fields if f.column not in excluded]


def qualified(names: Iterable[str], alias: str) -> str:
    return ", ".join(f"{alias}.{name}" for name in names)


# --- The statements ------------------------------------------------------------------------------

WALLET_COLUMNS = columns(Wallet)
HOLD_COLUMNS = columns(Hold)
# The id is the database's (bigserial); everything else is written by the services.
OPERATION_INSERT_EXCLUDE = ("id",)

LOCK_WALLET_OF_USER_SQL = f"SELECT {', '.join(WALLET_COLUMNS)} FROM wallet_wallet WHERE user_id = %s FOR UPDATE"
# The hold and its wallet in one statement; only the wallet row is locked (FOR UPDATE OF w).
LOCK_HOLD_SQL = (
    f"SELECT {qualified(HOLD_COLUMNS, 'h')}, {qualified(WALLET_COLUMNS, 'w')} "
    "FROM wallet_hold h JOIN wallet_wallet w ON w.id = h.wallet_id WHERE h.id = %s {user_filter} FOR UPDATE OF w"
)
OPERATION_INSERT_COLUMNS = columns(BalanceOperation, exclude=OPERATION_INSERT_EXCLUDE)
# Every column, the id first (Model.from_db's positional order).
OPERATION_FIELD_NAMES = columns(BalanceOperation)
INSERT_OPERATION_SQL = insert_sql(BalanceOperation, exclude=OPERATION_INSERT_EXCLUDE, returning="id")
INSERT_HOLD_SQL = insert_sql(Hold)
UPDATE_WALLET_SQL = (
    "UPDATE wallet_wallet SET balance = %s, held = %s, last_seq = %s, last_hash = %s, updated_at = %s WHERE id = %s"
)
# Conditional: a hold leaves `pending` once, whatever the caller read before.
RESOLVE_HOLD_SQL = (
    "UPDATE wallet_hold SET status = %s, captured_amount = %s, resolved_at = %s WHERE id = %s AND status = 'pending'"
)

# A commit's true-up, written right after the hold is captured.
HOLD_OVERRUN_SQL = "UPDATE wallet_hold SET overrun_amount = %s WHERE id = %s AND status = 'captured'"
EXTEND_HOLD_SQL = "UPDATE wallet_hold SET expires_at = %s WHERE id = %s AND status = 'pending'"


# --- Energy lots -------------------------------------------------------------------------------

LOT_INSERT_EXCLUDE = ("id",)
LOT_COLUMNS = columns(EnergyLot)
CONSUMPTION_COLUMNS = columns(LotConsumption, exclude=("id",))


def _lots_pick_sql(kind: str) -> str:
    """CTEs `pick` (lot, take) .. `moved_rows`: take up to `amount` from the wallet's live,
    unexpired lots in THE consumption order (one window pass), move it (`draw`: remaining -,
    `reserve`: reserved +) and write one consumption row per lot for the operation `op`.
    Parameters: wallet id, now, amount, amount, now."""
    column, sign = {"draw": ("remaining", "-"), "reserve": ("reserved", "+")}[kind]
    return f"""
    candidates AS (
        SELECT l.id, l.remaining - l.reserved AS free,
               (SUM(l.remaining - l.reserved) OVER (ORDER BY {LOT_ORDER_SQL}))::bigint AS upto
        FROM wallet_energylot l
        WHERE l.wallet_id = %s AND l.remaining > l.reserved AND (l.expires_at IS NULL OR l.expires_at > %s)
    ), pick AS (
        SELECT id, LEAST(free, %s - (upto - free)) AS take FROM candidates WHERE upto - free < %s
    ), moved AS (
        UPDATE wallet_energylot l SET {column} = l.{column} {sign} p.take FROM pick p WHERE l.id = p.id
        RETURNING l.id, p.take, l.category
    ), moved_rows AS (
        INSERT INTO wallet_lotconsumption ({', '.join(CONSUMPTION_COLUMNS)})
        SELECT moved.id, op.id, '{kind}', moved.take, %s FROM moved, op
        RETURNING id, lot_id, amount
    )"""


@dataclass(frozen=True)
class Rider:
    """Writes that ride on a debit's statement instead of costing a round trip of their own:
    CTEs that may read the debit's `op` (the operation inserted: `op.id`), and the one value
    they add to the statement's answer (`answer`, an SQL expression over them). Written like
    the rest of this module, with named parameters (`%(name)s`); `rider()` turns them into the
    debit statement's positional ones. Built by the caller that knows what rides
    (wallet.services.energy: the breaker's charge and the usage event)."""

    ctes: str
    answer: str
    params: tuple


_NAMED_PARAMETER = re.compile(r"%\((\w+)\)s")


@functools.lru_cache(maxsize=32)
def _positional(statement: str) -> tuple[str, tuple[str, ...]]:
    return _NAMED_PARAMETER.sub("%s", statement), tuple(_NAMED_PARAMETER.findall(statement))


def rider(ctes: str, *, answer: str, params: Mapping) -> Rider:
    positional, names = _positional(ctes)
    return Rider(ctes=positional, answer=answer, params=tuple(params[name] for name in names))


@functools.lru_cache(maxsize=32)
def _operation_and_lots_sql(kind: str, *, save_wallet: bool = False, rider_ctes: str = "",
                            rider_answer: str = "") -> str:
    """ONE statement: insert the operation (INSERT_OPERATION_SQL's parameters first) and take
    its amount from the lots; answers (operation id, lot ids, amounts taken, lot categories), in
    the order of the consumption rows (the order the ledger's history lists them).
    `save_wallet`: the wallet's row is written in the same statement too (UPDATE_WALLET_SQL's
    parameters next), for a caller whose operation is the last of its transaction.
    `rider_ctes` / `rider_answer` (a `Rider`'s, parameters last): more CTEs, and their value
    as a fifth column. A data-modifying CTE runs exactly once whether or not it is read."""
    saved = f", saved AS ({UPDATE_WALLET_SQL})" if save_wallet else ""
    rides = f", {rider_ctes}" if rider_ctes else ""
    answer = f", ({rider_answer})" if rider_answer else ""
    return (f"WITH op AS ({INSERT_OPERATION_SQL}), {_lots_pick_sql(kind)}{saved}{rides} "
            "SELECT op.id, array_remove(array_agg(r.lot_id ORDER BY r.id), NULL), "
            "array_remove(array_agg(r.amount ORDER BY r.id), NULL), "
            f"array_remove(array_agg(m.category ORDER BY r.id), NULL){answer} "
            "FROM op LEFT JOIN moved_rows r ON true LEFT JOIN moved m ON m.id = r.lot_id GROUP BY op.id")


def debit_with_rider_sql(ride: Rider) -> str:
    """A debit's whole write in one statement (INSERT_OPERATION_DRAW_LOTS_SAVE_SQL) with `ride` on it."""
    return _operation_and_lots_sql("draw", save_wallet=True, rider_ctes=ride.ctes, rider_answer=ride.answer)


# The consume path's second statement (a debit's draw, a freeze's reservation).
INSERT_OPERATION_DRAW_LOTS_SQL = _operation_and_lots_sql("draw")
# A debit's whole write in one statement: operation, lots, wallet row.
INSERT_OPERATION_DRAW_LOTS_SAVE_SQL = _operation_and_lots_sql("draw", save_wallet=True)
INSERT_OPERATION_RESERVE_LOTS_SQL = _operation_and_lots_sql("reserve")
INSERT_LOT_SQL = insert_sql(EnergyLot, exclude=LOT_INSERT_EXCLUDE, returning="id")
# The energy a wallet can draw now (its live, unexpired, unreserved lots).
LOTS_DRAWABLE_SQL = ("SELECT COALESCE(SUM(remaining - reserved), 0) FROM wallet_energylot "
                     "WHERE wallet_id = %s AND remaining > reserved AND (expires_at IS NULL OR expires_at > %s)")


# A pending hold's reservations: (lot id, lot expiry, amount), in the consumption order.
HOLD_RESERVATIONS_SQL = f"""
SELECT l.id, l.expires_at, c.amount
FROM wallet_lotconsumption c
JOIN wallet_balanceoperation o ON o.id = c.operation_id
JOIN wallet_energylot l ON l.id = c.lot_id
WHERE o.hold_id = %s AND o.type = 'freeze' AND c.kind = 'reserve'
ORDER BY {LOT_ORDER_SQL}
"""


def lots_apply_sql(rows: int) -> str:
    """Move energy on lots as given by `rows` (operation id, lot id, kind, amount) tuples: one
    UPDATE of every lot touched (net per lot), one INSERT of the consumption rows."""
    values = ", ".join(["(%s::bigint, %s::bigint, %s::varchar, %s::bigint)"] * rows)
    return f"""
    WITH v(operation_id, lot_id, kind, amount) AS (VALUES {values}),
    per_lot AS (
        SELECT lot_id,
               SUM(CASE kind WHEN 'draw' THEN -amount WHEN 'restore' THEN amount ELSE 0 END) AS remaining_delta,
               SUM(CASE kind WHEN 'reserve' THEN amount WHEN 'unreserve' THEN -amount ELSE 0 END) AS reserved_delta
        FROM v GROUP BY lot_id
    ), moved AS (
        UPDATE wallet_energylot l SET remaining = l.remaining + p.remaining_delta,
                                      reserved = l.reserved + p.reserved_delta
        FROM per_lot p WHERE l.id = p.lot_id RETURNING l.id
    )
    INSERT INTO wallet_lotconsumption ({', '.join(CONSUMPTION_COLUMNS)})
    SELECT lot_id, operation_id, kind, amount, %s FROM v
    """


def fetch_one(statement: str, params) -> tuple | None:
    with prepared_cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()


def execute(statement: str, params) -> int:
    """Run a write; returns the number of rows it touched."""
    with prepared_cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount
