"""Scale out: 2 web nodes (gunicorn) + 2 Celery workers + 2 beats on one database through a
real PgBouncer in transaction pooling mode, and one Redis (bench.cluster).

One cluster for the whole run (booting a dozen Django processes on a loaded machine takes
a while); the checks run in order inside one transactional test, so every row the test
writes is committed and seen by the nodes. What holds across nodes lives in PostgreSQL or
Redis: the wallet row lock, the HTTP idempotency claim, the throttle counters, the derived
read caches, the job locks.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
import requests
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.authtoken.models import Token
from rest_framework_api_key.models import APIKey

from bench.cluster import Cluster, PgBouncer, pgbouncer_executable
from billing.models import ReconciliationIncident
from licenses.models import LicenseEvent, ProAccount
from licenses.services import pro_account_open
from phoenix.celery import app
from phoenix.core.jobs import advisory_lock
from phoenix.core.models import JobRun
from subscriptions.models import AccessEvent
from subscriptions.tests.factories import trial_user
from wallet.models import BalanceOperation, EnergyAction, Hold, HoldStatus, OperationType
from wallet.services import wallet_credit
from wallet.tests.factories import WalletFactory, hold_create

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(pgbouncer_executable() is None, reason="pgbouncer not installed (apt-get install pgbouncer)"),
]

ACTION = "conseil_rapide"
RACERS = 40
SATELLITE_RATE = 12  # per minute: low, to see that both nodes count in one Redis counter
TASK_TIMEOUT_S = 120
JOBS = ("subscriptions.expire_access", "licenses.grouped_billing", "licenses.pro_trial_expiry",
        "wallet.expire_holds", "wallet.health_check", "billing.reconcile_payments")


@pytest.fixture
def pgbouncer(transactional_db):
    bouncer = PgBouncer(connection=connection, pool_size=10)
    try:
        bouncer.wait_ready(name=connection.settings_dict["NAME"])
        yield bouncer
    finally:
        bouncer.stop()


@pytest.fixture
def cluster(pgbouncer, settings):
    nodes = Cluster(database_url=pgbouncer.url(connection.settings_dict["NAME"]), redis_url=settings.REDIS_URL,
                    web=2, workers=2, beats=0, web_threads=8, worker_concurrency=1,
                    env={"LUNA_USER_THROTTLE_RATE": "100000/min",
                         "LUNA_SATELLITE_THROTTLE_RATE": f"{SATELLITE_RATE}/min"})
    try:
        nodes.start().wait_ready()
        yield nodes
    finally:
        nodes.stop()


# --- the transaction pooling hazard itself, without Phoenix ---------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_session_lock_leaks_behind_transaction_pooling_a_transaction_lock_does_not():
    """Why advisory_lock changed. Through PgBouncer in transaction mode, a session lock taken
    by one client stays on the server connection, which the next client then gets: it "takes"
    the same lock again. A transaction lock pins its server connection while its transaction
    is open, so another client (on another server connection) is refused, until it ends."""
    bouncer = PgBouncer(connection=connection, pool_size=2)
    try:
        name = connection.settings_dict["NAME"]
        bouncer.wait_ready(name=name)
        with psycopg.connect(bouncer.url(name), autocommit=True) as first, \
                psycopg.connect(bouncer.url(name), autocommit=True) as second:
            assert first.execute("SELECT pg_try_advisory_lock(42)").fetchone()[0]
            # The idle server connection (with first's lock on it) is reused for second.
            assert second.execute("SELECT pg_try_advisory_lock(42)").fetchone()[0]  # both "hold" it
            second.execute("SELECT pg_advisory_unlock_all()")
        with psycopg.connect(bouncer.url(name)) as first, \
                psycopg.connect(bouncer.url(name), autocommit=True) as second:
            assert first.execute("SELECT pg_try_advisory_xact_lock(42)").fetchone()[0]  # transaction open
            assert not second.execute("SELECT pg_try_advisory_xact_lock(42)").fetchone()[0]
            first.rollback()
            assert second.execute("SELECT pg_try_advisory_xact_lock(42)").fetchone()[0]
    finally:
        bouncer.stop()


# --- the cluster ----------------------------------------------------------------------------


def _send(task: str, *, node: str):
    return app.send_task(task, queue=node)  # never eager: always through the broker to that node


def _due_work(tag: str) -> dict:
    """One piece of due work per scheduled job, made in the past so each job's next run acts."""
    past = timezone.now() - timedelta(days=40)
    expiring = trial_user(now=past)
    trial_owner = trial_user(now=past)
    trial_account = pro_account_open(owner=trial_owner, now=past)
    grouped_account = pro_account_open(owner=trial_user(now=timezone.now()), now=timezone.now())
    ProAccount.objects.filter(pk=grouped_account.pk).update(
        billing_anchor_day=15, next_billing_at=timezone.now() - timedelta(hours=1))
    hold_wallet = WalletFactory(balance=100)
    hold = hold_create(wallet=hold_wallet, amount=30, ttl_seconds=1)
    health_wallet = WalletFactory(balance=100)
    stale = hold_create(wallet=health_wallet, amount=20, ttl_seconds=3600)
    with connection.cursor() as cursor:  # held 20 against no pending hold: one WARNING to correct
        cursor.execute("UPDATE wallet_hold SET status = 'released', resolved_at = now() WHERE id = %s", [stale.pk])
    orphan = wallet_credit(user=WalletFactory().user, amount=7, source="stripe", reason="scale test",
                           reference=f"scale-{tag}-{uuid.uuid4()}")
    time.sleep(1.2)  # the hold's 1 s deadline passes
    return {"access_user": expiring, "trial_account": trial_account, "grouped_account": grouped_account,
            "hold": hold, "health_wallet": health_wallet, "orphan": orphan}


