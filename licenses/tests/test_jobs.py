"""The scheduled jobs of licenses: their schedules, commands (dry run = real run) and tasks."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connections
from django_celery_beat.models import PeriodicTask

from licenses import services
from licenses.models import License, LicenseKind, LicenseStatus, ProAccount, ProAccountStatus
from licenses.tasks import grouped_billing, pro_trial_expiry
from licenses.tests.factories import T0, pro_account_with_seats, trial_user
from phoenix.core.jobs import advisory_lock_key

pytestmark = pytest.mark.django_db



@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(T0, tick=False):
        yield


@pytest.fixture
def account() -> ProAccount:
    return pro_account_with_seats(now=T0, monthly=2, lifetime=1)


def _first_free(account, kind=LicenseKind.MONTHLY) -> License:
    return License.objects.filter(pro_account=account, kind=kind, status=LicenseStatus.AVAILABLE).order_by("id").first()


def test_grouped_billing_command_dry_run_lists_what_the_real_run_does(account):
    user = trial_user(now=T0)
    services.collaborator_link(pro_account=account, collaborator=user, now=T0)
    lic = _first_free(account)
    services.license_assign(license=lic, collaborator=user, now=T0)
    services.license_cancel(license=lic, now=T0)
    dry, real = StringIO(), StringIO()
    call_command("process_grouped_billing", "--now", "2027-02-28T00:30:00Z", "--dry-run", stdout=dry)
    assert License.objects.filter(pk=lic.pk).exists()
    call_command("process_grouped_billing", "--now", "2027-02-28T00:30:00Z", "--yes", stdout=real)
    assert not License.objects.filter(pk=lic.pk).exists()
    dry_lines = [line.removeprefix("[dry-run] would do: ") for line in dry.getvalue().splitlines()]
    real_lines = [line.removeprefix("done: ") for line in real.getvalue().splitlines()]
    assert dry_lines[:-1] == real_lines[:-1] and len(real_lines) == 3  # delete, advance, summary
    assert "delete_license" in real_lines[0] and f"collaborator={user.email}" in real_lines[0]
    assert "access=LICENSED->EXPIRED" in real_lines[0]


def test_pro_trial_command():
    account = services.pro_account_open(owner=trial_user(now=T0), now=T0)
    out = StringIO()
    call_command("expire_pro_trials", "--now", "2027-02-08T00:00:00", "--dry-run", stdout=out)
    assert f"expire_trial: pro account {account.pk}" in out.getvalue()
    call_command("expire_pro_trials", "--now", "2027-02-08T00:00:00", "--yes", stdout=StringIO())
    account.refresh_from_db()
    assert account.status == "expired"


def test_job_schedules_are_created_by_migration():
    tasks = set(PeriodicTask.objects.filter(task__startswith="licenses.").values_list("task", flat=True))
    assert tasks == {"licenses.grouped_billing", "licenses.pro_trial_expiry"}


def test_tasks_run_the_jobs():
    services.pro_account_open(owner=trial_user(now=T0), now=T0)
    with time_machine.travel(T0 + timedelta(days=8)):
        assert pro_trial_expiry.apply().get()["steps"] == 1
        assert grouped_billing.apply().get()["steps"] == 0


@pytest.mark.parametrize(("lock", "run", "command"), [
    (services.TRIAL_JOB_LOCK, services.pro_trial_expiry_run, "expire_pro_trials"),
    (services.GROUPED_JOB_LOCK, services.grouped_billing_run, "process_grouped_billing"),
])
def test_overlapping_run_skips_and_changes_nothing(lock, run, command):
    account = services.pro_account_open(owner=trial_user(now=T0), now=T0)
    # Another session holds the job lock: this run must not touch anything.
    other = connections.create_connection("default")
    key = advisory_lock_key(lock)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        report = run(now=T0 + timedelta(days=8))
        assert report.skipped_locked and report.steps == []
        with pytest.raises(CommandError, match="another run holds the lock"):
            call_command(command, "--now", "2027-02-08T11:00:00Z", "--yes", stdout=StringIO())
    finally:
        # Unlock explicitly: a closed connection's backend releases its locks only when it
        # has exited, which may be after the assertions below.
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        other.close()
    account.refresh_from_db()
    assert account.status == ProAccountStatus.TRIAL
