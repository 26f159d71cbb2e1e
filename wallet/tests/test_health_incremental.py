"""The incremental health check: per-wallet verified checkpoints, the hourly run verifying only what
moved since, the full run from genesis (daily, `wallet_health --full`, the operator's checkbox),
what each can and cannot see, overlap safety with real threads on real PostgreSQL."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from phoenix.celery import app
from phoenix.core.models import AdminAction, JobRun
from phoenix.core.tests.operator import op_url
from wallet import services, tasks
from wallet.hashing import operation_hash_sql
from wallet.models import GENESIS_HASH, BalanceOperation, HealthCheckpoint, Incident
from wallet.selectors import wallet_health_findings
from wallet.services import jobs
from wallet.tests.conftest import append_only_trigger_disabled, sql
from wallet.tests.factories import WalletFactory, hold_vanish, wallet_balance_drift

pytestmark = pytest.mark.django_db


def checkpoint(wallet) -> tuple | None:
    return HealthCheckpoint.objects.filter(wallet=wallet).values_list(
        "verified_seq", "verified_hash", "replay_balance", "replay_held").first()


def head(wallet) -> tuple:
    wallet.refresh_from_db()
    return wallet.last_seq, wallet.last_hash, wallet.balance, wallet.held


def codes(report, wallet) -> set[str]:
    return {f.code for f in report.findings if f.wallet_id == wallet.pk}


def debit(wallet, amount: int) -> BalanceOperation:
    return services.wallet_debit(user=wallet.user, amount=amount, source="api", reason="new")


# --- Checkpoints advance on clean runs --------------------------------------------------------------


def test_a_clean_hourly_run_verifies_from_genesis_and_advances_the_checkpoints(busy_wallet):
    empty = WalletFactory()
    operations = BalanceOperation.objects.filter(wallet=busy_wallet).count()

    report = services.wallet_health_run()

    assert report.findings == [] and report.mode == "incremental"
    assert (report.operations_verified, report.wallets_verified, report.checkpoints_advanced) == (operations, 1, 1)
    assert checkpoint(busy_wallet) == head(busy_wallet)
    assert checkpoint(empty) is None  # never moved: its row against the genesis, no checkpoint needed
    run = JobRun.objects.get()
    assert (run.summary["mode"], run.summary["operations_verified"], run.summary["checkpoints_advanced"]) == (
        "incremental", operations, 1)

    again = services.wallet_health_run()  # nothing moved: no operation read
    assert (again.operations_verified, again.wallets_verified, again.checkpoints_advanced) == (0, 0, 0)

    debit(busy_wallet, 10)
    debit(busy_wallet, 5)
    third = services.wallet_health_run()
    assert (third.findings, third.operations_verified, third.checkpoints_advanced) == ([], 2, 1)
    assert checkpoint(busy_wallet) == head(busy_wallet) and head(busy_wallet)[2:] == (70, 20)


def test_the_full_run_re_verifies_everything_and_sets_every_clean_wallets_checkpoint(busy_wallet):
    empty = WalletFactory()
    services.wallet_health_run()
    total = BalanceOperation.objects.count()

    report = services.wallet_health_run(full=True)

    assert report.findings == [] and report.mode == "full"
    assert report.operations_verified == total and report.wallets_verified == 2
    assert report.checkpoints_advanced == 1  # busy_wallet's was already there; the empty wallet's is new
    assert checkpoint(empty) == (0, GENESIS_HASH, 0, 0) and checkpoint(busy_wallet) == head(busy_wallet)
    assert JobRun.objects.latest("id").summary["mode"] == "full"


def test_a_dry_run_advances_nothing(busy_wallet):
    report = services.wallet_health_run(dry_run=True)
    assert report.operations_verified > 0 and report.checkpoints_advanced == 0
    assert not HealthCheckpoint.objects.exists() and not JobRun.objects.exists()
    full = services.wallet_health_run(dry_run=True, full=True)
    assert full.checkpoints_advanced == 0 and not HealthCheckpoint.objects.exists()


# --- Tampering after a checkpoint: the next hourly run finds it ---------------------------------------


def test_an_altered_hash_of_a_new_operation_is_found_and_the_checkpoint_stays(busy_wallet):
    services.wallet_health_run()
    verified = checkpoint(busy_wallet)
    new = debit(busy_wallet, 10)
    with append_only_trigger_disabled():
        sql("UPDATE wallet_balanceoperation SET hash = repeat('a', 64) WHERE id = %s", [new.pk])

    report = services.wallet_health_run()

    assert codes(report, busy_wallet) == {"hash_chain_broken"}
    assert report.findings[0].detail["altered_rows"] == 1
    assert checkpoint(busy_wallet) == verified  # a wallet with a finding is not advanced
    assert codes(services.wallet_health_run(), busy_wallet) == {"hash_chain_broken"}  # so it is seen every hour


def test_a_removed_new_operation_is_found(busy_wallet):
    services.wallet_health_run()
    removed = debit(busy_wallet, 10)
    debit(busy_wallet, 5)
    with append_only_trigger_disabled():
        sql("DELETE FROM wallet_lotconsumption WHERE operation_id = %s", [removed.pk])
        sql("DELETE FROM wallet_balanceoperation WHERE id = %s", [removed.pk])

    found = codes(services.wallet_health_run(), busy_wallet)

    assert {"hash_chain_broken", "ledger_discontinuity", "ledger_balance_mismatch"} <= found


def test_a_balance_update_on_a_wallet_that_did_not_move_is_found_from_its_checkpoint(busy_wallet):
    services.wallet_health_run()
    wallet_balance_drift(busy_wallet, delta=7)

    report = services.wallet_health_run()

    # Its row against its checkpoint only (its lots are not read: the full run adds that finding).
    assert codes(report, busy_wallet) == {"ledger_balance_mismatch"} and report.operations_verified == 0
    assert report.findings[0].detail == {"balance": 92, "replay_balance": 85}
    assert codes(services.wallet_health_run(full=True), busy_wallet) == {
        "ledger_balance_mismatch", "lots_balance_mismatch"}


def test_a_new_operation_not_continuing_from_the_checkpoint_is_found(busy_wallet):
    """The first new operation's before-values are shifted by 5 and its hash recomputed (a valid
    chain link): only the continuity from the checkpoint's replayed state can tell."""
    services.wallet_health_run()
    new = debit(busy_wallet, 10)
    with append_only_trigger_disabled():
        sql("UPDATE wallet_balanceoperation SET balance_before = balance_before + 5, "
            "balance_after = balance_after + 5 WHERE id = %s", [new.pk])
        sql(f"UPDATE wallet_balanceoperation o SET hash = {operation_hash_sql('o')} WHERE id = %s", [new.pk])
    sql("UPDATE wallet_wallet SET balance = balance + 5, "
        "last_hash = (SELECT hash FROM wallet_balanceoperation WHERE id = %s) WHERE id = %s",
        [new.pk, busy_wallet.pk])

    found = codes(services.wallet_health_run(), busy_wallet)

    assert "ledger_discontinuity" in found and "hash_chain_broken" not in found
    assert found == {"ledger_discontinuity", "ledger_balance_mismatch", "lots_balance_mismatch"}


