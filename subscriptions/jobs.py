"""Helpers for the scheduled jobs (DESIGN.md §8): an advisory lock so two overlapping runs
are safe, and the ``--now`` parser of their management commands."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(name: str) -> Iterator[bool]:
    """Try to take a session-level lock named ``name``; yields whether it was taken.

    Non-blocking: a second run finds it held and skips instead of queueing behind the
    first one (the work is idempotent, the next hourly run picks up anything left)."""
    key = _key(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def parse_job_now(value: str | None) -> datetime:
    """A job command's ``--now`` as an aware datetime (naive values are read as UTC)."""
    if not value:
        return timezone.now()
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"--now: not an ISO datetime: {value!r}")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed
