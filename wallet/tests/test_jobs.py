"""Jobs: hold expiry (command, dry run, batches), the health job (WARNINGs auto-corrected with an
audited operation; CRITICALs recorded and mailed, never corrected), their overlap locks,
beat schedules and Celery tasks."""

from datetime import timedelta

import psycopg
import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from phoenix.accounts.tests.factories import UserFactory
from phoenix.celery import app
from phoenix.core.errors import JobAlreadyRunning
from phoenix.core.jobs import advisory_lock_key
from phoenix.core.models import AdminAction, JobRun
from wallet import operator, services, tasks
from wallet.errors import HoldNotPending
from wallet.models import BalanceOperation, Hold, HoldStatus, Incident, IncidentSeverity, IncidentStatus, OperationType
from wallet.tests.conftest import assert_wallet_consistent, sql
from wallet.tests.factories import WalletFactory, hold_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _admins(settings):
    settings.ADMINS = [("Ops", "ops@example.com")]


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
    with pytest.raises(HoldNotPending):
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
    call_command("wallet_expire_holds", "--now", iso(hold.expires_at + timedelta(hours=1)), "--yes")
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


def test_an_operator_run_now_is_refused_while_another_run_holds_the_lock(other_session):
    key = advisory_lock_key(services.HEALTH_LOCK)
    other_session.execute("SELECT pg_advisory_lock(%s)", [key])
    with pytest.raises(JobAlreadyRunning):
        operator.wallet_health_run_now(actor=UserFactory(is_staff=True), reason="after the deploy")
    assert not JobRun.objects.exists() and not AdminAction.objects.exists()  # a skipped run writes nothing
    other_session.execute("SELECT pg_advisory_unlock(%s)", [key])


# --- Schedules and tasks --------------------------------------------------------------------------


def test_beat_schedules_are_created_by_the_migration():
    health = PeriodicTask.objects.get(task="wallet.health_check")
    expiry = PeriodicTask.objects.get(task="wallet.expire_holds")
    assert health.enabled and health.crontab.minute == "7" and health.crontab.hour == "*"
    assert expiry.enabled and (expiry.interval.every, expiry.interval.period) == (60, "seconds")


def test_tasks_are_registered_and_call_the_services():
    assert {"wallet.health_check", "wallet.expire_holds"} <= set(app.tasks.keys())
    wallet = WalletFactory(balance=10)
    hold = hold_create(wallet=wallet, amount=5, ttl_seconds=1)

    Hold.objects.filter(pk=hold.pk).update(created_at=timezone.now() - timedelta(minutes=2),
                                           expires_at=timezone.now() - timedelta(minutes=1))
    assert tasks.wallet_expire_holds.apply().get() == {"job": "wallet.expire_holds", "skipped_locked": False,
                                                       "dry_run": False, "due": 1, "expired": 1}
    result = tasks.wallet_health_check.apply().get()
    assert result["critical"] == result["warnings"] == 0 and not result["skipped_locked"]


# --- The health job ---------------------------------------------------------------------------------


def test_job_corrects_held_down_to_the_pending_holds(busy_wallet):
    sql("UPDATE wallet_hold SET status = 'released', resolved_at = now() "
        "WHERE wallet_id = %s AND status = 'pending'", [busy_wallet.pk])

    report = services.wallet_health_run()

    [correction] = report.corrections
    assert (correction.type, correction.amount, correction.source) == (OperationType.HELD_CORRECTION_DOWN, 20, "system")
    assert (correction.held_before, correction.held_after, correction.balance_after) == (20, 0, 85)
    incident = Incident.objects.get(wallet=busy_wallet)
    assert (incident.code, incident.severity, incident.status, incident.correction_id) == (
        "held_pending_mismatch", IncidentSeverity.WARNING, IncidentStatus.CORRECTED, correction.pk)
    assert mail.outbox == []  # warnings are corrected, not mailed
    assert_wallet_consistent(busy_wallet)  # held, replay, hash chain all agree afterwards
    assert services.wallet_health_run().findings == []


