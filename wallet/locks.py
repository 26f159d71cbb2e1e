"""PostgreSQL advisory locks: keep two runs of the same job from overlapping."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (pg advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def try_advisory_lock(name: str) -> Iterator[bool]:
    """Yield True if this session got the lock (released on exit), False if another holds it.

    A session-level lock (not a transaction one) so the job may commit several small
    transactions while holding it; a crashed worker's lock dies with its connection.
    """
    key = advisory_lock_key(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
