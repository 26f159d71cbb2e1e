"""What every scheduled job shares: overlap locks and the command options.

Jobs are idempotent; a PostgreSQL advisory lock keeps two runs of one job from
overlapping (a second run finds it held and skips instead of queueing), on one node or many.
The lock is transaction-scoped, so it holds behind PgBouncer in transaction pooling mode
(README "Scaling out"). Each job is also a management command (a ``JobCommand``) taking
``--now <ISO datetime>``, ``--dry-run`` and ``--yes``: a ``--now`` in the future is confirmed
before anything runs, since it does for real now what falls due only then.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from phoenix.core.errors import JobAlreadyRunning

__all__ = ["JobAlreadyRunning", "JobCommand", "JobReport", "advisory_lock", "try_advisory_xact_lock"]

# A --now ahead of the real clock by at most this is not "in the future" (clock skew, a
# command typed with the current minute).
FUTURE_NOW_TOLERANCE = timedelta(seconds=60)


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
    parser.add_argument("--yes", action="store_true",
                        help="Run with a --now in the future without asking (scripts; asked on a terminal).")


def parse_job_now(value: str | None) -> datetime:
    """A job command's ``--now`` as an aware datetime (default: now)."""
    if not value:
        return timezone.now()
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"--now: not an ISO 8601 datetime: {value!r}")
    return timezone.make_aware(parsed, UTC) if timezone.is_naive(parsed) else parsed


def _duration(delta: timedelta) -> str:
    """'3 d 4 h', '2 h 5 min', '7 min': how far ahead, to the nearest minute."""
    minutes = round(delta.total_seconds() / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(part for part in parts if part) or "less than a minute"


def job_now_confirm(*, now: str | None, dry_run: bool, yes: bool, stdin, prompt) -> None:
    """Refuse (CommandError, nothing run) a real run whose ``--now`` is in the future, unless
    ``--yes`` is given or the operator answers y on a terminal: such a run does now, for real,
    whatever falls due only by then (holds, lots, trials, renewals expire early)."""
    if not now or dry_run or yes:
        return
    at = parse_job_now(now)
    ahead = at - timezone.now()
    if ahead <= FUTURE_NOW_TOLERANCE:
        return
    situation = (f"--now is {_duration(ahead)} in the future; this writes as if it were {at.isoformat()} "
                 "(what falls due by then is done now, for real)")
    if not stdin.isatty():
        raise CommandError(f"{situation}. Not a terminal, so not asked: pass --yes to run anyway, or --dry-run "
                           "to see what it would do. Nothing done.")
    prompt.write(f"{situation}. Continue? [y/N] ")
    prompt.flush()
    if stdin.readline().strip().lower() not in ("y", "yes"):
        raise CommandError("Not confirmed: nothing done.")


class JobCommand(BaseCommand):
    """Every job command: ``--now``, ``--dry-run``, ``--yes``, and the confirmation of a
    future ``--now`` (``job_now_confirm``) before the command runs. ``stdin`` may be given to
    ``call_command`` (tests)."""

    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        add_job_arguments(parser)

    def execute(self, *args, **options):
        job_now_confirm(now=options.get("now"), dry_run=options.get("dry_run", False),
                        yes=options.get("yes", False), stdin=options.get("stdin") or sys.stdin,
                        prompt=options.get("stderr") or sys.stderr)
        return super().execute(*args, **options)


class StepsJobCommand(JobCommand):
    """A job command whose run returns a ``JobReport`` of the steps it took (or, dry,
    would take). Subclasses implement ``run_job``; each step has a ``describe()``."""

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
