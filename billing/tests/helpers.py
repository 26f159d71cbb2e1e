"""Assertions on the ledger shared by billing tests (read through wallet's public models)."""

from __future__ import annotations


def balance(user) -> int:
    from wallet.selectors import wallet_balance

    return wallet_balance(user)["balance"]


def credits_for(payment) -> list:
    from wallet.models import BalanceOperation, OperationType

    return list(BalanceOperation.objects.filter(
        reference=f"payment:{payment.pk}", type=OperationType.CREDIT
    ))


def debits_for(payment) -> list:
    from wallet.models import BalanceOperation, OperationType

    return list(BalanceOperation.objects.filter(
        reference=f"payment:{payment.pk}", type=OperationType.DEBIT
    ))
