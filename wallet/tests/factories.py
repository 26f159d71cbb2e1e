"""Factories that go through the services, so every wallet they build has a valid ledger."""

from __future__ import annotations

import factory
from django.db import connection

from phoenix.accounts.tests.factories import UserFactory
from wallet import services
from wallet.models import Hold, Wallet


class WalletFactory(factory.django.DjangoModelFactory):
    """A wallet (and its user); `balance=N` credits N points through `wallet_credit`."""

    class Meta:
        model = Wallet
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)

    @factory.post_generation
    def balance(obj: Wallet, create, extracted, **kwargs):
        if create and extracted:
            services.wallet_credit(user=obj.user, amount=extracted, source="admin", reason="test funding")
            obj.refresh_from_db()


def hold_create(*, wallet: Wallet, amount: int, action_code: str = "mirror_match", ttl_seconds: int = 300) -> Hold:
    """A pending hold made by `wallet_freeze`."""
    hold = services.wallet_freeze(user=wallet.user, amount=amount, action_code=action_code, ttl_seconds=ttl_seconds)
    wallet.refresh_from_db()
    return hold


def wallet_balance_drift(wallet, *, delta: int) -> None:
    """CRITICAL: the balance no longer matches the ledger (changed behind the services' back)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_wallet SET balance = balance + %s WHERE id = %s", [delta, wallet.pk])


def hold_vanish(wallet) -> None:
    """WARNING only: a pending hold resolved behind the ledger's back, so `held` (still
    matching the ledger) exceeds the sum of pending holds."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_hold SET status = 'expired', resolved_at = now() "
                       "WHERE wallet_id = %s AND status = 'pending'", [wallet.pk])
