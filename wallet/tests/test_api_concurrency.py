"""Concurrent consumes over real HTTP (live server, real threads): no overspend, ever."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from phoenix.accounts.services import user_register
from wallet import services
from wallet.models import BalanceOperation, UsageEvent
from wallet.selectors import wallet_balance

from .conftest import assert_wallet_consistent

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


@pytest.mark.django_db(transaction=True)
def test_40_concurrent_consumes_on_a_wallet_of_100(live_server):
    user, token = user_register(email="race@example.com", password="a-long-Password-123")
    services.wallet_credit(user=user, amount=15, source="admin", reason="top up to 100")  # 85 welcome + 15
    assert wallet_balance(user)["available"] == 100
    key = token

    barrier = threading.Barrier(CLIENTS)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def consume(index: int) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {key}"
            barrier.wait()
            response = post_with_retries(session, f"{live_server.url}/luna/energy/consume",
                                         json={"action": "lettre_motivation", "idempotency_key": f"race-{index}"})
            with lock:
                results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

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


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_key_apply_once(live_server):
    user, token = user_register(email="retry@example.com", password="a-long-Password-123")
    key = token
    barrier = threading.Barrier(10)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def consume() -> None:
        with requests.Session() as session:
            session.headers.update({"Authorization": f"Token {key}", "Idempotency-Key": "same-click"})
            barrier.wait()
            response = post_with_retries(session, f"{live_server.url}/luna/energy/consume",
                                         json={"action": "lettre_motivation"})
            with lock:
                results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=consume) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert [code for code, _ in results] == [200] * 10, results
    assert len({body["transaction_id"] for _, body in results}) == 1
    assert wallet_balance(user)["available"] == 85 - 15
    assert UsageEvent.objects.filter(user=user).count() == 1