def test_a_wallet_rewound_behind_its_checkpoint_is_found_and_the_checkpoint_never_moves_back(busy_wallet):
    """Its last operation deleted and its row rewound to match: a consistent ledger from genesis,
    but the checkpoint remembers the operation it verified."""
    last = debit(busy_wallet, 10)
    services.wallet_health_run()
    verified = checkpoint(busy_wallet)
    with append_only_trigger_disabled():
        sql("DELETE FROM wallet_lotconsumption WHERE operation_id = %s", [last.pk])
        sql("DELETE FROM wallet_balanceoperation WHERE id = %s", [last.pk])
    sql("UPDATE wallet_energylot SET remaining = remaining + 10 WHERE wallet_id = %s "
        "AND id = (SELECT min(id) FROM wallet_energylot WHERE wallet_id = %s)", [busy_wallet.pk, busy_wallet.pk])
    sql("UPDATE wallet_wallet SET balance = %s, last_seq = %s, last_hash = %s WHERE id = %s",
        [last.balance_before, last.seq - 1, last.prev_hash, busy_wallet.pk])

    assert wallet_health_findings() == []  # from genesis the rewound ledger is consistent
    assert services.wallet_health_run(full=True).findings == []
    assert checkpoint(busy_wallet) == verified  # not moved back
    assert codes(services.wallet_health_run(), busy_wallet) == {"ledger_balance_mismatch", "hash_chain_broken"}


def test_a_warning_on_a_moved_wallet_is_corrected_then_the_checkpoint_advances(busy_wallet):
    services.wallet_health_run()
    debit(busy_wallet, 1)
    hold_vanish(busy_wallet)

    report = services.wallet_health_run()

    assert codes(report, busy_wallet) == {"held_pending_mismatch"} and len(report.corrections) == 1
    assert checkpoint(busy_wallet)[0] == head(busy_wallet)[0] - 2  # the debit and the correction: not yet
    after = services.wallet_health_run()
    assert after.findings == [] and checkpoint(busy_wallet) == head(busy_wallet)


# --- What the hourly run cannot see, and the full run does ---------------------------------------------


