"""The dashboard's rollups of the ledger: balance operations per hour, type, category and
action, recomputed from the operations by a job every 5 minutes.

A refresh recomputes every bucket from `RECOMPUTE_HOURS` before the previous refresh on
(DELETE + INSERT ... SELECT in one transaction), so an operation whose transaction committed
after a refresh, with a `created_at` the refresh had already passed, is counted by the next
one; the dashboard adds the operations created after `rolled_through` live
(`wallet.selectors.dashboard`). Overlap-safe (advisory lock); a refresh with `rebuild=True`
recomputes all history (after a restore, or by hand).
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

_WINDOW = "o.created_at >= %(since)s AND o.created_at <= %(through)s"


@dataclass
class RollupReport(JobReport):
    job: str = ROLLUP_JOB
    since: datetime | None = None  # the first hour recomputed (None: all history)
    rolled_through: datetime | None = None
    buckets: int = 0

    def counts(self) -> dict[str, int]:
        return {"buckets": self.buckets}


def operation_rollup_refresh(*, now: datetime | None = None, rebuild: bool = False,
                             dry_run: bool = False) -> RollupReport:
    """Recompute the rollup buckets from `RECOMPUTE_HOURS` before the last refresh (all of them
    with `rebuild`, or on the first refresh) through `now`, and move the cursor to `now`."""
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
            params = {"since": report.since or datetime.min.replace(tzinfo=now.tzinfo), "through": now}
            with connection.cursor() as cursor:
                if dry_run:
                    cursor.execute(f"SELECT COUNT(*) FROM ({operation_facts_sql(_WINDOW)}) f", params)
                    report.buckets = cursor.fetchone()[0]
                    return report
                cursor.execute("DELETE FROM wallet_operationrollup WHERE hour >= date_trunc('hour', %(since)s)",
                               params)
                cursor.execute("INSERT INTO wallet_operationrollup (hour, type, category, reference, operations, "
                               f"amount) {operation_facts_sql(_WINDOW)}", params)
                report.buckets = cursor.rowcount
            OperationRollupCursor.objects.update_or_create(
                pk=1, defaults={"rolled_through": now, "refreshed_at": timezone.now()})
    logger.info("wallet_rollup_refreshed", since=report.since, buckets=report.buckets, rebuild=rebuild)
    return report


