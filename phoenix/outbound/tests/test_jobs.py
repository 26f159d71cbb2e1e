"""The dispatcher job: its beat schedule, its command, its lock."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.management import call_command
from django.db import connections, transaction
from django_celery_beat.models import PeriodicTask

from phoenix.core.jobs import advisory_lock
from phoenix.outbound.models import Delivery
from phoenix.outbound.outbox import emit
from phoenix.outbound.services.delivery import DISPATCH_LOCK, deliveries_dispatch

pytestmark = pytest.mark.django_db


def test_the_dispatcher_runs_every_minute_from_beat():
    task = PeriodicTask.objects.get(task="outbound.dispatch")
    assert task.enabled and (task.interval.every, task.interval.period) == (1, "minutes")


def test_the_command_dry_run_lists_and_writes_nothing(endpoint):
    with transaction.atomic():
        emit(type="wallet.credited", subject="user:1", body={"user_id": 1})
    out = io.StringIO()
    call_command("webhook_dispatch", "--dry-run", stdout=out)
    assert "[dry-run] would queue 1 delivery(ies)" in out.getvalue()
    assert Delivery.objects.get().attempts == 0


@pytest.mark.django_db(transaction=True)
def test_a_dispatch_never_hands_out_a_delivery_being_attempted(endpoint):
    with transaction.atomic():
        (delivery_id,) = emit(type="wallet.credited", subject="user:1", body={"user_id": 1})
    assert deliveries_dispatch(dry_run=True).enqueued == [delivery_id]
    locked, release = threading.Event(), threading.Event()

    def attempt_in_flight():  # another connection holds the row, as a worker mid-POST does
        try:
            with transaction.atomic():
                Delivery.objects.select_for_update().get(pk=delivery_id)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=attempt_in_flight)
    holder.start()
    try:
        assert locked.wait(30)
        assert deliveries_dispatch(dry_run=True).enqueued == []
    finally:
        release.set()
        holder.join(30)


def test_a_second_dispatch_while_one_runs_is_skipped():
    with advisory_lock(DISPATCH_LOCK):
        held = threading.Event()
        result = {}

        def other():
            try:
                result["report"] = deliveries_dispatch()
            finally:
                connections.close_all()
                held.set()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(30)
    assert result["report"].skipped_locked and held.is_set()