def test_an_operation_verified_before_the_checkpoint_then_altered_is_seen_only_by_the_full_run(
        busy_wallet, capsys):
    services.wallet_health_run()
    verified = checkpoint(busy_wallet)
    with append_only_trigger_disabled():
        sql("UPDATE wallet_balanceoperation SET reason = 'innocent' WHERE wallet_id = %s AND seq = 2",
            [busy_wallet.pk])

    # The documented limitation: nothing moved past the checkpoint, so the hourly run reads no
    # operation of this wallet.
    assert services.wallet_health_run().findings == []

    call_command("wallet_health", "--full")

    out = capsys.readouterr().out
    assert "mode=full" in out and f"CRITICAL wallet={busy_wallet.pk}" in out and "hash_chain_broken" in out
    assert Incident.objects.get(wallet=busy_wallet).code == "hash_chain_broken"
    assert checkpoint(busy_wallet) == verified


def test_the_hourly_run_from_genesis_finds_what_the_full_check_finds(busy_wallet):
    """Wallets without a checkpoint: the incremental statement's own path from genesis agrees with
    the full statement, finding for finding."""
    drifted, vanished, altered, lots = (WalletFactory(balance=50) for _ in range(4))
    wallet_balance_drift(drifted, delta=3)
    services.wallet_freeze(user=vanished.user, amount=10, action_code="mirror_match", ttl_seconds=300)
    hold_vanish(vanished)
    debit(altered, 4)
    with append_only_trigger_disabled():
        sql("UPDATE wallet_balanceoperation SET amount = 3, balance_after = balance_before - 3 "
            "WHERE wallet_id = %s AND seq = 2", [altered.pk])
    sql("UPDATE wallet_energylot SET remaining = remaining - 1 WHERE wallet_id = %s", [lots.pk])

    hourly = services.wallet_health_verify(full=False, advance_checkpoints=False, now=timezone.now()).findings
    full = wallet_health_findings()

    assert hourly == full
    assert {f.wallet_id for f in full} == {drifted.pk, vanished.pk, altered.pk, lots.pk}


# --- Statement count ---------------------------------------------------------------------------------


def test_the_hourly_run_issues_a_constant_number_of_statements(django_assert_max_num_queries):
    wallets = [WalletFactory(balance=10) for _ in range(2)]
    for wallet in wallets:
        debit(wallet, 1)
    with CaptureQueriesContext(connection) as few:
        assert services.wallet_health_run().checkpoints_advanced == 2
    wallets += [WalletFactory(balance=10) for _ in range(12)]
    for wallet in wallets:
        debit(wallet, 1)
    with django_assert_max_num_queries(len(few.captured_queries)):
        report = services.wallet_health_run()
    assert report.checkpoints_advanced == 14 and report.findings == []


# --- Overlap, schedules, command, operator action -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_second_run_skips_while_the_first_holds_the_lock(race, monkeypatch):
    wallet = WalletFactory(balance=40)
    debit(wallet, 4)
    first_inside, second_done = threading.Event(), threading.Event()
    verify = jobs.wallet_health_verify

    def verify_when_the_second_run_has_tried(**kwargs):
        first_inside.set()
        second_done.wait(timeout=60)
        return verify(**kwargs)

    monkeypatch.setattr(jobs, "wallet_health_verify", verify_when_the_second_run_has_tried)

    def run(index: int):
        if index == 0:
            return services.wallet_health_run(full=True)
        assert first_inside.wait(timeout=60)  # the first run holds the lock and is verifying
        try:
            return services.wallet_health_run()
        finally:
            second_done.set()

    first, second = race(2, run)

    assert second.skipped_locked and not first.skipped_locked and first.findings == []
    assert JobRun.objects.count() == 1 and checkpoint(wallet) == head(wallet)


def test_beat_runs_the_incremental_check_hourly_and_the_full_one_daily():
    hourly = PeriodicTask.objects.get(task="wallet.health_check")
    daily = PeriodicTask.objects.get(task="wallet.health_check_full")
    assert (hourly.crontab.minute, hourly.crontab.hour) == ("7", "*")
    assert daily.enabled and (daily.crontab.minute, daily.crontab.hour, daily.crontab.day_of_week) == ("37", "3", "*")
    assert "wallet.health_check_full" in app.tasks


def test_the_tasks_run_their_modes(busy_wallet):
    assert tasks.wallet_health_check.apply().get()["mode"] == "incremental"
    result = tasks.wallet_health_check_full.apply().get()
    assert result["mode"] == "full" and result["operations_verified"] == BalanceOperation.objects.count()


def test_the_operator_run_now_offers_the_full_re_verification(finance_client, busy_wallet):
    url = op_url("wallet_incident", "health-run")
    assert "Full re-verification" in finance_client.get(url).content.decode()

    assert finance_client.post(url, {"reason": "hourly, now"}).status_code == 302
    assert finance_client.post(url, {"reason": "after the restore", "full": "on"}).status_code == 302

    hourly, full = JobRun.objects.order_by("id")
    assert (hourly.summary["mode"], full.summary["mode"]) == ("incremental", "full")
    assert full.summary["operations_verified"] == BalanceOperation.objects.count()
    assert [a.after["mode"] for a in AdminAction.objects.order_by("id")] == ["incremental", "full"]
