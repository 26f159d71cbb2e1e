"""Django's Redis cache, with one Redis client per connection pool instead of one per call;
and `InvalidationChannel`, the pub/sub that keeps process-memory snapshots honest.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache call;
building one fills its table of response callbacks (~170 entries), which cost ~0.2 ms a call,
four times on a /luna consume. A ``redis.Redis`` is thread-safe (each command takes a
connection from the pool) and its pool reconnects after a fork, so one per pool is enough.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

import redis.exceptions
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

REDIS_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
logger = logging.getLogger(__name__)


class PooledRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class PhoenixRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = PooledRedisCacheClient

    def redis_client(self):
        """The ``redis.Redis`` behind the cache (same pool and server as every cache call), for
        what the cache API lacks: pipelines (the throttle), server statistics (the tests)."""
        return self._cache.get_client(write=True)


class InvalidationChannel:
    """A Redis pub/sub channel that tells every process "what you hold in memory is stale".

    A process that keeps a snapshot of rarely changed data (the energy catalogue) asks
    `generation()` at each read, with no round trip: a background thread of the process stays
    subscribed and counts the messages. A snapshot loaded under generation G is good while
    the generation is still G. The count also moves on every (re)subscription, since messages
    sent while unsubscribed are lost; `generation()` is None while not subscribed (Redis down:
    the caller reads the database). The writer `publish()`es once its change has committed.
    A connection that hangs without failing is not detected here: a snapshot also needs a
    maximum age, the caller's backstop.
    """

    RETRY_SECONDS = 1.0
    FIRST_SUBSCRIBE_WAIT_SECONDS = 2.0

    def __init__(self, name: str):
        self.name = name
        self._generation = 0
        self._subscribed = False
        self._listener_pid: int | None = None
        self._start_lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget_listener)

    def _forget_listener(self) -> None:
        """In a forked child (gunicorn's and Celery's workers): the parent's thread is not here,
        and its lock may have been held at the fork."""
        self._start_lock = threading.Lock()
        self._listener_pid = None
        self._subscribed = False

    def generation(self) -> int | None:
        if self._listener_pid != os.getpid():  # first use in this process (or in a forked child)
            self._start_listener()
        return self._generation if self._subscribed else None

    def publish(self) -> None:
        """Raises redis' ConnectionError/TimeoutError when Redis is unreachable."""
        cache.redis_client().publish(self._channel(), b"stale")

    def _channel(self) -> str:
        return cache.make_key(self.name)  # CACHE_KEY_PREFIX: deployments sharing a Redis stay apart

    def _start_listener(self) -> None:
        with self._start_lock:
            if self._listener_pid == os.getpid():
                return
            self._listener_pid = os.getpid()
            self._subscribed = False
            first_attempt = threading.Event()
            threading.Thread(target=self._listen, args=(os.getpid(), first_attempt),
                             name=f"invalidations:{self.name}", daemon=True).start()
        # A process's first read waits for the subscription (a few ms), so that it is served from
        # memory at once; not longer than this when Redis is slow or down.
        first_attempt.wait(self.FIRST_SUBSCRIBE_WAIT_SECONDS)

    def _listen(self, pid: int, first_attempt: threading.Event) -> None:
        while self._listener_pid == pid:
            pubsub = None
            try:
                pubsub = cache.redis_client().pubsub()
                pubsub.subscribe(self._channel())
                for message in pubsub.listen():
                    if message["type"] in ("subscribe", "message"):
                        self._generation += 1  # only this thread writes it
                        self._subscribed = True
                        first_attempt.set()
            except REDIS_UNREACHABLE:
                pass  # retried below; meanwhile the callers read the database
            except Exception:  # never let the thread die: it would leave every read on the database
                logger.exception("invalidation channel %s: subscriber failed, retrying", self.name)
            finally:
                self._subscribed = False
                first_attempt.set()
                if pubsub is not None:
                    with contextlib.suppress(*REDIS_UNREACHABLE):
                        pubsub.close()
            time.sleep(self.RETRY_SECONDS)
