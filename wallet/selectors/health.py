"""The wallet health check: every anomaly of every wallet in ONE set-based query, in full from
genesis (`wallet_health_findings`, the daily run) or incrementally from each wallet's verified
checkpoint (`health_run_sql(full=False)`, the hourly run)."""

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


# The columns of one checked wallet, in this order (both statements' `checked` rows; what
# `findings_from_rows` reads). pending_held / lots_remaining are NULL where the check was not made
# (the hourly run's wallets that did not move).
_CHECKED_COLUMNS = ("id", "user_id", "balance", "held", "last_seq", "last_hash", "replay_balance", "replay_held",
                    "altered_rows", "broken_links", "discontinuities", "max_seq", "head_hash", "pending_held",
                    "lots_remaining", "lots_disagreeing", "operations_disagreeing")


def _has_finding_sql(c: str = "c") -> str:
    """True when the checked row `c` has any finding; never NULL (it also decides, negated, which
    checkpoints advance). The same conditions as `findings_from_rows`."""
    return f"""(
        {c}.balance < 0 OR {c}.held < 0 OR {c}.held > {c}.balance
        OR {c}.balance <> {c}.replay_balance OR {c}.held <> {c}.replay_held
        OR {c}.altered_rows > 0 OR {c}.broken_links > 0 OR {c}.discontinuities > 0
        OR {c}.last_seq <> {c}.max_seq OR {c}.last_hash <> {c}.head_hash
        OR ({c}.pending_held IS NOT NULL AND {c}.held <> {c}.pending_held)
        OR ({c}.lots_remaining IS NOT NULL AND {c}.balance <> {c}.lots_remaining)
        OR {c}.lots_disagreeing > 0 OR {c}.operations_disagreeing > 0
    )"""


def _lot_deltas_sql(where: str) -> str:
    """Per lot of `where`, its consumption rows summed through the lot index (a correlated lookup
    per lot: the plan stays linear whatever the planner's statistics say)."""
    return f"""SELECT l.wallet_id, l.amount, l.remaining, l.reserved,
                   COALESCE((SELECT SUM(CASE c.kind WHEN 'draw' THEN -c.amount WHEN 'restore' THEN c.amount
                                             ELSE 0 END)
                             FROM wallet_lotconsumption c WHERE c.lot_id = l.id), 0) AS remaining_delta,
                   COALESCE((SELECT SUM(CASE c.kind WHEN 'reserve' THEN c.amount WHEN 'unreserve' THEN -c.amount
                                             ELSE 0 END)
                             FROM wallet_lotconsumption c WHERE c.lot_id = l.id), 0) AS reserved_delta
            FROM wallet_energylot l {where}"""


_LOTS_DISAGREEING_SQL = ("COUNT(*) FILTER (WHERE l.remaining <> l.amount + l.remaining_delta "
                         "OR l.reserved <> l.reserved_delta)")


