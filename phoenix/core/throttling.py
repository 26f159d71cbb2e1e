"""A rate limit that costs one Redis round trip: the sliding-window counter.

DRF's ``SimpleRateThrottle`` keeps every request's timestamp in a cached list (a GET and a
SET of the pickled list per request: two round trips, and up to `rate` floats (un)pickled).
On the hot /luna path that was a third of the Redis time. Here each caller has one counter
per fixed window (``INCR`` + ``EXPIRE``) and the previous window's counter is read in the
same pipeline; the request is allowed while

    previous x (share of the previous window still inside the sliding window) + current <= limit

an estimate that assumes the previous window's requests were spread evenly (it never lets
through more than the limit in one fixed window, and at most the limit + the previous
window's count in the worst-placed sliding window). A refused request is not counted.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

KEY_PREFIX = "throttle:window"


def _redis_client():
    """The cache's own Redis client (phoenix.core.cache): the cache API has no pipeline."""
    return cache.redis_client()


class SlidingWindowThrottle(BaseThrottle):
    """Subclasses set `scope`, `setting_name` (a rate like "120/min", read per request so
    tests and operators can change it) and `get_ident(request)` (None: not limited)."""

    scope = ""
    setting_name = ""

    def get_ident(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        ident = self.get_ident(request)
        if ident is None:
            return True
        limit, duration = SimpleRateThrottle.parse_rate(self, getattr(settings, self.setting_name))
        now = time.time()
        window = int(now // duration)
        current_key = f"{KEY_PREFIX}:{self.scope}:{ident}:{window}"
        client = _redis_client()
        pipeline = client.pipeline(transaction=False)
        pipeline.incr(current_key)
        pipeline.expire(current_key, duration * 2)
        pipeline.get(f"{KEY_PREFIX}:{self.scope}:{ident}:{window - 1}")
        current, _, previous = pipeline.execute()
        previous = int(previous or 0)
        elapsed = now - window * duration
        estimate = previous * (duration - elapsed) / duration + current
        if estimate <= limit:
            return True
        client.decr(current_key)  # refused: not counted
        # When the next request fits: the previous window's share shrinks by previous/duration
        # per second; with the current window full, not before the next window.
        current -= 1  # the next request fits when previous x (left - t) / duration + current + 1 <= limit
        left = duration - elapsed
        if previous and current + 1 <= limit:
            self._wait = min(left, max(0.0, left - (limit - current - 1) * duration / previous))
        else:
            self._wait = left
        return False

    def wait(self) -> float:
        return max(1, math.ceil(getattr(self, "_wait", 1)))
