"""The hourly access expiry: its schedule, command, overlap lock and Celery task."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections
from django_celery_beat.models import PeriodicTask

from phoenix.core.jobs import advisory_lock, advisory_lock_key
from subscriptions import services
from subscriptions.models import Access, AccessType
from subscriptions.tasks import expire_access
from subscriptions.tests.factories import trial_user

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def test_expiry_schedule_is_created_by_migration():
    task = PeriodicTask.objects.get(task="subscriptions.expire_access")
    assert task.enabled and task.crontab is not None


def test_command_dry_run_prints_what_the_real_run_does():
    users = [trial_user(now=T0) for _ in range(2)]
    dry, real = StringIO(), StringIO()
    call_command("expire_access", "--now", "2027-01-20T00:00:00", "--dry-run", stdout=dry)
    assert all(a.type == "TRIAL" for a in Access.objects.filter(user__in=users))
    call_command("expire_access", "--now", "2027-01-20T00:00:00", "--yes", stdout=real)
    assert all(a.type == "EXPIRED" for a in Access.objects.filter(user__in=users))
    dry_lines = [line.removeprefix("[dry-run] would do: ") for line in dry.getvalue().splitlines()[:-1]]
    real_lines = [line.removeprefix("done: ") for line in real.getvalue().splitlines()[:-1]]
    assert len(dry_lines) == 2 and dry_lines == real_lines


def test_overlapping_run_is_refused_by_the_advisory_lock():
    user = trial_user(now=T0)

    # Another session holds the job lock: this run must not touch anything.
    other = connections.create_connection("default")
    key = advisory_lock_key(services.EXPIRY_JOB_LOCK)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        report = services.access_expire_due(now=T0 + timedelta(days=30))
        assert report.skipped_locked and report.steps == []
    finally:
        # Unlock explicitly: a closed connection's backend releases its locks only when
        # it has exited, which may be after the assertion below.
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        other.close()
    with advisory_lock(services.EXPIRY_JOB_LOCK) as acquired:
        assert acquired
    assert Access.objects.get(user=user).type == AccessType.TRIAL  # nothing changed


def test_task_runs_the_expiry():
    user = trial_user(now=T0)
    with time_machine.travel(T0 + timedelta(days=8)):
        assert expire_access.apply().get()["steps"] == 1
    assert Access.objects.get(user=user).type == "EXPIRED"