def _health_ctes_sql(*, only_some_wallets: bool) -> str:
    """The full check from genesis: the CTEs ending in `checked`, one row per wallet."""
    ops_filter = "WHERE o.wallet_id = ANY(%(wallet_ids)s)" if only_some_wallets else ""
    holds_filter = "AND h.wallet_id = ANY(%(wallet_ids)s)" if only_some_wallets else ""
    wallets_filter = "WHERE w.id = ANY(%(wallet_ids)s)" if only_some_wallets else ""
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
        SELECT wallet_id, COUNT(*) AS operations,
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
        SELECT l.wallet_id, SUM(l.remaining) AS lots_remaining, {_LOTS_DISAGREEING_SQL} AS lots_disagreeing
        FROM ({_lot_deltas_sql(lots_filter)}) l
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
    ), checked AS (
        SELECT w.id, w.user_id, w.balance, w.held, w.last_seq, w.last_hash,
               COALESCE(l.replay_balance, 0) AS replay_balance, COALESCE(l.replay_held, 0) AS replay_held,
               COALESCE(l.altered_rows, 0) AS altered_rows, COALESCE(l.broken_links, 0) AS broken_links,
               COALESCE(l.discontinuities, 0) AS discontinuities, COALESCE(l.max_seq, 0) AS max_seq,
               COALESCE(l.head_hash, '{GENESIS_HASH}') AS head_hash, COALESCE(p.pending_held, 0) AS pending_held,
               COALESCE(lt.lots_remaining, 0) AS lots_remaining, COALESCE(lt.lots_disagreeing, 0) AS lots_disagreeing,
               COALESCE(ol.operations_disagreeing, 0) AS operations_disagreeing,
               COALESCE(l.operations, 0) AS verified_operations
        FROM wallet_wallet w
        LEFT JOIN ledger l ON l.wallet_id = w.id
        LEFT JOIN pending p ON p.wallet_id = w.id
        LEFT JOIN lot_totals lt ON lt.wallet_id = w.id
        LEFT JOIN operation_lots ol ON ol.wallet_id = w.id
        {wallets_filter}
    )"""


def _incremental_ctes_sql() -> str:
    """The hourly check: the CTEs ending in `checked` (the wallets that moved since their
    checkpoint, every check made on their new operations) and `unmoved` (every other wallet,
    its row against its checkpoint: the same single join of wallets and checkpoints, no
    operation read).

    A wallet moved when its row's last_seq is past its checkpoint's verified_seq (no checkpoint:
    verified_seq 0, from genesis). Each moved wallet's new operations are read through
    UNIQUE(wallet, seq) by a lateral subquery per wallet (its window and aggregate keep the
    planner from turning it into a scan of the whole table): hash recomputed, prev_hash chained
    from the checkpoint's hash, seq continuous from verified_seq + 1, before-values continuous from
    the checkpoint's replayed state, replay = checkpoint + the signed sums of the new operations,
    each new operation's lot rows; then the wallet's lots and pending holds.

    What the hourly run cannot see (the daily full run, from genesis, does): a change that moves
    no wallet row past its checkpoint — an operation at or before verified_seq altered, removed or
    inserted; an operation appended behind a wallet row left as it was; a lot, lot-consumption row
    or hold altered on a wallet with no new operation; a wallet row rewritten to match its
    checkpoint exactly.
    """
    return f"""
    WITH scanned AS MATERIALIZED (
        -- ONE pass over the wallets and their checkpoints: the wallets that moved, and those that
        -- did not but whose row disagrees with their checkpoint (the rest are done with).
        SELECT s.* FROM (
            SELECT w.id, w.user_id, w.balance, w.held, w.last_seq, w.last_hash,
                   COALESCE(k.verified_seq, 0) AS verified_seq,
                   COALESCE(k.verified_hash, '{GENESIS_HASH}') AS verified_hash,
                   COALESCE(k.replay_balance, 0) AS checkpoint_balance,
                   COALESCE(k.replay_held, 0) AS checkpoint_held,
                   w.last_seq > COALESCE(k.verified_seq, 0) AS moved
            FROM wallet_wallet w LEFT JOIN wallet_healthcheckpoint k ON k.wallet_id = w.id
        ) s
        WHERE s.moved OR s.balance < 0 OR s.held < 0 OR s.held > s.balance
           OR s.balance <> s.checkpoint_balance OR s.held <> s.checkpoint_held
           OR s.last_seq <> s.verified_seq OR s.last_hash <> s.verified_hash
    ), checked AS (
        SELECT m.id, m.user_id, m.balance, m.held, m.last_seq, m.last_hash,
               m.checkpoint_balance + COALESCE(l.balance_delta, 0) AS replay_balance,
               m.checkpoint_held + COALESCE(l.held_delta, 0) AS replay_held,
               l.altered_rows, l.broken_links, l.discontinuities,
               COALESCE(l.max_seq, m.verified_seq) AS max_seq,
               COALESCE(l.head_hash, m.verified_hash) AS head_hash,
               (SELECT COALESCE(SUM(h.amount), 0) FROM wallet_hold h
                WHERE h.wallet_id = m.id AND h.status = 'pending') AS pending_held,
               lt.lots_remaining, lt.lots_disagreeing, l.operations_disagreeing,
               l.operations AS verified_operations
        FROM scanned m
        CROSS JOIN LATERAL (
            SELECT COUNT(*) AS operations,
                   {_signed_sum_sql(0)} AS balance_delta,
                   {_signed_sum_sql(1)} AS held_delta,
                   COUNT(*) FILTER (WHERE r.hash <> r.recomputed_hash) AS altered_rows,
                   COUNT(*) FILTER (
                       WHERE r.prev_hash <> COALESCE(r.prev_row_hash, m.verified_hash)
                          OR r.seq <> m.verified_seq + r.position
                   ) AS broken_links,
                   -- From genesis the first operation has no before to match (as in the full check).
                   COUNT(*) FILTER (
                       WHERE (r.position > 1 OR m.verified_seq > 0)
                         AND (r.balance_before <> COALESCE(r.prev_balance_after, m.checkpoint_balance)
                              OR r.held_before <> COALESCE(r.prev_held_after, m.checkpoint_held))
                   ) AS discontinuities,
                   MAX(r.seq) AS max_seq,
                   MAX(r.hash) FILTER (WHERE r.is_last) AS head_hash,
                   COUNT(*) FILTER (WHERE r.rows > 0 AND NOT {_operation_rows_agree_sql()}) AS operations_disagreeing
            FROM (
                SELECT o.seq, o.type, o.amount, o.prev_hash, o.hash, o.balance_before, o.held_before,
                       {operation_hash_sql("o")} AS recomputed_hash,
                       LAG(o.hash) OVER w AS prev_row_hash,
                       LAG(o.balance_after) OVER w AS prev_balance_after,
                       LAG(o.held_after) OVER w AS prev_held_after,
                       ROW_NUMBER() OVER w AS position,
                       LEAD(o.seq) OVER w IS NULL AS is_last,
                       lots.*
                FROM wallet_balanceoperation o
                CROSS JOIN LATERAL ({_lot_rows_of_operation_sql("o")}) lots
                WHERE o.wallet_id = m.id AND o.seq > m.verified_seq
                WINDOW w AS (ORDER BY o.seq)
            ) r
        ) l
        CROSS JOIN LATERAL (
            SELECT COALESCE(SUM(l.remaining), 0) AS lots_remaining, {_LOTS_DISAGREEING_SQL} AS lots_disagreeing
            FROM ({_lot_deltas_sql("WHERE l.wallet_id = m.id")}) l
        ) lt
        WHERE m.moved
    ), unmoved AS (
        SELECT m.id, m.user_id, m.balance, m.held, m.last_seq, m.last_hash,
               m.checkpoint_balance AS replay_balance, m.checkpoint_held AS replay_held,
               0 AS altered_rows, 0 AS broken_links, 0 AS discontinuities,
               m.verified_seq AS max_seq, m.verified_hash AS head_hash,
               NULL::numeric AS pending_held, NULL::numeric AS lots_remaining,
               0 AS lots_disagreeing, 0 AS operations_disagreeing
        FROM scanned m WHERE NOT m.moved
    )"""


def _lot_rows_of_operation_sql(o: str) -> str:
    """One row: the operation `o`'s lot consumption rows, counted and summed per kind (through
    the (operation, lot, kind) unique index)."""
    sums = ", ".join(f"COALESCE(SUM(c.amount) FILTER (WHERE c.kind = '{k}'), 0) AS {k}" for k in _LOT_KINDS)
    return f"SELECT COUNT(*) AS rows, {sums} FROM wallet_lotconsumption c WHERE c.operation_id = {o}.id"


def _columns_sql(c: str = "c") -> str:
    return ", ".join(f"{c}.{column}" for column in _CHECKED_COLUMNS)


def _health_sql(*, only_some_wallets: bool) -> str:
    """The full check's findings only (read-only): one row per wallet with a finding."""
    return f"""{_health_ctes_sql(only_some_wallets=only_some_wallets)}
    SELECT {_columns_sql()} FROM checked c WHERE {_has_finding_sql()} ORDER BY c.id"""


