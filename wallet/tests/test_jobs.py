"""Hold expiry, job overlap safety, schedules, tasks, and what registration opens."""

from datetime import timedelta

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from wallet import services, tasks
from phoenix.core.jobs import advisory_lock_key
from wallet.models import BalanceOperation, HoldStatus, OperationType
from wallet.tests.conftest import assert_wallet_consistent
from wallet.tests.factories import WalletFactory, hold_create

pytestmark = pytest.mark.django_db


def iso(moment) -> str:
    return moment.isoformat()


# --- Hold expiry -------------------------------------------------------------------------------


def test_expiry_releases_pending_holds_past_their_deadline():
    wallet = WalletFactory(balance=100)
    due = hold_create(wallet=wallet, amount=30, ttl_seconds=60)
    later = hold_create(wallet=wallet, amount=20, ttl_seconds=3600)
    committed = hold_create(wallet=wallet, amount=10, ttl_seconds=60)
    services.wallet_commit(hold_id=committed.pk)

    report = services.wallet_holds_expire(now=timezone.now() + timedelta(minutes=2))

    assert [h.pk for h in report.expired] == [due.pk]
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, later.status) == (HoldStatus.EXPIRED, HoldStatus.PENDING)
    release = due.operations.get(type=OperationType.RELEASE)
    assert (release.amount, release.source, release.reason) == (30, "system", "hold expired")
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.held) == (90, 20)
    assert_wallet_consistent(wallet)
    with pytest.raises(services.HoldNotPending):
        services.wallet_commit(hold_id=due.pk)


def test_expiry_command_with_now(capsys):
    wallet = WalletFactory(balance=100)
    hold = hold_create(wallet=wallet, amount=30, ttl_seconds=60)

    call_command("wallet_expire_holds", "--now", iso(timezone.now() + timedelta(seconds=30)))
    assert "expired 0 hold(s)" in capsys.readouterr().out
    hold.refresh_from_db()
    assert hold.status == HoldStatus.PENDING

    call_command("wallet_expire_holds", "--now", iso(hold.expires_at))
    out = capsys.readouterr().out
    assert "expired 1 hold(s)" in out and str(hold.pk) in out
    hold.refresh_from_db()
    assert hold.status == HoldStatus.EXPIRED
    call_command("wallet_expire_holds", "--now", iso(hold.expires_at + timedelta(hours=1)))
    assert "expired 0 hold(s)" in capsys.readouterr().out  # idempotent


def test_expiry_dry_run_changes_nothing(capsys):
    wallet = WalletFactory(balance=100)
    hold = hold_create(wallet=wallet, amount=30, ttl_seconds=60)
    operations_before = BalanceOperation.objects.count()

    call_command("wallet_expire_holds", "--dry-run", "--now", iso(timezone.now() + timedelta(minutes=5)))

    out = capsys.readouterr().out
    assert "[dry run]" in out and "would expire 1 hold(s)" in out and str(hold.pk) in out
    hold.refresh_from_db()
    wallet.refresh_from_db()
    assert hold.status == HoldStatus.PENDING and wallet.held == 30
    assert BalanceOperation.objects.count() == operations_before


def test_expiry_goes_through_batches():
    wallet = WalletFactory(balance=100)
    holds = [hold_create(wallet=wallet, amount=1, ttl_seconds=60) for _ in range(7)]
    report = services.wallet_holds_expire(now=timezone.now() + timedelta(minutes=2), batch_size=3)
    assert sorted(h.pk for h in report.expired) == sorted(h.pk for h in holds)
    wallet.refresh_from_db()
    assert wallet.held == 0


def test_bad_now_is_a_command_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("wallet_expire_holds", "--now", "yesterday")


# --- Overlap safety ----------------------------------------------------------------------------


