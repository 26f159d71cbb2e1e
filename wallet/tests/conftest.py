import pytest
from django.db import connection

from wallet.models import BalanceOperation, Wallet
from wallet.selectors import wallet_health_findings


def ledger_replay(wallet: Wallet) -> tuple[int, int]:
    """(balance, held) recomputed from the wallet's operations, in Python."""
    from wallet.models import OPERATION_EFFECTS

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