def health_run_sql(*, full: bool, advance_checkpoints: bool) -> str:
    """The health run's ONE statement (`full`: from genesis, every wallet; else the hourly
    incremental check). Every row holds the run's counts (operations and wallets verified,
    checkpoints advanced) then a wallet with a finding (the `_CHECKED_COLUMNS`); no finding at
    all: one row, the counts and NULLs.

    `advance_checkpoints`: in the same statement (one snapshot: what is written is what was
    verified), a data-modifying CTE upserts the checkpoint of every verified wallet without a
    finding to its verified head and replayed state; never backwards (a checkpoint past the
    verified head stays where it is), never for a wallet with a finding. Parameter: `now`.
    """
    ctes = _health_ctes_sql(only_some_wallets=False) if full else _incremental_ctes_sql()
    with_findings = f"SELECT {_columns_sql()} FROM checked c WHERE {_has_finding_sql()}"
    if not full:
        with_findings += f" UNION ALL SELECT {_columns_sql()} FROM unmoved c WHERE {_has_finding_sql()}"
    advanced = "SELECT 0 AS count" if not advance_checkpoints else f"""
        INSERT INTO wallet_healthcheckpoint AS k
               (wallet_id, verified_seq, verified_hash, replay_balance, replay_held, verified_at)
        SELECT c.id, c.max_seq, c.head_hash, c.replay_balance, c.replay_held, %(now)s
        FROM checked c WHERE NOT {_has_finding_sql()}
        ON CONFLICT (wallet_id) DO UPDATE
        SET verified_seq = EXCLUDED.verified_seq, verified_hash = EXCLUDED.verified_hash,
            replay_balance = EXCLUDED.replay_balance, replay_held = EXCLUDED.replay_held,
            verified_at = EXCLUDED.verified_at
        WHERE k.verified_seq < EXCLUDED.verified_seq
           OR (k.verified_seq = EXCLUDED.verified_seq
               AND (k.verified_hash, k.replay_balance, k.replay_held)
                   IS DISTINCT FROM (EXCLUDED.verified_hash, EXCLUDED.replay_balance, EXCLUDED.replay_held))
        RETURNING 1 AS count"""
    return f"""{ctes}, advanced AS ({advanced})
    SELECT s.operations, s.wallets, s.advanced, f.*
    FROM (SELECT (SELECT COALESCE(SUM(verified_operations), 0) FROM checked) AS operations,
                 (SELECT COUNT(*) FROM checked) AS wallets,
                 (SELECT COALESCE(SUM(count), 0) FROM advanced) AS advanced) s
    LEFT JOIN LATERAL ({with_findings}) f ON true
    ORDER BY f.id"""