@pytest.fixture
def other_session():
    """A second PostgreSQL session (another worker), outside the test's transaction."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("job", ["expiry", "health"])
def test_a_job_does_nothing_while_another_run_holds_its_lock(other_session, job):
    wallet = WalletFactory(balance=100)
    hold = hold_create(wallet=wallet, amount=30, ttl_seconds=60)
    later = timezone.now() + timedelta(minutes=5)
    if job == "expiry":
        lock_name, run = services.EXPIRY_LOCK, lambda: services.wallet_holds_expire(now=later)
    else:
        lock_name, run = services.HEALTH_LOCK, lambda: services.wallet_health_run(now=later)
        with connection.cursor() as cursor:  # a WARNING for the health job to correct
            cursor.execute("UPDATE wallet_hold SET status = 'released', resolved_at = now() WHERE id = %s",
                           [hold.pk])
    key = advisory_lock_key(lock_name)

    other_session.execute("SELECT pg_advisory_lock(%s)", [key])
    report = run()
    assert report.skipped_locked
    wallet.refresh_from_db()
    assert wallet.held == 30 and BalanceOperation.objects.filter(wallet=wallet).count() == 2

    other_session.execute("SELECT pg_advisory_unlock(%s)", [key])
    report = run()
    assert not report.skipped_locked
    wallet.refresh_from_db()
    assert wallet.held == 0  # expired, or corrected down to the (zero) pending holds
    assert_wallet_consistent(wallet)


# --- Schedules and tasks --------------------------------------------------------------------------


def test_beat_schedules_are_created_by_the_migration():
    from django_celery_beat.models import PeriodicTask

    health = PeriodicTask.objects.get(task="wallet.health_check")
    expiry = PeriodicTask.objects.get(task="wallet.expire_holds")
    assert health.enabled and health.crontab.minute == "7" and health.crontab.hour == "*"
    assert expiry.enabled and (expiry.interval.every, expiry.interval.period) == (60, "seconds")


def test_tasks_are_registered_and_call_the_services():
    from phoenix.celery import app

    assert {"wallet.health_check", "wallet.expire_holds"} <= set(app.tasks.keys())
    wallet = WalletFactory(balance=10)
    hold = hold_create(wallet=wallet, amount=5, ttl_seconds=1)
    from wallet.models import Hold

    Hold.objects.filter(pk=hold.pk).update(created_at=timezone.now() - timedelta(minutes=2),
                                           expires_at=timezone.now() - timedelta(minutes=1))
    assert tasks.wallet_expire_holds.apply().get() == {"skipped_locked": False, "expired": [str(hold.pk)]}
    result = tasks.wallet_health_check.apply().get()
    assert result["critical"] == result["warnings"] == 0 and not result["skipped_locked"]


# --- Registration --------------------------------------------------------------------------------------


def test_registration_opens_a_wallet_with_the_welcome_grant(registered_user):
    wallet = registered_user.wallet
    assert (wallet.balance, wallet.held) == (services.WELCOME_GRANT_POINTS, 0) == (85, 0)
    grant = wallet.operations.get()
    assert (grant.type, grant.amount, grant.source, grant.idempotency_key) == ("credit", 85, "system", "welcome-grant")
    services.wallet_open(user=registered_user)  # a second signal would not grant twice
    wallet.refresh_from_db()
    assert wallet.balance == 85


def test_profile_has_the_energy_section(user_client, registered_user):
    services.wallet_freeze(user=registered_user, amount=20, action_code="a", ttl_seconds=60)
    body = user_client.get("/auth/profile").json()
    assert body["energy"] == {"balance": 85, "held": 20, "available": 65}


def test_a_failing_wallet_opening_rolls_registration_back(monkeypatch):
    from phoenix.accounts.models import User
    from phoenix.accounts.services import user_register

    def broken(**kwargs):
        raise RuntimeError("wallet down")

    monkeypatch.setattr("wallet.receivers.wallet_open", broken)
    with pytest.raises(RuntimeError):
        user_register(email="rollback@example.com", password="a-Long-test-passphrase-42")
    assert not User.objects.filter(email="rollback@example.com").exists()
