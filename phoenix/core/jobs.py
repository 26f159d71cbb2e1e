"""What every scheduled job shares: overlap locks and the command options.

Jobs are idempotent; a PostgreSQL advisory lock keeps two runs of one job from
overlapping (a second run finds it held and skips instead of queueing), on one node or many.
The lock is transaction-scoped, so it holds behind PgBouncer in transaction pooling mode
(README "Scaling out"). Each job is also a management command taking ``--now <ISO datetime>``
and ``--dry-run``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from phoenix.core.errors import JobAlreadyRunning

__all__ = ["JobAlreadyRunning", "JobReport", "advisory_lock", "try_advisory_xact_lock"]


@dataclass
class JobReport:
    """What every job run returns: one shape for tasks, commands, JobRun rows and tests.

    A run that finds its lock held does nothing and says so (``skipped_locked``); callers
    that must fail instead (a command, an operator's "run now") call ``raise_if_skipped``.
    Jobs with more to tell subclass it and override ``counts``.
    """

    job: str
    now: datetime = field(default_factory=timezone.now)
    dry_run: bool = False
    skipped_locked: bool = False
    steps: list = field(default_factory=list)

    @property
    def ran(self) -> bool:
        return not self.skipped_locked

    def counts(self) -> dict[str, int]:
        return {"steps": len(self.steps)}

    def summary(self) -> dict:
        """JSON-ready: the Celery task result and the JobRun summary."""
        return {"job": self.job, "skipped_locked": self.skipped_locked, "dry_run": self.dry_run,
                **self.counts()}

    def raise_if_skipped(self) -> JobReport:
        if self.skipped_locked:
            raise JobAlreadyRunning(job=self.job)
        return self


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (pg advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(name: str) -> Iterator[bool]:
    """Yield True if this run got the lock (released on exit), False if another run holds it.

    The lock is a transaction lock (``pg_try_advisory_xact_lock``) taken in a transaction of
    its own, on a connection of its own that stays open for the whole ``with`` block; the
    job itself runs on the usual connection and commits as many small transactions as it
    likes. Behind PgBouncer in transaction mode an open transaction keeps its server
    connection, so the lock is really held until the block ends (a session lock would be
    taken on one server connection and "released" on another). A crashed worker's lock
    dies with its connection. Conflicts with session locks on the same name, too.
    """
    key = advisory_lock_key(name)
    holder = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        holder.set_autocommit(False)
        with holder.cursor() as cursor:
            # The holder is idle in its transaction while the job runs: a server-side
            # idle_in_transaction_session_timeout must not end the lock under the job.
            cursor.execute("SELECT set_config('idle_in_transaction_session_timeout', '0', true)")
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
            acquired = bool(cursor.fetchone()[0])
        yield acquired
    finally:
        # Ends the lock's transaction: the lock is released. A connection broken meanwhile
        # has already lost its lock with its transaction; closing is all that is left.
        with suppress(DatabaseError):
            if holder.connection is not None:
                holder.rollback()
        holder.close()


def try_advisory_xact_lock(name: str) -> bool:
    """Take the lock until the current transaction ends; False if another holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [advisory_lock_key(name)])
        return bool(cursor.fetchone()[0])


def add_job_arguments(parser) -> None:
    parser.add_argument("--now", help="Run as if it were this moment (ISO 8601; naive means UTC).")
    parser.add_argument("--dry-run", action="store_true", help="Report what would be done; write nothing.")


def parse_job_now(value: str | None) -> datetime:
    """A job command's ``--now`` as an aware datetime (default: now)."""
    if not value:
        return timezone.now()
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"--now: not an ISO 8601 datetime: {value!r}")
    return timezone.make_aware(parsed, UTC) if timezone.is_naive(parsed) else parsed


class StepsJobCommand(BaseCommand):
    """A job command whose run returns a ``JobReport`` of the steps it took (or, dry,
    would take). Subclasses implement ``run_job``; each step has a ``describe()``."""

    def add_arguments(self, parser):
        add_job_arguments(parser)

    def run_job(self, *, now: datetime, dry_run: bool) -> JobReport:
        raise NotImplementedError

    def handle(self, *args, now=None, dry_run=False, **options):
        at = parse_job_now(now)
        report = self.run_job(now=at, dry_run=dry_run)
        if report.skipped_locked:
            raise CommandError("another run holds the lock; nothing done")
        prefix = "[dry-run] would do" if dry_run else "done"
        for step in report.steps:
            self.stdout.write(f"{prefix}: {step.describe()}")
        self.stdout.write(f"{len(report.steps)} step(s) at {at.isoformat()}")
