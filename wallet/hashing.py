"""The per-wallet hash chain over balance operations.

Each operation stores ``prev_hash`` (the previous operation's ``hash`` for the same
wallet, or GENESIS_HASH for the first) and ``hash = sha256(canonical content)``. The
canonical content is defined twice, once in Python (the services write it) and once in
SQL (the health check and the benchmark data generator recompute it set-based); a test
proves both agree. Text fields are length-prefixed so content cannot slide from one
field to the next without changing the hash.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SEPARATOR = "\x1f"  # ASCII unit separator


def _text(value: str | None) -> str:
    return "" if value is None else f"{len(value)}:{value}"


def _opt(value) -> str:
    return "" if value is None else str(value)


def epoch_microseconds(moment: datetime) -> int:
    # Integer arithmetic on timedelta: no float rounding, matches PostgreSQL's microseconds.
    return (moment - _EPOCH) // timedelta(microseconds=1)


def operation_hash(
    *,
    wallet_id: int,
    seq: int,
    type: str,
    amount: int,
    balance_before: int,
    balance_after: int,
    held_before: int,
    held_after: int,
    hold_id,
    refund_of_id: int | None,
    source: str,
    reason: str,
    reference: str,
    actor_id: int | None,
    idempotency_key: str | None,
    created_at: datetime,
    prev_hash: str,
) -> str:
    parts = [
        str(wallet_id), str(seq), type, str(amount),
        str(balance_before), str(balance_after), str(held_before), str(held_after),
        _opt(hold_id), _opt(refund_of_id), source, _text(reason), _text(reference),
        _opt(actor_id), _text(idempotency_key), str(epoch_microseconds(created_at)), prev_hash,
    ]
    return hashlib.sha256(_SEPARATOR.join(parts).encode("utf-8")).hexdigest()


def operation_hash_sql(alias: str, *, prev_hash_sql: str | None = None) -> str:
    """The same digest as a SQL expression over the row ``alias`` of wallet_balanceoperation.

    ``prev_hash_sql`` substitutes another expression for ``alias.prev_hash`` (the
    benchmark generator chains rows it is inserting).
    """
    a = alias
    prev = prev_hash_sql or f"{a}.prev_hash"

    def text(col: str) -> str:
        return f"CASE WHEN {col} IS NULL THEN '' ELSE length({col})::text || ':' || {col} END"

    def opt(col: str) -> str:
        return f"COALESCE({col}::text, '')"

    parts = [
        f"{a}.wallet_id::text", f"{a}.seq::text", f"{a}.type", f"{a}.amount::text",
        f"{a}.balance_before::text", f"{a}.balance_after::text",
        f"{a}.held_before::text", f"{a}.held_after::text",
        opt(f"{a}.hold_id"), opt(f"{a}.refund_of_id"), f"{a}.source",
        text(f"{a}.reason"), text(f"{a}.reference"), opt(f"{a}.actor_id"),
        text(f"{a}.idempotency_key"),
        f"(EXTRACT(EPOCH FROM {a}.created_at) * 1000000)::bigint::text",
        prev,
    ]
    joined = " || chr(31) || ".join(f"({p})" for p in parts)
    return f"encode(sha256(convert_to({joined}, 'UTF8')), 'hex')"
