"""The dashboard's rollups of the ledger: balance operations per hour, type, category and
action, recomputed from the operations by a job every 5 minutes.

A refresh recomputes every bucket from `RECOMPUTE_HOURS` before the previous refresh on
(DELETE, then one INSERT ... SELECT that also moves the cursor, so both see one snapshot) and
records the highest operation id it saw. The dashboard adds the operations above that id live
(`wallet.selectors.dashboard`, through the primary key). An operation whose transaction was
still open during a refresh, with an id below the one recorded, shows at the next refresh
(its `created_at` is inside the recomputed hours). Overlap-safe (advisory lock);
`rebuild=True` recomputes all history (after a restore, or by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.db import connection, transaction
from django.utils import timezone

from phoenix.core.jobs import JobReport, advisory_lock
from wallet.models import OperationRollupCursor
from wallet.selectors import operation_facts_sql

logger = structlog.get_logger("phoenix.wallet.rollup")

ROLLUP_JOB = "wallet.rollup_refresh"  # the Celery task's name too
ROLLUP_LOCK = ROLLUP_JOB
# How far back each refresh recomputes: longer than any ledger transaction runs.
RECOMPUTE_HOURS = 3

# Every operation from `since` (no upper bound on created_at: a clock a little ahead on one app
# server must not leave its operations out of both the rollups and the live tail).
_SINCE = "o.created_at >= %(since)s"


@dataclass
class RollupReport(JobReport):
    job: str = ROLLUP_JOB
    since: datetime | None = None  # the first hour recomputed (None: all history)
    rolled_through: datetime | None = None
    last_operation_id: int = 0
    buckets: int = 0

    def counts(self) -> dict[str, int]:
        return {"buckets": self.buckets}


def operation_rollup_refresh(*, now: datetime | None = None, rebuild: bool = False,
                             dry_run: bool = False) -> RollupReport:
    """Recompute the rollup buckets from `RECOMPUTE_HOURS` before the last refresh (all of them
    with `rebuild`, or on the first refresh) and move the cursor to the highest operation seen."""
    now = now or timezone.now()
    report = RollupReport(now=now, dry_run=dry_run, rolled_through=now)
    with advisory_lock(ROLLUP_LOCK) as acquired:
        if not acquired:
            report.skipped_locked = True
            return report
        with transaction.atomic():
            cursor_row = OperationRollupCursor.objects.select_for_update().filter(pk=1).first()
            if cursor_row is not None and not rebuild:
                since = min(cursor_row.rolled_through, now) - timedelta(hours=RECOMPUTE_HOURS)
                report.since = since.replace(minute=0, second=0, microsecond=0)
            params = {"since": report.since or datetime.min.replace(tzinfo=now.tzinfo), "now": now,
                      "refreshed_at": timezone.now()}
            with connection.cursor() as cursor:
                if dry_run:
                    cursor.execute(f"SELECT COUNT(*) FROM ({operation_facts_sql(_SINCE)}) f", params)
                    report.buckets = cursor.fetchone()[0]
                    return report
                cursor.execute("DELETE FROM wallet_operationrollup WHERE hour >= %(since)s", params)
                cursor.execute(f"""
                    WITH seen AS (SELECT COALESCE(MAX(id), 0) AS id FROM wallet_balanceoperation),
                    written AS (
                        INSERT INTO wallet_operationrollup (hour, type, category, reference, operations, amount)
                        {operation_facts_sql(_SINCE + " AND o.id <= (SELECT id FROM seen)")}
                        RETURNING 1)
                    INSERT INTO wallet_operationrollupcursor (id, last_operation_id, rolled_through, refreshed_at)
                    VALUES (1, (SELECT id FROM seen), %(now)s, %(refreshed_at)s)
                    ON CONFLICT (id) DO UPDATE SET last_operation_id = EXCLUDED.last_operation_id,
                        rolled_through = EXCLUDED.rolled_through, refreshed_at = EXCLUDED.refreshed_at
                    RETURNING (SELECT COUNT(*) FROM written), last_operation_id""", params)
                report.buckets, report.last_operation_id = cursor.fetchone()
    logger.info("wallet_rollup_refreshed", since=report.since, buckets=report.buckets, rebuild=rebuild)
    return report


