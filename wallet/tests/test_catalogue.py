"""The energy catalogue's process-memory snapshot and its invalidation channel (Redis pub/sub),
on real PostgreSQL and Redis, with committed changes (a transactional test).

"Another process" is simulated honestly: the row is changed by SQL (no model signal, so this
process neither bumps nor drops its snapshot) and the change is announced on the channel the
way the other process's commit hook would (`CATALOGUE_CHANNEL.publish()`), or not at all.
"""

from __future__ import annotations

import os
import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wallet.models import EnergyAction
from wallet.selectors import catalogue
from wallet.selectors.catalogue import CATALOGUE_CHANNEL, catalogue_action

pytestmark = pytest.mark.django_db(transaction=True)

CODE = "conseil_rapide"


def _set_cost_as_another_process(cost: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {EnergyAction._meta.db_table} SET cost = %s WHERE code = %s", [cost, CODE])


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the subscriber did not catch up"
        time.sleep(0.01)


def _catalogue_statements() -> int:
    with CaptureQueriesContext(connection) as captured:
        catalogue_action(CODE)
    return len(captured.captured_queries)


def test_a_read_is_served_from_memory_until_the_channel_says_otherwise():
    cost = catalogue_action(CODE).cost
    assert _catalogue_statements() == 0  # memory: no statement, no Redis command
    _set_cost_as_another_process(cost + 7)
    assert catalogue_action(CODE).cost == cost  # not announced yet: the snapshot stands
    before = CATALOGUE_CHANNEL.generation()
    CATALOGUE_CHANNEL.publish()
    _wait_for(lambda: CATALOGUE_CHANNEL.generation() != before)
    assert catalogue_action(CODE).cost == cost + 7
    assert _catalogue_statements() == 0


def test_a_lost_subscription_reads_the_database_then_reloads_on_resubscribing():
    cost = catalogue_action(CODE).cost
    before = CATALOGUE_CHANNEL.generation()
    assert before is not None
    _set_cost_as_another_process(cost + 2)  # a change whose announcement this process misses
    killed = cache.redis_client().client_kill_filter(_type="pubsub")
    assert killed >= 1
    _wait_for(lambda: CATALOGUE_CHANNEL.generation() not in (None, before))
    assert catalogue_action(CODE).cost == cost + 2  # a resubscription may have missed messages: reload


def test_while_unsubscribed_every_read_goes_to_the_database(monkeypatch):
    cost = catalogue_action(CODE).cost
    monkeypatch.setattr(CATALOGUE_CHANNEL, "_subscribed", False)  # as between a failure and the retry
    _set_cost_as_another_process(cost + 4)
    assert catalogue_action(CODE).cost == cost + 4
    assert _catalogue_statements() == 2  # actions and packs, at every read


def test_a_snapshot_older_than_its_maximum_age_is_reloaded(monkeypatch):
    cost = catalogue_action(CODE).cost
    _set_cost_as_another_process(cost + 1)
    assert catalogue_action(CODE).cost == cost
    loaded_at = catalogue._snapshot.loaded_at
    monkeypatch.setattr(catalogue.time, "monotonic",
                        lambda: loaded_at + catalogue.SNAPSHOT_MAX_AGE_SECONDS + 1)
    assert catalogue_action(CODE).cost == cost + 1


def test_this_process_sees_its_own_committed_change_at_once_and_announces_it():
    action = EnergyAction.objects.get(code=CODE)
    catalogue_action(CODE)
    pubsub = cache.redis_client().pubsub()
    pubsub.subscribe(cache.make_key(CATALOGUE_CHANNEL.name))
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    action.cost += 3
    action.save()  # committed: the hook drops this process's snapshot and publishes
    assert catalogue_action(CODE).cost == action.cost
    message = pubsub.get_message(timeout=5)
    pubsub.close()
    assert message is not None and message["type"] == "message"


def test_a_forked_child_subscribes_on_its_own():
    """gunicorn and Celery fork their workers: the parent's subscriber thread is not in the child."""
    catalogue_action(CODE)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it subscribed by itself, then leave at once
        try:
            deadline = time.monotonic() + 10  # a loaded machine may take longer than the first wait
            while CATALOGUE_CHANNEL.generation() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            os.write(write, b"1" if CATALOGUE_CHANNEL.generation() is not None else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"
