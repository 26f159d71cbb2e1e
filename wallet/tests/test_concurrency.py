"""Real threads on real PostgreSQL: the row lock makes racing writers safe."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection

from wallet import services
from wallet.models import BalanceOperation, Hold, HoldStatus
from wallet.services import HoldNotPending, InsufficientEnergy
from wallet.tests.conftest import assert_wallet_consistent
from wallet.tests.factories import WalletFactory, hold_create

pytestmark = pytest.mark.django_db(transaction=True)


def race(workers: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` in `workers` threads released together; return each result or exception."""
    barrier = threading.Barrier(workers)
    results: list[object] = [None] * workers

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connection.close()  # each thread has its own connection: give it back

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


def kinds(results: list[object]) -> Counter:
    return Counter(type(result).__name__ for result in results)


def test_fifty_consumers_on_room_for_exactly_k_actions():
    cost, k = 15, 7
    wallet = WalletFactory(balance=cost * k + cost - 1)  # room for 7, not 8

    results = race(50, lambda i: services.wallet_debit(
        user=wallet.user, amount=cost, source="api", reason="race", reference="lettre_motivation"))

    assert kinds(results) == Counter({"BalanceOperation": k, "InsufficientEnergy": 50 - k})
    assert all(r.available < cost for r in results if isinstance(r, InsufficientEnergy))
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.held) == (cost - 1, 0)
    assert BalanceOperation.objects.filter(wallet=wallet, type="debit").count() == k
    assert_wallet_consistent(wallet)


def test_fifty_freeze_then_commit_on_room_for_exactly_k_actions():
    cost, k = 12, 5
    wallet = WalletFactory(balance=cost * k + 3)

    def freeze_and_commit(i: int):
        hold = services.wallet_freeze(user=wallet.user, amount=cost, action_code="optimisation_cv", ttl_seconds=60)
        return services.wallet_commit(hold_id=hold.pk)

    results = race(50, freeze_and_commit)

    assert kinds(results) == Counter({"BalanceOperation": k, "InsufficientEnergy": 50 - k})
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.held) == (3, 0)
    assert_wallet_consistent(wallet)


def test_commit_release_racing_on_one_hold_resolve_it_exactly_once():
    wallet = WalletFactory(balance=100)
    hold = hold_create(wallet=wallet, amount=40)
    chooser = random.Random(7)
    actions = [chooser.choice(["commit", "partial", "release"]) for _ in range(30)]

    def resolve(i: int):
        if actions[i] == "commit":
            return services.wallet_commit(hold_id=hold.pk)
        if actions[i] == "partial":
            return services.wallet_commit(hold_id=hold.pk, amount=25)
        return services.wallet_release(hold_id=hold.pk)

    results = race(30, resolve)

    assert kinds(results) == Counter({"BalanceOperation": 1, "HoldNotPending": 29})
    winner_index = next(i for i, r in enumerate(results) if isinstance(r, BalanceOperation))
    hold.refresh_from_db()
    wallet.refresh_from_db()
    expected = {"commit": (HoldStatus.CAPTURED, 60), "partial": (HoldStatus.CAPTURED, 75),
                "release": (HoldStatus.RELEASED, 100)}[actions[winner_index]]
    assert (hold.status, wallet.balance) == expected
    assert wallet.held == 0
    assert all(r.hold_status == hold.status for r in results if isinstance(r, HoldNotPending))
    assert_wallet_consistent(wallet)


def test_expiry_job_racing_with_commits_resolves_each_hold_once():
    from datetime import timedelta

    from django.utils import timezone

    wallet = WalletFactory(balance=200)
    holds = [hold_create(wallet=wallet, amount=10, ttl_seconds=60) for _ in range(10)]
    # The job runs as of 5 minutes from now (every hold is due for it) while three threads
    # commit the same holds now: each hold must end captured or expired, never both.
    future = timezone.now() + timedelta(minutes=5)

    def work(i: int):
        if i == 0:
            return services.wallet_holds_expire(now=future)
        return [_try_commit(hold) for hold in holds]

    results = race(4, work)
    for result in results:
        assert not isinstance(result, Exception), result
    for hold in holds:
        hold.refresh_from_db()
        assert hold.status in (HoldStatus.CAPTURED, HoldStatus.EXPIRED)
        assert hold.operations.exclude(type="freeze").count() == 1
    wallet.refresh_from_db()
    captured = Hold.objects.filter(wallet=wallet, status=HoldStatus.CAPTURED).count()
    assert (wallet.balance, wallet.held) == (200 - 10 * captured, 0)
    assert_wallet_consistent(wallet)


def _try_commit(hold):
    try:
        return services.wallet_commit(hold_id=hold.pk)
    except HoldNotPending:
        return None


def test_concurrent_requests_with_one_idempotency_key_apply_once():
    wallet = WalletFactory(balance=100)
    results = race(20, lambda i: services.wallet_debit(
        user=wallet.user, amount=10, source="api", reason="retry storm", idempotency_key="req-1"))
    assert kinds(results) == Counter({"BalanceOperation": 20})
    assert len({r.pk for r in results}) == 1
    wallet.refresh_from_db()
    assert wallet.balance == 90


def test_concurrent_refunds_of_one_debit_apply_once():
    wallet = WalletFactory(balance=100)
    debit = services.wallet_debit(user=wallet.user, amount=30, source="api", reason="a")
    results = race(20, lambda i: services.wallet_refund_debit(operation_id=debit.pk))
    assert kinds(results) == Counter({"BalanceOperation": 1, "AlreadyRefunded": 19})
    wallet.refresh_from_db()
    assert wallet.balance == 100
    assert_wallet_consistent(wallet)


def test_first_touch_wallet_creation_races_safely():
    from phoenix.accounts.tests.factories import UserFactory

    user = UserFactory()
    results = race(10, lambda i: services.wallet_credit(user=user, amount=1, source="admin", reason="grant"))
    assert kinds(results) == Counter({"BalanceOperation": 10})
    user.wallet.refresh_from_db()
    assert user.wallet.balance == 10
