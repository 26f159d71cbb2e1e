from __future__ import annotations

from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

WORKER_HEARTBEAT_KEY = "core:worker-heartbeat"
WORKER_HEARTBEAT_TTL_S = 24 * 3600


def worker_heartbeat_record(*, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    cache.set(WORKER_HEARTBEAT_KEY, now.isoformat(), timeout=WORKER_HEARTBEAT_TTL_S)
    return now
