"""The wallet health check: every anomaly of every wallet in ONE set-based query."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import connection

from wallet.hashing import operation_hash_sql
from wallet.models import GENESIS_HASH, OPERATION_EFFECTS, IncidentSeverity


@dataclass(frozen=True)
class HealthFinding:
    wallet_id: int
    user_id: int
    severity: str  # IncidentSeverity
    code: str
    detail: dict[str, Any] = field(default_factory=dict)


# Codes, and what they mean:
CRITICAL_CODES = {
    "negative_balance": "balance < 0",
    "negative_held": "held < 0",
    "held_exceeds_balance": "held > balance",
    "ledger_balance_mismatch": "balance differs from the replay of its operations",
    "ledger_held_mismatch": "held differs from the replay of its operations",
    "ledger_discontinuity": "an operation's before-values differ from the previous one's after-values",
    "hash_chain_broken": "an operation was altered, removed or inserted outside the services",
    "lots_balance_mismatch": "balance differs from the sum of the wallet's lots' remaining",
    "lot_consumption_mismatch": "a lot's remaining (or reserved) differs from what its consumption rows say",
    "operation_lots_mismatch": "an operation's lot consumption rows do not add up to its amount",
}

# What an operation's consumption rows must add up to, per kind, by operation type (an
# operation without rows is from before lots, or moves no lot: held corrections).
_LOT_KINDS_BY_TYPE = {
    "debit": ("draw",), "lot_expiry": ("draw",), "commit": ("draw", "unreserve"),
    "freeze": ("reserve",), "release": ("unreserve",), "credit": ("restore",),
}
_LOT_KINDS = ("draw", "restore", "reserve", "unreserve")


def _operation_rows_agree_sql() -> str:
    """The row `r` (an operation's type and amount, its rows summed per kind) agrees."""
    cases = []
    for op_type, kinds in _LOT_KINDS_BY_TYPE.items():
        terms = " AND ".join(f"r.{k} = {'r.amount' if k in kinds else '0'}" for k in _LOT_KINDS)
        cases.append(f"(r.type = '{op_type}' AND {terms})")
    return "(" + " OR ".join(cases) + ")"



WARNING_CODES = {
    "held_pending_mismatch": "held differs from the sum of pending holds",
}


def _signed_sum_sql(effect_index: int) -> str:
    """SUM of +amount / -amount per type, generated from OPERATION_EFFECTS (one source)."""
    plus = [t for t, effect in OPERATION_EFFECTS.items() if effect[effect_index] > 0]
    minus = [t for t, effect in OPERATION_EFFECTS.items() if effect[effect_index] < 0]

    def in_list(types):
        return ", ".join(f"'{t}'" for t in types)

    return (
        f"SUM(CASE WHEN type IN ({in_list(plus)}) THEN amount "
        f"WHEN type IN ({in_list(minus)}) THEN -amount ELSE 0 END)"
    )


def _operation_rows_sql(*, only_some_wallets: bool) -> str:
    """Per operation with lot rows: its wallet, type, amount and rows summed per kind. Shaped
    so the plan stays linear whatever the planner's statistics say: some wallets, their
    operations each with an index lookup of its rows; every wallet, one pass over the rows
    grouped by operation, each operation looked up by primary key."""
    sums = ", ".join(f"COALESCE(SUM(c.amount) FILTER (WHERE c.kind = '{k}'), 0) AS {k}" for k in _LOT_KINDS)
    if only_some_wallets:
        return f"""SELECT o.id AS operation_id, o.wallet_id, o.type, o.amount, x.*
        FROM wallet_balanceoperation o
        CROSS JOIN LATERAL (SELECT COUNT(*) AS rows, {sums} FROM wallet_lotconsumption c
                            WHERE c.operation_id = o.id) x
        WHERE o.wallet_id = ANY(%(wallet_ids)s)"""
    lookup = "(SELECT o.{column} FROM wallet_balanceoperation o WHERE o.id = x.operation_id) AS {column}"
    return f"""SELECT x.*, {", ".join(lookup.format(column=column) for column in ("wallet_id", "type", "amount"))}
        FROM (SELECT c.operation_id, COUNT(*) AS rows, {sums} FROM wallet_lotconsumption c
              GROUP BY c.operation_id) x"""


def _health_sql(*, only_some_wallets: bool) -> str:
    ops_filter = "WHERE o.wallet_id = ANY(%(wallet_ids)s)" if only_some_wallets else ""
    holds_filter = "AND h.wallet_id = ANY(%(wallet_ids)s)" if only_some_wallets else ""
    wallets_filter = "w.id = ANY(%(wallet_ids)s) AND" if only_some_wallets else ""
    lots_filter = "WHERE l.wallet_id = ANY(%(wallet_ids)s)" if only_some_wallets else ""
    # One statement: a window pass over the operations (hash recomputed, links and
    # before/after continuity checked), one aggregate per wallet, one over pending holds,
    # joined to the wallets. Linear in rows; the planner walks UNIQUE(wallet, seq).
    return f"""
    WITH op AS (
        SELECT o.wallet_id, o.seq, o.type, o.amount, o.prev_hash, o.hash,
               o.balance_before, o.held_before,
               {operation_hash_sql("o")} AS recomputed_hash,
               LAG(o.hash) OVER w AS prev_row_hash,
               LAG(o.balance_after) OVER w AS prev_balance_after,
               LAG(o.held_after) OVER w AS prev_held_after,
               ROW_NUMBER() OVER w AS position,
               LEAD(o.seq) OVER w IS NULL AS is_last
        FROM wallet_balanceoperation o
        {ops_filter}
        WINDOW w AS (PARTITION BY o.wallet_id ORDER BY o.seq)
    ), ledger AS (
        SELECT wallet_id,
               {_signed_sum_sql(0)} AS replay_balance,
               {_signed_sum_sql(1)} AS replay_held,
               COUNT(*) FILTER (WHERE hash <> recomputed_hash) AS altered_rows,
               COUNT(*) FILTER (
                   WHERE prev_hash <> COALESCE(prev_row_hash, '{GENESIS_HASH}') OR seq <> position
               ) AS broken_links,
               COUNT(*) FILTER (
                   WHERE position > 1
                     AND (balance_before <> prev_balance_after OR held_before <> prev_held_after)
               ) AS discontinuities,
               MAX(seq) AS max_seq,
               MAX(hash) FILTER (WHERE is_last) AS head_hash
        FROM op GROUP BY wallet_id
    ), lot_totals AS (
        -- Per lot, its consumption rows through the lot index (a correlated lookup per lot: the
        -- plan stays linear whatever the planner's statistics say).
        SELECT l.wallet_id, SUM(l.remaining) AS lots_remaining,
               COUNT(*) FILTER (
                   WHERE l.remaining <> l.amount + l.remaining_delta OR l.reserved <> l.reserved_delta
               ) AS lots_disagreeing
        FROM (
            SELECT l.wallet_id, l.amount, l.remaining, l.reserved,
                   COALESCE((SELECT SUM(CASE c.kind WHEN 'draw' THEN -c.amount WHEN 'restore' THEN c.amount
                                             ELSE 0 END)
                             FROM wallet_lotconsumption c WHERE c.lot_id = l.id), 0) AS remaining_delta,
                   COALESCE((SELECT SUM(CASE c.kind WHEN 'reserve' THEN c.amount WHEN 'unreserve' THEN -c.amount
                                             ELSE 0 END)
                             FROM wallet_lotconsumption c WHERE c.lot_id = l.id), 0) AS reserved_delta
            FROM wallet_energylot l
            {lots_filter}
        ) l
        GROUP BY l.wallet_id
    ), operation_rows AS MATERIALIZED (
        {_operation_rows_sql(only_some_wallets=only_some_wallets)}
    ), operation_lots AS (
        SELECT r.wallet_id, COUNT(*) AS operations_disagreeing
        FROM operation_rows r
        WHERE r.rows > 0 AND NOT {_operation_rows_agree_sql()}
        GROUP BY r.wallet_id
    ), pending AS (
        SELECT h.wallet_id, SUM(h.amount) AS pending_held
        FROM wallet_hold h WHERE h.status = 'pending' {holds_filter}
        GROUP BY h.wallet_id
    )
    SELECT w.id, w.user_id, w.balance, w.held, w.last_seq, w.last_hash,
           COALESCE(l.replay_balance, 0), COALESCE(l.replay_held, 0),
           COALESCE(l.altered_rows, 0), COALESCE(l.broken_links, 0),
           COALESCE(l.discontinuities, 0), COALESCE(l.max_seq, 0),
           COALESCE(l.head_hash, '{GENESIS_HASH}'), COALESCE(p.pending_held, 0),
           COALESCE(lt.lots_remaining, 0), COALESCE(lt.lots_disagreeing, 0),
           COALESCE(ol.operations_disagreeing, 0)
    FROM wallet_wallet w
    LEFT JOIN ledger l ON l.wallet_id = w.id
    LEFT JOIN pending p ON p.wallet_id = w.id
    LEFT JOIN lot_totals lt ON lt.wallet_id = w.id
    LEFT JOIN operation_lots ol ON ol.wallet_id = w.id
    WHERE {wallets_filter} (
        w.balance < 0 OR w.held < 0 OR w.held > w.balance
        OR w.balance <> COALESCE(l.replay_balance, 0) OR w.held <> COALESCE(l.replay_held, 0)
        OR COALESCE(l.altered_rows, 0) > 0 OR COALESCE(l.broken_links, 0) > 0
        OR COALESCE(l.discontinuities, 0) > 0
        OR w.last_seq <> COALESCE(l.max_seq, 0)
        OR w.last_hash <> COALESCE(l.head_hash, '{GENESIS_HASH}')
        OR w.held <> COALESCE(p.pending_held, 0)
        OR w.balance <> COALESCE(lt.lots_remaining, 0) OR COALESCE(lt.lots_disagreeing, 0) > 0
        OR COALESCE(ol.operations_disagreeing, 0) > 0
    )
    ORDER BY w.id
    """


def _add_finding(findings: list[HealthFinding], wallet_id: int, user_id: int, severity: str, code: str,
                 **detail) -> None:
    # Every code raised is in its severity's list (which the runbooks are checked against).
    if code not in (CRITICAL_CODES if severity == IncidentSeverity.CRITICAL else WARNING_CODES):
        raise ValueError(f"unknown {severity} health code {code!r}: add it to the codes above (and its runbook)")
    findings.append(HealthFinding(wallet_id, user_id, severity, code, detail))


def wallet_health_findings(*, wallet_ids: list[int] | None = None) -> list[HealthFinding]:
    """Every anomaly of every wallet (or of `wallet_ids`), in ONE set-based query."""
    only_some = wallet_ids is not None
    with connection.cursor() as cursor:
        params = {"wallet_ids": list(wallet_ids)} if only_some else None
        cursor.execute(_health_sql(only_some_wallets=only_some), params)
        rows = cursor.fetchall()

    findings: list[HealthFinding] = []
    for row in rows:
        (wallet_id, user_id, balance, held, last_seq, last_hash, replay_balance, replay_held,
         altered_rows, broken_links, discontinuities, max_seq, head_hash, pending_held,
         lots_remaining, lots_disagreeing, operations_disagreeing) = row
        replay_balance, replay_held, pending_held = int(replay_balance), int(replay_held), int(pending_held)
        lots_remaining = int(lots_remaining)

        add = partial(_add_finding, findings, wallet_id, user_id)
        critical = IncidentSeverity.CRITICAL
        if balance < 0:
            add(critical, "negative_balance", balance=balance)
        if held < 0:
            add(critical, "negative_held", held=held)
        if held > balance:
            add(critical, "held_exceeds_balance", balance=balance, held=held)
        if balance != replay_balance:
            add(critical, "ledger_balance_mismatch", balance=balance, replay_balance=replay_balance)
        if held != replay_held:
            add(critical, "ledger_held_mismatch", held=held, replay_held=replay_held)
        if discontinuities:
            add(critical, "ledger_discontinuity", operations=discontinuities)
        if altered_rows or broken_links or last_seq != max_seq or last_hash != head_hash:
            add(critical, "hash_chain_broken", altered_rows=altered_rows, broken_links=broken_links,
                wallet_last_seq=last_seq, ledger_last_seq=max_seq, head_matches=last_hash == head_hash)
        if balance != lots_remaining:
            add(critical, "lots_balance_mismatch", balance=balance, lots_remaining=lots_remaining)
        if lots_disagreeing:
            add(critical, "lot_consumption_mismatch", lots=lots_disagreeing)
        if operations_disagreeing:
            add(critical, "operation_lots_mismatch", operations=operations_disagreeing)
        if held != pending_held:
            add(IncidentSeverity.WARNING, "held_pending_mismatch", held=held, pending_holds=pending_held)
    return findings


