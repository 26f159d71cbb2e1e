"""The sliding-window counter throttle on the real Redis: the limit in a window, refused
requests not counted, the previous window's share, Retry-After, one round trip per request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIRequestFactory

from phoenix.core.throttling import SlidingWindowThrottle, _redis_client

START = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)  # a window boundary for per-minute rates


class PerIdentThrottle(SlidingWindowThrottle):
    scope = "test"
    setting_name = "TEST_THROTTLE_RATE"

    def get_ident(self, request):
        return request.META.get("HTTP_X_WHO")


def ask(who: str = "ann") -> tuple[bool, float]:
    throttle = PerIdentThrottle()
    allowed = throttle.allow_request(APIRequestFactory().get("/", HTTP_X_WHO=who), None)
    return allowed, (None if allowed else throttle.wait())


@pytest.fixture(autouse=True)
def _clean_redis():
    cache.clear()
    yield
    cache.clear()


@override_settings(TEST_THROTTLE_RATE="3/min")
def test_the_limit_holds_in_a_window_and_refusals_are_not_counted():
    with time_machine.travel(START + timedelta(seconds=10), tick=False):
        assert [ask()[0] for _ in range(3)] == [True, True, True]
        assert [ask() for _ in range(3)] == [(False, 50)] * 3  # until the next window: 50 s
        assert ask("bob")[0] is True  # per caller
    assert _redis_client().get(f"throttle:window:test:ann:{int(START.timestamp()) // 60}") == b"3"


@override_settings(TEST_THROTTLE_RATE="4/min")
def test_the_previous_window_counts_for_the_share_still_inside_the_sliding_window():
    with time_machine.travel(START + timedelta(seconds=50), tick=False):
        assert all(ask()[0] for _ in range(4))
    # Half-way through the next window: 4 x 0.5 = 2 of the previous window still count.
    with time_machine.travel(START + timedelta(seconds=90), tick=False):
        assert [ask()[0] for _ in range(2)] == [True, True]
        allowed, wait = ask()
        # Refused; the next fits once the previous share has shrunk by one request: 15 s.
        assert (allowed, wait) == (False, 15)
    with time_machine.travel(START + timedelta(seconds=106), tick=False):
        assert ask()[0] is True


@override_settings(TEST_THROTTLE_RATE="100/min")
def test_a_request_is_one_redis_round_trip():
    client = _redis_client()
    before = client.info("stats")["total_commands_processed"]
    ask()
    after = client.info("stats")["total_commands_processed"]
    # One EVALSHA (the server counts the script's INCR, EXPIRE of a new window and GET too), plus
    # the INFO that read `before`.
    assert after - before == 5
