from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from conftest import token_client_for
from phoenix.accounts.tests.factories import UserFactory
from subscriptions import services
from phoenix.core.jobs import advisory_lock, advisory_lock_key
from subscriptions.models import Access, Plan

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def test_user_reads_own_access(user_client, registered_user):
    response = user_client.get(f"/subscriptions/access/{registered_user.public_id}")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["type"] == "TRIAL" and body["premium"] is True and body["unlimited"] is False
    assert body["trial_ends_at"] and body["license_status"] == "none"


def test_user_cannot_read_another_users_access(user_client):
    other = UserFactory()
    response = user_client.get(f"/subscriptions/access/{other.public_id}")
    assert response.status_code == 404 and response.json()["error"] == "user_not_found"


def test_satellite_reads_any_access(satellite_client):
    user = UserFactory()
    services.access_activate_premium(user=user, period_end=datetime(2099, 1, 1, tzinfo=UTC), event_time=T0)
    body = satellite_client.get(f"/subscriptions/access/{user.public_id}").json()
    assert (body["type"], body["premium"], body["unlimited"]) == ("PREMIUM", True, True)


def test_anonymous_is_refused(api_client):
    assert api_client.get(f"/subscriptions/access/{UserFactory().public_id}").status_code == 401


def test_profile_has_the_access_section(registered_user):
    body = token_client_for(registered_user).get("/auth/profile").json()
    assert body["access"]["type"] == "TRIAL"
    assert set(body["access"]) == {"type", "premium", "unlimited", "trial_ends_at"}


def test_plans_are_seeded():
    plan = Plan.objects.get(code="luna_unlimited")
    assert (plan.price_cents, plan.currency, plan.kind, plan.audience) == (2999, "EUR", "monthly", "individual")
    assert Plan.objects.filter(audience="individual", kind="lifetime").exists()


def test_expiry_schedule_is_created_by_migration():
    task = PeriodicTask.objects.get(task="subscriptions.expire_access")
    assert task.enabled and task.crontab is not None


def test_command_dry_run_prints_what_the_real_run_does():
    users = [UserFactory() for _ in range(2)]
    for user in users:
        services.access_open_trial(user=user, now=T0)
    dry, real = StringIO(), StringIO()
    call_command("expire_access", "--now", "2027-01-20T00:00:00", "--dry-run", stdout=dry)
    assert all(a.type == "TRIAL" for a in Access.objects.filter(user__in=users))
    call_command("expire_access", "--now", "2027-01-20T00:00:00", stdout=real)
    assert all(a.type == "EXPIRED" for a in Access.objects.filter(user__in=users))
    dry_lines = [line.removeprefix("[dry-run] would do: ") for line in dry.getvalue().splitlines()[:-1]]
    real_lines = [line.removeprefix("done: ") for line in real.getvalue().splitlines()[:-1]]
    assert len(dry_lines) == 2 and dry_lines == real_lines


def test_overlapping_run_is_refused_by_the_advisory_lock():
    services.access_open_trial(user=UserFactory(), now=T0)
    from django.db import connections

    # Another session holds the job lock: this run must not touch anything.
    other = connections.create_connection("default")
    key = advisory_lock_key(services.EXPIRY_JOB_LOCK)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        with pytest.raises(services.JobAlreadyRunning):
            services.access_expire_due(now=T0 + timedelta(days=30))
    finally:
        # Unlock explicitly: a closed connection's backend releases its locks only when
        # it has exited, which may be after the assertion below.
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        other.close()
    with advisory_lock(services.EXPIRY_JOB_LOCK) as acquired:
        assert acquired


def test_task_runs_the_expiry():
    from subscriptions.tasks import expire_access

    user = UserFactory()
    services.access_open_trial(user=user, now=T0)
    with time_machine.travel(T0 + timedelta(days=8)):
        assert expire_access.apply().get() == 1
    assert Access.objects.get(user=user).type == "EXPIRED"
