"""Reads of the platform itself: the health report behind /health/."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from phoenix.celery import app as celery_app
from phoenix.core.models import JobRun
from phoenix.core.services import WORKER_HEARTBEAT_KEY

# A worker whose heartbeat (every 30 s) is older than this is reported stale.
WORKER_STALE_AFTER_S = 120


def _timed(check: Callable[[], None]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # a health check reports failures, it does not raise them
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    probe = f"health-probe:{time.monotonic_ns()}"
    cache.set(probe, "1", timeout=5)
    if cache.get(probe) != "1":
        raise RuntimeError("cache read-back mismatch")
    cache.delete(probe)


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def worker_heartbeat_info(*, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    try:
        raw = cache.get(WORKER_HEARTBEAT_KEY)
    except Exception:
        raw = None
    if not raw:
        return {"status": "unknown", "last_heartbeat": None}
    age = (now - datetime.fromisoformat(raw)).total_seconds()
    return {
        "status": "stale" if age > WORKER_STALE_AFTER_S else "up",
        "last_heartbeat": raw,
        "age_seconds": round(age, 1),
    }


def health_report() -> dict[str, Any]:
    """Database, cache and broker decide the status; the worker heartbeat is reported."""
    checks = {
        "database": _timed(_check_database),
        "cache": _timed(_check_cache),
        "broker": _timed(_check_broker),
    }
    healthy = all(check["status"] == "up" for check in checks.values())
    return {
        "status": "ok" if healthy else "degraded",
        "checks": checks,
        "worker": worker_heartbeat_info(),
    }


def job_run_latest(job: str):
    """The latest finished run of a scheduled job, or None (one indexed query)."""
    return JobRun.objects.filter(job=job).order_by("-finished_at", "-id").first()
