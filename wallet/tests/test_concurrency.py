"""Real threads on real PostgreSQL (the root `race` fixture): the row lock makes racing writers
safe, in the services and over real HTTP (live server)."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import UserFactory
from subscriptions.services import access_grant_lifetime
from wallet import services
from wallet.errors import HoldNotPending, InsufficientEnergy
from wallet.models import BalanceOperation, EnergyLot, Hold, HoldStatus, LotCategory, LotConsumption, UsageEvent
from wallet.selectors import wallet_balance
from wallet.services import LotGrant
from wallet.services import energy as energy_services
from wallet.tests.conftest import assert_wallet_consistent
from wallet.tests.factories import WalletFactory, hold_create

pytestmark = pytest.mark.django_db(transaction=True)


def kinds(results: list[object]) -> Counter:
    return Counter(type(result).__name__ for result in results)


def test_fifty_consumers_on_room_for_exactly_k_actions(race):
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


def test_fifty_freeze_then_commit_on_room_for_exactly_k_actions(race):
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


def test_commit_release_racing_on_one_hold_resolve_it_exactly_once(race):
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


def test_expiry_job_racing_with_commits_resolves_each_hold_once(race):
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


def test_concurrent_requests_with_one_idempotency_key_apply_once(race):
    wallet = WalletFactory(balance=100)
    results = race(20, lambda i: services.wallet_debit(
        user=wallet.user, amount=10, source="api", reason="retry storm", idempotency_key="req-1"))
    assert kinds(results) == Counter({"BalanceOperation": 20})
    assert len({r.pk for r in results}) == 1
    wallet.refresh_from_db()
    assert wallet.balance == 90


def test_concurrent_refunds_of_one_debit_apply_once(race):
    wallet = WalletFactory(balance=100)
    debit = services.wallet_debit(user=wallet.user, amount=30, source="api", reason="a")
    results = race(20, lambda i: services.wallet_refund_debit(operation_id=debit.pk))
    assert kinds(results) == Counter({"BalanceOperation": 1, "AlreadyRefunded": 19})
    wallet.refresh_from_db()
    assert wallet.balance == 100
    assert_wallet_consistent(wallet)


def test_concurrent_refunds_of_one_consume_write_one_compensating_event(race):
    user, _ = user_register(email="refund-race@example.com", password="a-long-Password-123")
    consumed = energy_services.energy_consume(user=user, action_code="lettre_motivation")
    results = race(12, lambda i: energy_services.energy_refund(transaction_id=consumed.operation.pk))
    assert kinds(results) == Counter({"RefundResult": 1, "AlreadyRefunded": 11})
    [compensation] = UsageEvent.objects.filter(refund_of=consumed.event)
    assert compensation.energy_consumed == -15 and compensation.operation.refund_of_id == consumed.operation.pk
    assert UsageEvent.objects.filter(user=user).performed().count() == 0


def test_first_touch_wallet_creation_races_safely(race):
    user = UserFactory()
    results = race(10, lambda i: services.wallet_credit(user=user, amount=1, source="admin", reason="grant"))
    assert kinds(results) == Counter({"BalanceOperation": 10})
    user.wallet.refresh_from_db()
    assert user.wallet.balance == 10


# --- Over real HTTP (live server, real threads): no overspend, ever ------------------------------
CLIENTS = 40


def post_with_retries(session: requests.Session, url: str, **kwargs) -> requests.Response:
    """The live server's listen backlog is small: a connection refused or reset under a
    40-thread burst is retried, as a real client would (safe: every request has a key)."""
    for attempt in range(20):
        try:
            return session.post(url, timeout=60, **kwargs)
        except requests.ConnectionError:
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError(f"no answer from {url}")


def test_40_concurrent_consumes_on_a_wallet_of_100(live_server, race):
    user, token = user_register(email="race@example.com", password="a-long-Password-123")
    services.wallet_credit(user=user, amount=15, source="admin", reason="top up to 100")  # 85 welcome + 15
    assert wallet_balance(user)["available"] == 100
    key = token

    def consume(index: int) -> tuple[int, dict]:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {key}"
            response = post_with_retries(session, f"{live_server.url}/luna/energy/consume",
                                         json={"action": "lettre_motivation", "idempotency_key": f"race-{index}"})
            return response.status_code, response.json()

    results = race(CLIENTS, consume)

    statuses = sorted(code for code, _ in results)
    assert len(results) == CLIENTS
    assert statuses.count(200) == 6 and statuses.count(402) == 34, statuses
    assert all(body["error"] == "insufficient_energy" and body["energy_required"] == 15
               for code, body in results if code == 402)
    assert sorted(body["available"] for code, body in results if code == 200) == [10, 25, 40, 55, 70, 85]
    assert wallet_balance(user) == {"balance": 10, "held": 0, "available": 10}
    assert BalanceOperation.objects.filter(wallet__user=user, type="debit").count() == 6
    assert UsageEvent.objects.filter(user=user).count() == 6
    assert_wallet_consistent(user.wallet)


def _consume_with_key(live_server, token: str, key: str) -> tuple[int, dict]:
    with requests.Session() as session:
        session.headers.update({"Authorization": f"Token {token}", "Idempotency-Key": key})
        response = post_with_retries(session, f"{live_server.url}/luna/energy/consume",
                                     json={"action": "lettre_motivation"})
        return response.status_code, response.json()


def test_concurrent_retries_of_one_key_apply_once(live_server, race):
    user, token = user_register(email="retry@example.com", password="a-long-Password-123")
    key = token

    results = race(10, lambda index: _consume_with_key(live_server, key, "same-click"))

    assert [code for code, _ in results] == [200] * 10, results
    assert len({body["transaction_id"] for _, body in results}) == 1
    assert wallet_balance(user)["available"] == 85 - 15
    assert UsageEvent.objects.filter(user=user).count() == 1


def test_concurrent_retries_of_one_key_for_the_last_energy_all_get_the_one_success(live_server, race):
    """Every twin runs (the key is claimed with the answer, last); the one that commits first
    wins, the others fail for want of energy or on the key and answer the stored success."""
    user, token = user_register(email="last-energy@example.com", password="a-long-Password-123")
    services.wallet_debit(user=user, amount=70, source="admin", reason="leave exactly 15")

    results = race(10, lambda index: _consume_with_key(live_server, token, "last-click"))

    assert [code for code, _ in results] == [200] * 10, results
    assert len({body["transaction_id"] for _, body in results}) == 1
    assert wallet_balance(user)["available"] == 0
    assert UsageEvent.objects.filter(user=user).count() == 1
    assert_wallet_consistent(user.wallet)


def test_concurrent_retries_of_one_key_of_an_unlimited_user_record_one_event(live_server, race):
    """No debit: the twins meet only on the key's unique index."""
    user, token = user_register(email="unlimited-race@example.com", password="a-long-Password-123")
    access_grant_lifetime(user=user, event_time=timezone.now())

    results = race(10, lambda index: _consume_with_key(live_server, token, "unlimited-click"))

    assert [code for code, _ in results] == [200] * 10, results
    assert len({body["event_id"] for _, body in results}) == 1 and results[0][1]["unlimited"] is True
    assert UsageEvent.objects.filter(user=user).count() == 1