def _add_finding(findings: list[HealthFinding], wallet_id: int, user_id: int, severity: str, code: str,
                 **detail) -> None:
    # Every code raised is in its severity's list (which the runbooks are checked against).
    if code not in (CRITICAL_CODES if severity == IncidentSeverity.CRITICAL else WARNING_CODES):
        raise ValueError(f"unknown {severity} health code {code!r}: add it to the codes above (and its runbook)")
    findings.append(HealthFinding(wallet_id, user_id, severity, code, detail))


def wallet_health_findings(*, wallet_ids: list[int] | None = None) -> list[HealthFinding]:
    """Every anomaly of every wallet (or of `wallet_ids`), in ONE set-based query, from genesis
    (no checkpoint read or written)."""
    only_some = wallet_ids is not None
    with connection.cursor() as cursor:
        params = {"wallet_ids": list(wallet_ids)} if only_some else None
        cursor.execute(_health_sql(only_some_wallets=only_some), params)
        rows = cursor.fetchall()
    return findings_from_rows(rows)


def findings_from_rows(rows) -> list[HealthFinding]:
    """The findings of checked rows (`_CHECKED_COLUMNS`), by the conditions of `_has_finding_sql`."""
    findings: list[HealthFinding] = []
    for row in rows:
        (wallet_id, user_id, balance, held, last_seq, last_hash, replay_balance, replay_held,
         altered_rows, broken_links, discontinuities, max_seq, head_hash, pending_held,
         lots_remaining, lots_disagreeing, operations_disagreeing) = row
        replay_balance, replay_held = int(replay_balance), int(replay_held)
        # Not checked (the hourly run, a wallet that did not move): None, no finding.
        pending_held = None if pending_held is None else int(pending_held)
        lots_remaining = None if lots_remaining is None else int(lots_remaining)

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
        if lots_remaining is not None and balance != lots_remaining:
            add(critical, "lots_balance_mismatch", balance=balance, lots_remaining=lots_remaining)
        if lots_disagreeing:
            add(critical, "lot_consumption_mismatch", lots=lots_disagreeing)
        if operations_disagreeing:
            add(critical, "operation_lots_mismatch", operations=operations_disagreeing)
        if pending_held is not None and held != pending_held:
            add(IncidentSeverity.WARNING, "held_pending_mismatch", held=held, pending_holds=pending_held)
    return findings
