"""Celery: a real worker process consuming from real Redis; schedules from migrations."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django_celery_beat.models import PeriodicTask

from phoenix.core.services import WORKER_HEARTBEAT_KEY
from phoenix.core.tasks import worker_heartbeat

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def celery_worker_process():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="phoenix.settings_test")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "phoenix", "worker", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.mark.slow
@pytest.mark.django_db
def test_task_runs_on_a_real_worker(celery_worker_process):
    cache.delete(WORKER_HEARTBEAT_KEY)
    result = worker_heartbeat.delay()
    try:
        returned = result.get(timeout=60)
    except Exception:
        celery_worker_process.terminate()
        raise AssertionError(celery_worker_process.stderr.read()) from None
    # the worker wrote to the shared Redis cache what it returned
    assert cache.get(WORKER_HEARTBEAT_KEY) == returned


@pytest.mark.django_db
def test_delay_on_commit_waits_for_the_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        worker_heartbeat.delay_on_commit()
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_heartbeat_schedule_created_by_migration():
    task = PeriodicTask.objects.get(name="core: worker heartbeat")
    assert task.task == "core.worker_heartbeat"
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (30, "seconds")
