"""The admin dashboard's wallet reads.

Each reader is a fixed number of aggregate queries, whatever the number of wallets or
operations: counts and sums are grouped in the database, never looped over rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, Q, Sum
from django.utils import timezone

from phoenix.core.selectors import job_run_latest
from wallet.models import (
    EnergyLot,
    Incident,
    IncidentSeverity,
    IncidentStatus,
    LotCategory,
    OperationType,
    RollupCategory,
    Wallet,
)

# Energy consumed by the satellites' actions: direct debits and hold captures made
# through the API. Admin removals, clawbacks and health corrections are not consumption.
CONSUMPTION_TYPES = ("debit", "commit")
CONSUMPTION_SOURCE = "api"


_CONSUMPTION = f"o.type IN {CONSUMPTION_TYPES!r} AND o.source = '{CONSUMPTION_SOURCE}'"
_CONSUMPTION_REFUND = f"o.type = 'credit' AND r.type IN {CONSUMPTION_TYPES!r} AND r.source = '{CONSUMPTION_SOURCE}'"
# The one definition of an operation's dashboard category (its refund's original is `r`).
CATEGORY_SQL = f"""CASE WHEN {_CONSUMPTION} THEN '{RollupCategory.CONSUMPTION}'
    WHEN {_CONSUMPTION_REFUND} THEN '{RollupCategory.CONSUMPTION_REFUND}'
    WHEN o.type = 'credit' AND o.refund_of_id IS NOT NULL THEN '{RollupCategory.REFUND}'
    ELSE '{RollupCategory.OTHER}' END"""
# The action code is kept for consumption and its refunds (the API writes it as the reference,
# a refund copies it); other references (payment keys, ...) would make a bucket per operation.
REFERENCE_SQL = f"CASE WHEN ({_CONSUMPTION}) OR ({_CONSUMPTION_REFUND}) THEN o.reference ELSE '' END"


def operation_facts_sql(where: str) -> str:
    """Operations matching `where` (on `o`), grouped as the rollups are: hour, type, category,
    reference, operations, amount."""
    return f"""
        SELECT date_trunc('hour', o.created_at) AS hour, o.type, {CATEGORY_SQL} AS category,
               {REFERENCE_SQL} AS reference, COUNT(*) AS operations, SUM(o.amount) AS amount
        FROM wallet_balanceoperation o
        LEFT JOIN wallet_balanceoperation r ON r.id = o.refund_of_id
        WHERE {where}
        GROUP BY 1, 2, 3, 4"""


def _rollup_and_tail_sql() -> str:
    """Every operation since %(since)s (to %(now)s) as rollup rows: the buckets the rollup job
    wrote and, computed live, the operations above its cursor (a primary-key range: the few
    written since the last refresh). Never refreshed: every operation is read live."""
    seen = "COALESCE((SELECT last_operation_id FROM wallet_operationrollupcursor WHERE id = 1), 0)"
    return f"""
        SELECT hour, type, category, reference, operations, amount FROM wallet_operationrollup
        WHERE hour >= date_trunc('hour', %(since)s::timestamptz) AND hour <= %(now)s
        UNION ALL
        {operation_facts_sql(f"o.id > {seen} AND o.created_at >= %(since)s AND o.created_at <= %(now)s")}"""


def _fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def wallet_incidents_open_counts() -> dict[str, int]:
    """Open wallet incidents by severity (one query)."""
    counts = Incident.objects.filter(status=IncidentStatus.OPEN).aggregate(
        critical=Count("id", filter=Q(severity=IncidentSeverity.CRITICAL)),
        warning=Count("id", filter=Q(severity=IncidentSeverity.WARNING)),
    )
    return {"open_critical": counts["critical"], "open_warning": counts["warning"]}


def wallet_health_overview() -> dict[str, Any]:
    """Health now: open incidents by severity, the last health run and its result. 3 queries."""
    counts = wallet_incidents_open_counts()
    totals = Wallet.objects.aggregate(wallets=Count("id"), balance=Sum("balance"), held=Sum("held"))
    last_run = job_run_latest("wallet.health_check")  # wallet.services.jobs.HEALTH_JOB
    return {
        **counts,
        "last_run": last_run,
        "last_run_critical": last_run.summary.get("critical", 0) if last_run else None,
        "last_run_warning": last_run.summary.get("warnings", 0) if last_run else None,
        "wallets": totals["wallets"],
        "balance": totals["balance"] or 0,
        "held": totals["held"] or 0,
    }


def energy_consumed_totals(*, now: datetime) -> dict[str, int]:
    """Energy consumed today (since local midnight), over the last 7 and 30 days (whole hours),
    net of the refunds of consumptions made in the same period (a refunded action consumed
    nothing), and refunded over 7 days (every refund). One query over the rollups and the
    live tail (`_rollup_and_tail_sql`)."""
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week, month = _hour(now - timedelta(days=7)), _hour(now - timedelta(days=30))
    consumed, given_back = f"'{RollupCategory.CONSUMPTION}'", f"'{RollupCategory.CONSUMPTION_REFUND}'"
    refunds = f"({given_back}, '{RollupCategory.REFUND}')"
    [row] = _fetch(f"""
        SELECT COALESCE(SUM(amount) FILTER (WHERE category = {consumed} AND hour >= %(today)s), 0)
             - COALESCE(SUM(amount) FILTER (WHERE category = {given_back} AND hour >= %(today)s), 0),
               COALESCE(SUM(amount) FILTER (WHERE category = {consumed} AND hour >= %(week)s), 0)
             - COALESCE(SUM(amount) FILTER (WHERE category = {given_back} AND hour >= %(week)s), 0),
               COALESCE(SUM(amount) FILTER (WHERE category = {consumed}), 0)
             - COALESCE(SUM(amount) FILTER (WHERE category = {given_back}), 0),
               COALESCE(SUM(amount) FILTER (WHERE category IN {refunds} AND hour >= %(week)s), 0)
        FROM ({_rollup_and_tail_sql()}) f""", {"since": month, "now": now, "today": today, "week": week})
    return dict(zip(("today", "week", "month", "refunded_week"), (int(v) for v in row), strict=True))


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def balance_operations_per_hour(*, now: datetime, hours: int = 48) -> dict[str, Any]:
    """Operation counts per hour and type over the last `hours` hours (one GROUP BY over the
    rollups and the live tail)."""
    end = _hour(timezone.localtime(now))
    buckets = [end - timedelta(hours=offset) for offset in range(hours - 1, -1, -1)]
    rows = _fetch(f"SELECT hour, type, SUM(operations) FROM ({_rollup_and_tail_sql()}) f GROUP BY 1, 2",
                  {"since": buckets[0], "now": now})
    counts: dict[str, dict[datetime, int]] = {}
    for hour, op_type, n in rows:  # at most hours x types rows
        counts.setdefault(op_type, {})[timezone.localtime(hour)] = int(n)
    return {
        "labels": [bucket.strftime("%a %H:00") for bucket in buckets],
        "series": {op_type: [per_hour.get(bucket, 0) for bucket in buckets]
                   for op_type, per_hour in sorted(counts.items())},
        "total": sum(sum(per_hour.values()) for per_hour in counts.values()),
    }


def energy_consumed_by_action(*, now: datetime, days: int = 30, limit: int = 15) -> list[tuple[str, int]]:
    """[(action code, points)] consumed over the last `days` days (whole hours) net of the
    refunds of consumptions, biggest first, actions netted to nothing left out (one GROUP BY
    over the rollups and the live tail). The action code is the operation's reference (the
    API writes it there; a refund copies it)."""
    rows = _fetch(f"""
        SELECT reference, SUM(CASE WHEN category = '{RollupCategory.CONSUMPTION_REFUND}' THEN -amount
                                   ELSE amount END) AS points
        FROM ({_rollup_and_tail_sql()}) f
        WHERE category IN ('{RollupCategory.CONSUMPTION}', '{RollupCategory.CONSUMPTION_REFUND}')
        GROUP BY reference HAVING SUM(CASE WHEN category = '{RollupCategory.CONSUMPTION_REFUND}' THEN -amount
                                           ELSE amount END) > 0
        ORDER BY points DESC, reference LIMIT %(limit)s""",
                  {"since": _hour(now - timedelta(days=days)), "now": now, "limit": limit})
    return [(reference or "(none)", int(points)) for reference, points in rows]


def energy_lots_overview(*, now: datetime) -> dict[str, Any]:
    """Energy outstanding by lot category (paid energy a liability in EUR at what was paid for
    it), expiring within 7 / 30 days, and expired this month (breakage). 3 queries."""
    live = EnergyLot.objects.filter(remaining__gt=0)
    by_category = dict(live.values_list("category").annotate(total=Sum("remaining")).order_by())
    # What the unconsumed part of each paid lot cost: price * remaining / amount (rounded down per lot).
    lot_value = ExpressionWrapper(F("price_cents") * F("remaining") / F("amount"), output_field=BigIntegerField())
    expiring = live.aggregate(
        liability_cents=Sum(lot_value, filter=Q(category=LotCategory.PAID)),
        days_7=Sum("remaining", filter=Q(expires_at__gt=now, expires_at__lte=now + timedelta(days=7))),
        days_30=Sum("remaining", filter=Q(expires_at__gt=now, expires_at__lte=now + timedelta(days=30))),
    )
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    [(expired,)] = _fetch(f"SELECT SUM(amount) FROM ({_rollup_and_tail_sql()}) f WHERE type = %(type)s",
                          {"since": month_start, "now": now, "type": OperationType.LOT_EXPIRY})
    return {
        "outstanding": {category: int(by_category.get(category) or 0) for category in LotCategory.values},
        "paid_liability_cents": int(expiring["liability_cents"] or 0),
        "expiring_7_days": int(expiring["days_7"] or 0),
        "expiring_30_days": int(expiring["days_30"] or 0),
        "expired_this_month": int(expired or 0),
    }