def _applied(work: dict) -> dict[str, int]:
    """How many times each job's effect on its due work was applied."""
    return {
        "subscriptions.expire_access": AccessEvent.objects.filter(
            access__user=work["access_user"], kind="trial_ended").count(),
        "licenses.pro_trial_expiry": LicenseEvent.objects.filter(
            pro_account=work["trial_account"], kind="trial_expired").count(),
        "licenses.grouped_billing": LicenseEvent.objects.filter(
            pro_account=work["grouped_account"], kind="grouped_date_advanced").count(),
        "wallet.expire_holds": BalanceOperation.objects.filter(
            hold=work["hold"], type=OperationType.RELEASE).count(),
        "wallet.health_check": BalanceOperation.objects.filter(
            wallet=work["health_wallet"], type=OperationType.HELD_CORRECTION_DOWN).count(),
        # Opened once; later runs only bump it (times_seen).
        "billing.reconcile_payments": ReconciliationIncident.objects.filter(
            code="credit_without_payment", subject=f"operation:{work['orphan'].pk}").count(),
    }


@pytest.mark.django_db(transaction=True)
def test_two_web_two_workers_two_beats_through_pgbouncer(cluster):
    node_a, node_b = cluster.web_urls
    cost = EnergyAction.objects.get(code=ACTION).cost

    # 1. 40 racing consumes for one user, half on each web node: exactly the affordable number.
    affordable = 13
    wallet = WalletFactory(balance=cost * affordable + cost - 1)  # 13 affordable, one short of 14
    token = Token.objects.create(user=wallet.user).key
    user = wallet.user
    barrier = threading.Barrier(RACERS)
    statuses: list[int] = []

    def consume(index: int) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {token}"
            url = (node_a, node_b)[index % 2]
            session.get(f"{url}/luna/energy/actions", timeout=60)  # connected before the start
            barrier.wait(timeout=120)
            answer = session.post(f"{url}/luna/energy/consume", json={"action": ACTION}, timeout=120)
            statuses.append(answer.status_code)

    racers = [threading.Thread(target=consume, args=(i,)) for i in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=240)
    assert Counter(statuses) == {200: affordable, 402: RACERS - affordable}
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.held) == (cost - 1, 0)
    assert BalanceOperation.objects.filter(wallet=wallet, type=OperationType.DEBIT).count() == affordable

    # 2. An idempotent retry landing on the other node replays the same answer, once debited.
    wallet_credit(user=user, amount=cost * 2, source="admin", reason="scale test retries")
    key = str(uuid.uuid4())
    headers = {"Authorization": f"Token {token}", "Idempotency-Key": key}
    answers = [requests.post(f"{url}/luna/energy/consume", json={"action": ACTION}, headers=headers, timeout=60)
               for url in (node_a, node_b, node_a, node_b)]
    assert {a.status_code for a in answers} == {200}
    assert all(a.json() == answers[0].json() for a in answers)
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None, "true", "true", "true"]
    assert BalanceOperation.objects.filter(wallet=wallet, type=OperationType.DEBIT).count() == affordable + 1

    # 3. A derived read cached by one node is dropped by a write on the other (one Redis).
    auth = {"Authorization": f"Token {token}"}
    analytics = f"/luna/energy/analytics/{user.public_id}"
    before = requests.get(node_a + analytics, headers=auth, timeout=60).json()
    assert requests.get(node_a + analytics, headers=auth, timeout=60).json() == before  # cached
    requests.post(f"{node_b}/luna/energy/consume", json={"action": ACTION}, headers=auth, timeout=60).raise_for_status()
    after = requests.get(node_a + analytics, headers=auth, timeout=60).json()
    assert after["actions"] == before["actions"] + 1 and after["consumed"] == before["consumed"] + cost

    # 3b. A catalogue change committed by another process (this one) reaches both nodes' memory
    # (pub/sub: delivered in milliseconds, polled here with a deadline).
    action = EnergyAction.objects.get(code=ACTION)
    action.cost += 1
    action.save()
    for node in (node_a, node_b):
        deadline = time.monotonic() + 10
        while True:
            required = requests.post(f"{node}/luna/energy/can-perform", json={"action": ACTION}, headers=auth,
                                     timeout=60).json()["energy_required"]
            if required == action.cost or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert required == action.cost, node
    action.cost -= 1
    action.save()

    # 4. Throttles are counted in Redis: both nodes share one satellite's budget.
    _, api_key = APIKey.objects.create_key(name="scale-satellite")
    throttled = [requests.get(f"{(node_a, node_b)[i % 2]}/luna/energy/actions",
                              headers={"Authorization": f"Api-Key {api_key}"}, timeout=60).status_code
                 for i in range(SATELLITE_RATE + 4)]
    assert throttled == [200] * SATELLITE_RATE + [429] * 4

    # 5. Every scheduled job sent to both worker nodes at once applies once.
    work = _due_work("explicit")
    assert set(_applied(work).values()) == {0}
    pending = {job: (_send(job, node="node1"), _send(job, node="node2")) for job in JOBS}
    reports = {job: [r.get(timeout=TASK_TIMEOUT_S) for r in pair] for job, pair in pending.items()}
    assert _applied(work) == dict.fromkeys(JOBS, 1), reports
    for job, pair in reports.items():  # each pair: one run did it, the other skipped or found it done
        assert sum(not r["skipped_locked"] for r in pair) >= 1, (job, pair)

    # 6. A job lock held on one node (here: this process, straight to PostgreSQL) makes the
    #    run on a worker node, through PgBouncer, skip.
    with advisory_lock("wallet.expire_holds") as acquired:
        assert acquired
        report = _send("wallet.expire_holds", node="node2").get(timeout=TASK_TIMEOUT_S)
    assert report["skipped_locked"] is True
    assert _send("wallet.expire_holds", node="node2").get(timeout=TASK_TIMEOUT_S)["skipped_locked"] is False

    # 7. Two beats at once (every job and the heartbeat every 2 s): each job is sent twice
    #    per tick, to whichever worker; new due work is still applied once.
    every_2s, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    # (A transactional test starts with empty tables: the migrations' schedules are made again.)
    for task in (*JOBS, "core.worker_heartbeat"):
        PeriodicTask.objects.update_or_create(name=f"scale test: {task}", defaults={
            "task": task, "kwargs": "{}", "enabled": True, "interval": every_2s, "crontab": None})
    work = _due_work("beats")
    cluster.beats = 2
    beats_started = timezone.now()
    cluster.start_beats()
    deadline = time.monotonic() + 180
    while _applied(work) != dict.fromkeys(JOBS, 1) and time.monotonic() < deadline:
        cluster.check_alive()
        time.sleep(1)
    time.sleep(6)  # a few more ticks of both beats
    beat_logs = {node.name: cluster.log_tail(node) for node in cluster.nodes if node.role != "web"}
    assert _applied(work) == dict.fromkeys(JOBS, 1), beat_logs
    # The beats really sent the jobs again and again meanwhile (each health run that was not
    # skipped notes a JobRun; beat's own run counts are saved only every few minutes).
    assert JobRun.objects.filter(job="wallet.health_check", started_at__gte=beats_started).count() >= 2

    # 8. The health checks are clean: both nodes' /health/ (with a fresh worker heartbeat
    #    from the beats) and the wallet health job, run on a worker node.
    for url in (node_a, node_b):
        health = requests.get(f"{url}/health/", timeout=60)
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        assert health.json()["worker"]["status"] == "up", health.text
    PeriodicTask.objects.filter(task="wallet.health_check").update(enabled=False)
    for _attempt in range(5):  # a beat-sent run may still hold the lock for a moment
        health_run = _send("wallet.health_check", node="node1").get(timeout=TASK_TIMEOUT_S)
        if not health_run["skipped_locked"]:
            break
        time.sleep(1)
    assert (health_run["skipped_locked"], health_run["findings"]) == (False, 0), health_run
    assert Hold.objects.filter(status=HoldStatus.PENDING, expires_at__lt=timezone.now()).count() == 0