def test_fifty_consumers_over_lots_with_different_expiries(race):
    """No lot below zero, the consumption order respected (each debit drew the soonest-expiring
    lots left at its turn, so the lots empty in order), health clean."""
    cost = 7
    wallet = WalletFactory()
    now = timezone.now()
    grants = [LotGrant(40, LotCategory.PROMOTIONAL, expires_at=now + timedelta(days=2)),
              LotGrant(50, LotCategory.PAID, expires_at=now + timedelta(days=5)),
              LotGrant(30, LotCategory.BONUS, expires_at=now + timedelta(days=9)),
              LotGrant(60, LotCategory.PAID)]
    services.wallet_credit(user=wallet.user, amount=180, source="admin", reason="lots", lots=grants)
    lots = list(EnergyLot.objects.filter(wallet=wallet).order_by("id"))  # created in the order above

    results = race(50, lambda i: services.wallet_debit(user=wallet.user, amount=cost, source="api",
                                                       reason="race", reference="conseil_rapide"))

    debits = [r for r in results if isinstance(r, BalanceOperation)]
    assert kinds(results) == Counter({"BalanceOperation": 180 // cost, "InsufficientEnergy": 50 - 180 // cost})
    remaining = [EnergyLot.objects.get(pk=lot.pk).remaining for lot in lots]
    assert all(value >= 0 for value in remaining)
    assert remaining == [0, 0, 0, 180 % cost]  # drained in the consumption order
    # In ledger order, each debit drew from the earliest lots still holding energy.
    position = {lot.pk: index for index, lot in enumerate(lots)}
    highest = -1
    for operation in sorted(debits, key=lambda op: op.seq):
        drawn = sorted(position[lot_id] for lot_id in
                       LotConsumption.objects.filter(operation=operation).values_list("lot_id", flat=True))
        assert drawn[0] >= highest and drawn == list(range(drawn[0], drawn[-1] + 1))
        highest = drawn[-1]
    assert_wallet_consistent(wallet)
