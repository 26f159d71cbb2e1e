"""Helpers and fixtures of the wallet tests: ledger replay, raw SQL behind the services' back."""

from contextlib import contextmanager

import pytest
from django.db import connection

from wallet import services
from wallet.models import OPERATION_EFFECTS, BalanceOperation, Wallet
from wallet.selectors import wallet_health_findings
from wallet.tests.factories import WalletFactory, hold_create


def ledger_replay(wallet: Wallet) -> tuple[int, int]:
    """(balance, held) recomputed from the wallet's operations, in Python."""
    balance = held = 0
    for op in BalanceOperation.objects.filter(wallet=wallet).order_by("seq"):
        balance_sign, held_sign = OPERATION_EFFECTS[op.type]
        balance += balance_sign * op.amount
        held += held_sign * op.amount
    return balance, held


def assert_wallet_consistent(wallet: Wallet) -> None:
    wallet.refresh_from_db()
    assert ledger_replay(wallet) == (wallet.balance, wallet.held)
    assert wallet_health_findings(wallet_ids=[wallet.pk]) == []


@pytest.fixture
def raw_sql():
    """Run SQL straight on the connection, bypassing the services."""

    def run(sql: str, params=None):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    return run


def sql(statement: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@contextmanager
def append_only_trigger_disabled():
    """Tampering needs the trigger off (as a superuser could); the test transaction
    rolls the DDL back anyway, this also restores it within the test."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses while deferred FK checks are pending
    sql("ALTER TABLE wallet_balanceoperation DISABLE TRIGGER wallet_balanceoperation_append_only")
    sql("ALTER TABLE wallet_lotconsumption DISABLE TRIGGER wallet_lotconsumption_append_only")
    try:
        yield
    finally:
        sql("ALTER TABLE wallet_lotconsumption ENABLE TRIGGER wallet_lotconsumption_append_only")
        sql("ALTER TABLE wallet_balanceoperation ENABLE TRIGGER wallet_balanceoperation_append_only")


def drop_constraint(table: str, name: str) -> None:
    # Only a DDL change lets a negative balance exist: the CHECK is what normally stops it.
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses while deferred FK checks are pending
    sql(f"ALTER TABLE {table} DROP CONSTRAINT {name}")


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
