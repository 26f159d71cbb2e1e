"""A rate limit that costs one Redis round trip: the sliding-window counter.

DRF's ``SimpleRateThrottle`` keeps every request's timestamp in a cached list (a GET and a
SET of the pickled list per request: two round trips, and up to `rate` floats (un)pickled).
On the hot /luna path that was a third of the Redis time. Here each caller has one counter
per fixed window and the previous window's counter is read with it, in ONE Lua script
(``SLIDING_WINDOW_LUA``: one command, one reply, the refusal's un-count included); the
request is allowed while

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


# KEYS: the current and the previous window's counters; ARGV: limit, duration (s), seconds
# elapsed in the current window. Counts the request, un-counts it when refused; answers
# {allowed (1/0), current count including this request, previous window's count}.
SLIDING_WINDOW_LUA = """
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]) * 2) end
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit, duration, elapsed = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if previous * (duration - elapsed) / duration + current <= limit then
    return {1, current, previous}
end
redis.call('DECR', KEYS[1])
return {0, current, previous}
"""
_scripts: dict[int, object] = {}


def _sliding_window_script():
    """The script registered on the cache's client (EVALSHA, loaded again after a Redis restart)."""
    client = _redis_client()
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(SLIDING_WINDOW_LUA)
    return script


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
        elapsed = now - window * duration
        allowed, current, previous = _sliding_window_script()(
            keys=[f"{KEY_PREFIX}:{self.scope}:{ident}:{window}", f"{KEY_PREFIX}:{self.scope}:{ident}:{window - 1}"],
            args=[limit, duration, repr(elapsed)])
        if allowed:
            return True
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
