"""Health: every anomaly, injected with raw SQL behind the services' back, is detected;
WARNINGs are auto-corrected with an audited operation; CRITICALs are recorded and mailed,
never corrected."""

from contextlib import contextmanager

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection

from wallet import services
from wallet.models import BalanceOperation, Incident, IncidentSeverity, IncidentStatus, OperationType
from wallet.selectors import wallet_health_findings
from wallet.tests.conftest import assert_wallet_consistent
from wallet.tests.factories import WalletFactory, hold_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _admins(settings):
    settings.ADMINS = [("Ops", "ops@example.com")]


def sql(statement: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@contextmanager
def append_only_trigger_disabled():
    """Tampering needs the trigger off (as a superuser could); the test transaction
    rolls the DDL back anyway, this also restores it within the test."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses while deferred FK checks are pending
    sql("ALTER TABLE wallet_balanceoperation DISABLE TRIGGER wallet_balanceoperation_append_only")
    try:
        yield
    finally:
        sql("ALTER TABLE wallet_balanceoperation ENABLE TRIGGER wallet_balanceoperation_append_only")


def drop_constraint(table: str, name: str) -> None:
    # Only a DDL change lets a negative balance exist: the CHECK is what normally stops it.
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses while deferred FK checks are pending
    sql(f"ALTER TABLE {table} DROP CONSTRAINT {name}")


def codes(wallet) -> dict[str, str]:
    return {f.code: f.severity for f in wallet_health_findings() if f.wallet_id == wallet.pk}


@pytest.fixture
def busy_wallet():
    """A wallet with every kind of operation and one pending hold of 20."""
    wallet = WalletFactory(balance=100)
    services.wallet_debit(user=wallet.user, amount=10, source="api", reason="a")
    services.wallet_commit(hold_id=hold_create(wallet=wallet, amount=15).pk, amount=5)
    services.wallet_release(hold_id=hold_create(wallet=wallet, amount=7).pk)
    debit = services.wallet_debit(user=wallet.user, amount=3, source="api", reason="b")
    services.wallet_refund_debit(operation_id=debit.pk)
    hold_create(wallet=wallet, amount=20)
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.held) == (85, 20)
    return wallet


def test_healthy_wallets_report_nothing(busy_wallet, registered_user):
    WalletFactory()  # a wallet without operations is healthy too
    assert wallet_health_findings() == []


def test_negative_balance(busy_wallet):
    drop_constraint("wallet_wallet", "wallet_balance_gte_0")
    drop_constraint("wallet_wallet", "wallet_held_lte_balance")
    sql("UPDATE wallet_wallet SET balance = -5 WHERE id = %s", [busy_wallet.pk])
    found = codes(busy_wallet)
    assert found["negative_balance"] == found["held_exceeds_balance"] == found["ledger_balance_mismatch"] == "critical"


def test_negative_held(busy_wallet):
    drop_constraint("wallet_wallet", "wallet_held_gte_0")
    sql("UPDATE wallet_wallet SET held = -1 WHERE id = %s", [busy_wallet.pk])
    assert codes(busy_wallet) == {"negative_held": "critical", "ledger_held_mismatch": "critical",
                                  "held_pending_mismatch": "warning"}


def test_held_above_balance(busy_wallet):
    drop_constraint("wallet_wallet", "wallet_held_lte_balance")
    sql("UPDATE wallet_wallet SET held = balance + 10 WHERE id = %s", [busy_wallet.pk])
    found = codes(busy_wallet)
    assert found["held_exceeds_balance"] == "critical"
    assert found["ledger_held_mismatch"] == "critical"


def test_balance_that_does_not_match_the_ledger_replay(busy_wallet):
    sql("UPDATE wallet_wallet SET balance = balance + 7 WHERE id = %s", [busy_wallet.pk])
    assert codes(busy_wallet) == {"ledger_balance_mismatch": "critical"}
    finding = wallet_health_findings()[0]
    assert finding.detail == {"balance": 92, "replay_balance": 85}


def test_held_that_does_not_match_the_ledger_replay(busy_wallet):
    sql("UPDATE wallet_wallet SET held = held + 4 WHERE id = %s", [busy_wallet.pk])
    assert codes(busy_wallet) == {"ledger_held_mismatch": "critical", "held_pending_mismatch": "warning"}


def test_altered_operation_breaks_the_hash_chain(busy_wallet):
    with append_only_trigger_disabled():
        sql("UPDATE wallet_balanceoperation SET reason = 'innocent' WHERE wallet_id = %s AND seq = 2",
            [busy_wallet.pk])
    assert codes(busy_wallet) == {"hash_chain_broken": "critical"}
    assert wallet_health_findings()[0].detail["altered_rows"] == 1


def test_altered_amounts_with_consistent_arithmetic_are_still_caught(busy_wallet):
    # A debit of 10 rewritten as a debit of 1, wallet "fixed" to match: replay agrees,
    # but the hash chain and the before/after continuity do not.
    with append_only_trigger_disabled():
        sql("UPDATE wallet_balanceoperation SET amount = 1, balance_after = balance_before - 1 "
            "WHERE wallet_id = %s AND seq = 2", [busy_wallet.pk])
    sql("UPDATE wallet_wallet SET balance = balance + 9 WHERE id = %s", [busy_wallet.pk])
    assert codes(busy_wallet) == {"hash_chain_broken": "critical", "ledger_discontinuity": "critical"}


def test_deleted_operation_breaks_the_chain(busy_wallet):
    with append_only_trigger_disabled():
        sql("DELETE FROM wallet_balanceoperation WHERE wallet_id = %s AND seq = 2", [busy_wallet.pk])
    found = codes(busy_wallet)
    assert found["hash_chain_broken"] == found["ledger_balance_mismatch"] == "critical"


def test_deleted_last_operation_breaks_the_chain_head(busy_wallet):
    # The last operation was the freeze of 20; remove it and the hold so only the head
    # (wallet.last_seq / last_hash) and the replay can tell.
    with append_only_trigger_disabled():
        sql("DELETE FROM wallet_balanceoperation WHERE wallet_id = %s AND seq = "
            "(SELECT max(seq) FROM wallet_balanceoperation WHERE wallet_id = %s)", [busy_wallet.pk, busy_wallet.pk])
    found = codes(busy_wallet)
    assert found["hash_chain_broken"] == "critical"
    detail = next(f.detail for f in wallet_health_findings() if f.code == "hash_chain_broken")
    assert detail["wallet_last_seq"] == detail["ledger_last_seq"] + 1


def test_forged_operation_inserted_with_a_made_up_hash(busy_wallet):
    sql("""
        INSERT INTO wallet_balanceoperation (wallet_id, seq, type, amount, balance_before, balance_after,
            held_before, held_after, source, reason, reference, request_fingerprint, created_at, prev_hash, hash)
        SELECT id, last_seq + 1, 'credit', 1000, balance, balance + 1000, held, held, 'admin', 'gift', '', '',
               now(), last_hash, repeat('a', 64)
        FROM wallet_wallet WHERE id = %s
    """, [busy_wallet.pk])
    sql("UPDATE wallet_wallet SET balance = balance + 1000, last_seq = last_seq + 1, last_hash = repeat('a', 64) "
        "WHERE id = %s", [busy_wallet.pk])
    assert codes(busy_wallet) == {"hash_chain_broken": "critical"}


def test_held_differs_from_pending_holds_is_a_warning(busy_wallet):
    sql("UPDATE wallet_hold SET status = 'released', resolved_at = now() "
        "WHERE wallet_id = %s AND status = 'pending'", [busy_wallet.pk])
    assert codes(busy_wallet) == {"held_pending_mismatch": "warning"}


def test_the_health_check_is_one_query_whatever_the_number_of_wallets(django_assert_num_queries, busy_wallet):
    for _ in range(5):
        wallet = WalletFactory(balance=10)
        sql("UPDATE wallet_wallet SET balance = balance + 1 WHERE id = %s", [wallet.pk])
    with django_assert_num_queries(1):
        findings = wallet_health_findings()
    assert len(findings) == 5


# --- The job ---------------------------------------------------------------------------------


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

    assert [f.code for f in first.critical] == ["ledger_balance_mismatch"]
    incident = Incident.objects.get(wallet=busy_wallet)
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
    call_command("wallet_health", "--now", "2030-01-01T10:00:00Z")
    out = capsys.readouterr().out
    assert f"corrected wallet={busy_wallet.pk}: held_correction_down 20" in out
    incident = Incident.objects.get()
    assert incident.detected_at.year == 2030
    call_command("wallet_health")
    assert "all wallets healthy" in capsys.readouterr().out
