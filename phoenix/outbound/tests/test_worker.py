"""A real Celery worker delivers; killed with SIGKILL mid-POST, the delivery is not lost:
after a restart the dispatcher hands it over again and the receiver, de-duplicating on
`webhook-id`, sees the event once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection, transaction

from phoenix.outbound import tasks
from phoenix.outbound.models import Delivery, DeliveryStatus
from phoenix.outbound.outbox import emit
from phoenix.outbound.services.delivery import deliveries_dispatch

ROOT = Path(__file__).resolve().parents[3]
WAIT_S = 120  # a loaded machine starts a worker slowly


def _start_worker() -> subprocess.Popen:
    # The worker must use the test database, not the development one.
    url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"]).geturl()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="phoenix.settings_test", DATABASE_URL=url)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "phoenix", "worker", "--pool", "solo", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _wait_for(condition, *, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_kill_9_during_delivery_then_restart_delivers_once_after_dedup(receiver, endpoint):
    receiver.block = threading.Event()  # the first POST hangs until the worker is dead
    worker = _start_worker()
    try:
        with transaction.atomic():
            (delivery_id,) = emit(type="wallet.credited", subject="user:7", body={"user_id": 7, "amount": 5})
        assert receiver.got_request.wait(WAIT_S), "the worker never POSTed"
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
        receiver.block.set()
        delivery = Delivery.objects.get(pk=delivery_id)
        assert delivery.status == DeliveryStatus.PENDING  # the killed attempt committed nothing

        worker = _start_worker()
        # beat's dispatcher, until the dead worker's row lock is gone and the delivery is handed over
        _wait_for(lambda: deliveries_dispatch(enqueue=tasks.deliveries_enqueue).enqueued, what="the dispatch")
        _wait_for(lambda: Delivery.objects.get(pk=delivery_id).status == DeliveryStatus.DELIVERED,
                  what="the delivery after the restart")
    finally:
        worker.kill()
        worker.wait(30)
    assert receiver.refused == []
    ids = [r.webhook_id for r in receiver.received]
    assert len(ids) >= 1 and set(ids) == {Delivery.objects.get(pk=delivery_id).event_id.__str__()}
    assert len(receiver.unique_ids()) == 1
