"""The dashboard's rollups: the figures are the ledger's before any refresh (all live), after a
refresh (rollups), and with operations after the cursor (rollups + the live tail); a late
commit is counted by the next refresh; overlapping refreshes skip; the command as the README
gives it."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from phoenix.accounts.services import user_register
from wallet import selectors
from wallet import services as wallet_services
from wallet.models import BalanceOperation, OperationRollup, OperationRollupCursor
from wallet.services import energy as energy_services

NOW = datetime(2026, 11, 20, 15, 40, tzinfo=UTC)


def figures(now: datetime) -> tuple:
    return (selectors.energy_consumed_totals(now=now),
            selectors.balance_operations_per_hour(now=now),
            selectors.energy_consumed_by_action(now=now))


def by_hand(now: datetime) -> dict:
    """The same figures computed in Python from every operation (the definitions of the README)."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = (now - timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    month = (now - timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    totals = Counter()
    actions: Counter = Counter()
    per_hour: dict = defaultdict(Counter)
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=47)
    for op in BalanceOperation.objects.select_related("refund_of").order_by("id"):
        at = op.created_at
        if at > now:
            continue
        consumption = op.type in ("debit", "commit") and op.source == "api"
        given_back = op.type == "credit" and op.refund_of is not None and op.refund_of.type in (
            "debit", "commit") and op.refund_of.source == "api"
        sign = 1 if consumption else -1 if given_back else 0
        for name, since in (("today", today), ("week", week), ("month", month)):
            if at >= since:
                totals[name] += sign * op.amount
        if op.type == "credit" and op.refund_of is not None and at >= week:
            totals["refunded_week"] += op.amount
        if sign and at >= month:
            actions[op.reference] += sign * op.amount
        if at >= first_hour:
            per_hour[op.type][at.replace(minute=0, second=0, microsecond=0)] += 1
    return {"totals": {k: totals[k] for k in ("today", "week", "month", "refunded_week")},
            "actions": sorted(((code, points) for code, points in actions.items() if points > 0),
                              key=lambda row: (-row[1], row[0])),
            "per_hour_total": sum(sum(c.values()) for c in per_hour.values())}


def assert_matches_by_hand(now: datetime) -> None:
    totals, per_hour, by_action = figures(now)
    expected = by_hand(now)
    assert totals == expected["totals"]
    assert by_action == expected["actions"]
    assert per_hour["total"] == expected["per_hour_total"]


@pytest.fixture
def history(db):
    """Consumptions, a refunded one, a credit and an admin removal, over 40 days and several hours."""
    user, _token = user_register(email="rollup@example.com", password="a-Long-test-passphrase-42")
    for offset, action in ((timedelta(days=35), "conseil_rapide"), (timedelta(days=10), "analyse_cv_complete"),
                           (timedelta(days=2, hours=3), "mirror_match"), (timedelta(hours=5), "conseil_rapide"),
                           (timedelta(hours=1, minutes=10), "analyse_cv_complete")):
        with time_machine.travel(NOW - offset, tick=False):
            wallet_services.wallet_credit(user=user, amount=40, source="admin", reason="top-up")
            consumed = energy_services.energy_consume(user=user, action_code=action)
    with time_machine.travel(NOW - timedelta(hours=1), tick=False):
        wallet_services.wallet_refund_debit(operation_id=consumed.operation.pk, user=user, reason="failed")
        wallet_services.wallet_debit(user=user, amount=3, source="admin", reason="correction")
    return user


def test_the_figures_are_the_ledgers_before_and_after_a_refresh_and_with_a_live_tail(history):
    assert not OperationRollupCursor.objects.exists()
    before = figures(NOW)  # never refreshed: every operation read live
    assert_matches_by_hand(NOW)

    report = wallet_services.operation_rollup_refresh(now=NOW - timedelta(minutes=30))
    assert report.since is None and report.buckets == OperationRollup.objects.count() > 0
    assert figures(NOW) == before  # rollups up to the cursor, the rest live

    wallet_services.operation_rollup_refresh(now=NOW)
    assert figures(NOW) == before

    # Operations after the cursor are added live, then rolled up by the next refresh.
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        energy_services.energy_consume(user=history, action_code="mirror_match")
    later = NOW + timedelta(minutes=10)
    live = figures(later)
    assert_matches_by_hand(later)
    assert live[0]["today"] == before[0]["today"] + 30
    refreshed = wallet_services.operation_rollup_refresh(now=later)
    assert refreshed.since == (NOW - timedelta(hours=3)).replace(minute=0)  # the last hours only
    assert figures(later) == live


@pytest.mark.django_db(transaction=True)
def test_an_operation_committed_after_a_refresh_that_passed_its_id_shows_at_the_next_refresh(history):
    """A consume whose transaction is still open while another commits and a refresh runs:
    its id is below the cursor, so the live tail skips it, and the next refresh counts it."""
    inserted, release = threading.Event(), threading.Event()

    def slow_consume() -> None:
        try:
            with transaction.atomic():
                energy_services.energy_consume(user=history, action_code="conseil_rapide")  # id n, open
                inserted.set()
                assert release.wait(timeout=60)
        finally:
            connection.close()

    other, _token = user_register(email="rollup-other@example.com", password="a-Long-test-passphrase-42")
    worker = threading.Thread(target=slow_consume)
    worker.start()
    assert inserted.wait(timeout=60)
    energy_services.energy_consume(user=other, action_code="mirror_match")  # id n + k, committed
    report = wallet_services.operation_rollup_refresh()
    release.set()
    worker.join(timeout=60)
    now = timezone.now()
    slow = BalanceOperation.objects.filter(wallet__user=history).latest("id")
    assert slow.id < report.last_operation_id
    assert figures(now)[0]["today"] == by_hand(now)["totals"]["today"] - 5  # not seen yet
    wallet_services.operation_rollup_refresh()
    assert_matches_by_hand(timezone.now())


def test_rebuild_and_a_second_refresh_write_the_same_buckets(history):
    wallet_services.operation_rollup_refresh(now=NOW)
    first = sorted(OperationRollup.objects.values_list("hour", "type", "category", "reference", "operations", "amount"))
    wallet_services.operation_rollup_refresh(now=NOW)
    wallet_services.operation_rollup_refresh(now=NOW, rebuild=True)
    assert sorted(OperationRollup.objects.values_list("hour", "type", "category", "reference", "operations",
                                                      "amount")) == first


def test_the_dashboard_reads_three_statements_whatever_the_history(history):
    wallet_services.operation_rollup_refresh(now=NOW)
    with CaptureQueriesContext(connection) as captured:
        figures(NOW)
    assert len(captured) == 3  # one per reader, rollups and live tail in the same statement


@pytest.mark.django_db(transaction=True)
def test_overlapping_refreshes_skip(history, race):
    results = race(2, lambda _i: wallet_services.operation_rollup_refresh(now=NOW))
    assert sorted(r.skipped_locked for r in results) in ([False, False], [False, True])
    assert_matches_by_hand(NOW)


def test_the_command_as_the_readme_gives_it(history, capsys):
    call_command("wallet_rollup", "--dry-run")
    assert "[dry run] would write" in capsys.readouterr().out and not OperationRollup.objects.exists()
    call_command("wallet_rollup", "--rebuild")
    assert "bucket(s) from the first operation" in capsys.readouterr().out
    assert OperationRollup.objects.exists()