def test_job_corrects_held_up_to_the_pending_holds(busy_wallet):
    sql("UPDATE wallet_hold SET status = 'pending', resolved_at = NULL, captured_amount = NULL "
        "WHERE wallet_id = %s AND status = 'released'", [busy_wallet.pk])  # the 7-point hold

    [correction] = services.wallet_health_run().corrections

    assert (correction.type, correction.amount) == (OperationType.HELD_CORRECTION_UP, 7)
    busy_wallet.refresh_from_db()
    assert busy_wallet.held == 27
    assert_wallet_consistent(busy_wallet)


def test_job_does_not_raise_held_above_the_balance():
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=30)
    services.wallet_release(hold_id=hold.pk)
    services.wallet_debit(user=wallet.user, amount=40, source="api", reason="a")
    sql("UPDATE wallet_hold SET status = 'pending', resolved_at = NULL WHERE id = %s", [hold.pk])

    report = services.wallet_health_run()

    assert report.corrections == []
    incident = Incident.objects.get(wallet=wallet)
    assert (incident.status, incident.code) == (IncidentStatus.OPEN, "held_pending_mismatch")
    assert "pending holds exceed the balance" in incident.resolution_note


def test_job_records_and_mails_criticals_once_and_never_corrects_them(busy_wallet):
    sql("UPDATE wallet_wallet SET balance = balance + 7 WHERE id = %s", [busy_wallet.pk])
    operations_before = BalanceOperation.objects.count()

    first = services.wallet_health_run()

    # The lots still hold the true balance: they disagree with the wallet too.
    assert [f.code for f in first.critical] == ["ledger_balance_mismatch", "lots_balance_mismatch"]
    incident = Incident.objects.get(wallet=busy_wallet, code="ledger_balance_mismatch")
    assert (incident.severity, incident.status, incident.times_seen) == ("critical", "open", 1)
    assert len(mail.outbox) == 1
    assert "ledger_balance_mismatch" in mail.outbox[0].body and "critical" in mail.outbox[0].subject.lower()

    second = services.wallet_health_run()  # still there an hour later: bumped, not re-mailed

    assert second.new_incidents == []
    incident.refresh_from_db()
    assert incident.times_seen == 2
    assert len(mail.outbox) == 1
    assert BalanceOperation.objects.count() == operations_before
    busy_wallet.refresh_from_db()
    assert busy_wallet.balance == 92  # never auto-corrected


def test_job_leaves_warnings_alone_on_a_wallet_with_a_critical(busy_wallet):
    sql("UPDATE wallet_wallet SET held = held + 4 WHERE id = %s", [busy_wallet.pk])
    report = services.wallet_health_run()
    assert report.corrections == []
    assert set(Incident.objects.filter(wallet=busy_wallet).values_list("code", "status")) == {
        ("ledger_held_mismatch", "open"), ("held_pending_mismatch", "open")}


def test_dry_run_reports_and_writes_nothing(busy_wallet, capsys):
    sql("UPDATE wallet_hold SET status = 'released', resolved_at = now() "
        "WHERE wallet_id = %s AND status = 'pending'", [busy_wallet.pk])
    other = WalletFactory(balance=10)
    sql("UPDATE wallet_wallet SET balance = 3 WHERE id = %s", [other.pk])
    operations_before = BalanceOperation.objects.count()

    call_command("wallet_health", "--dry-run", "--now", "2030-01-01T10:00:00")

    out = capsys.readouterr().out
    assert "[dry run]" in out and "now=2030-01-01T10:00:00+00:00" in out
    assert f"would correct wallet={busy_wallet.pk}: held_correction_down 20" in out
    assert f"CRITICAL wallet={other.pk}" in out and "ledger_balance_mismatch" in out
    assert BalanceOperation.objects.count() == operations_before
    assert Incident.objects.count() == 0
    assert mail.outbox == []


def test_command_runs_the_job(busy_wallet, capsys):
    sql("UPDATE wallet_hold SET status = 'released', resolved_at = now() "
        "WHERE wallet_id = %s AND status = 'pending'", [busy_wallet.pk])
    call_command("wallet_health", "--now", "2030-01-01T10:00:00Z", "--yes")
    out = capsys.readouterr().out
    assert f"corrected wallet={busy_wallet.pk}: held_correction_down 20" in out
    incident = Incident.objects.get()
    assert incident.detected_at.year == 2030
    call_command("wallet_health")
    assert "all wallets healthy" in capsys.readouterr().out
