"""Selectors: the health check detects every anomaly injected with raw SQL behind the services'
back, in one set-based query."""

import pytest

from wallet.models import BalanceOperation
from wallet.selectors import wallet_health_findings
from wallet.services.sql import OPERATION_INSERT_EXCLUDE, insert_select_sql
from wallet.tests.conftest import append_only_trigger_disabled, drop_constraint, sql
from wallet.tests.factories import WalletFactory

pytestmark = pytest.mark.django_db


def codes(wallet) -> dict[str, str]:
    return {f.code: f.severity for f in wallet_health_findings() if f.wallet_id == wallet.pk}


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
    # The lots (still summing to the true balance) disagree too.
    assert codes(busy_wallet) == {"ledger_balance_mismatch": "critical", "lots_balance_mismatch": "critical"}
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
    # The debit's lot rows still say 10, and the lots still hold the true balance.
    assert codes(busy_wallet) == {"hash_chain_broken": "critical", "ledger_discontinuity": "critical",
                                  "operation_lots_mismatch": "critical", "lots_balance_mismatch": "critical"}


def test_deleted_operation_breaks_the_chain(busy_wallet):
    with append_only_trigger_disabled():
        sql("DELETE FROM wallet_lotconsumption WHERE operation_id IN "
            "(SELECT id FROM wallet_balanceoperation WHERE wallet_id = %s AND seq = 2)", [busy_wallet.pk])
        sql("DELETE FROM wallet_balanceoperation WHERE wallet_id = %s AND seq = 2", [busy_wallet.pk])
    found = codes(busy_wallet)
    assert found["hash_chain_broken"] == found["ledger_balance_mismatch"] == "critical"


def test_deleted_last_operation_breaks_the_chain_head(busy_wallet):
    # The last operation was the freeze of 20; remove it and the hold so only the head
    # (wallet.last_seq / last_hash) and the replay can tell.
    last = "(SELECT max(seq) FROM wallet_balanceoperation WHERE wallet_id = %s)"
    with append_only_trigger_disabled():
        sql("DELETE FROM wallet_lotconsumption WHERE operation_id IN (SELECT id FROM wallet_balanceoperation "
            f"WHERE wallet_id = %s AND seq = {last})", [busy_wallet.pk, busy_wallet.pk])
        sql(f"DELETE FROM wallet_balanceoperation WHERE wallet_id = %s AND seq = {last}",
            [busy_wallet.pk, busy_wallet.pk])
    found = codes(busy_wallet)
    assert found["hash_chain_broken"] == "critical"
    detail = next(f.detail for f in wallet_health_findings() if f.code == "hash_chain_broken")
    assert detail["wallet_last_seq"] == detail["ledger_last_seq"] + 1


def test_forged_operation_inserted_with_a_made_up_hash(busy_wallet):
    sql(insert_select_sql(BalanceOperation, {
        "wallet_id": "id", "seq": "last_seq + 1", "type": "'credit'", "amount": "1000",
        "balance_before": "balance", "balance_after": "balance + 1000", "held_before": "held", "held_after": "held",
        "hold_id": "NULL", "refund_of_id": "NULL", "source": "'admin'", "reason": "'gift'", "reference": "''",
        "actor_id": "NULL", "idempotency_key": "NULL", "request_fingerprint": "''", "created_at": "now()",
        "prev_hash": "last_hash", "hash": "repeat('a', 64)",
    }, exclude=OPERATION_INSERT_EXCLUDE, source="wallet_wallet WHERE id = %s"), [busy_wallet.pk])
    sql("UPDATE wallet_wallet SET balance = balance + 1000, last_seq = last_seq + 1, last_hash = repeat('a', 64) "
        "WHERE id = %s", [busy_wallet.pk])
    assert codes(busy_wallet) == {"hash_chain_broken": "critical", "lots_balance_mismatch": "critical"}


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
    assert len({f.wallet_id for f in findings}) == 5
