"""Issue 18, built for AI generations: renewable holds, the bounded true-up at commit, the
spend-velocity breaker, verifiable statements. Real PostgreSQL throughout."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from phoenix.accounts.tests.factories import UserFactory
from phoenix.core.models import AdminAction
from subscriptions.services import access_grant_lifetime
from wallet import operator, services
from wallet.api.examples import STATEMENT
from wallet.api.serializers import StatementSerializer
from wallet.errors import HoldExpired, HoldNotPending, InsufficientEnergy, OverrunBeyondCap, SpendVelocityExceeded
from wallet.models import (
    ApiKeySpendCounter,
    BalanceOperation,
    EnergyAction,
    Hold,
    HoldExtension,
    HoldStatus,
    Incident,
    LotConsumption,
    OperationSource,
    SpendCounter,
    SpendVelocityLimit,
    SpendVelocityOverride,
    UsageEvent,
)
from wallet.selectors import wallet_statement
from wallet.services import energy as energy_services
from wallet.services.velocity import velocity_charge
from wallet.statement import statement_verify
from wallet.tests.conftest import append_only_trigger_disabled, assert_wallet_consistent
from wallet.tests.factories import WalletFactory

pytestmark = pytest.mark.django_db


def lease(wallet, *, amount=20, ttl=60, max_lifetime=600, action_code="analyse_cv_complete"):
    hold = services.wallet_freeze(user=wallet.user, amount=amount, action_code=action_code, ttl_seconds=ttl,
                                  max_lifetime_seconds=max_lifetime)
    wallet.refresh_from_db()
    return hold


def state(wallet, hold):
    wallet.refresh_from_db()
    hold.refresh_from_db()
    return (wallet.balance, wallet.held, wallet.last_seq, hold.status, hold.expires_at,
            LotConsumption.objects.filter(lot__wallet=wallet).count())


# --- Renewable holds ---------------------------------------------------------------------------


def test_extend_within_the_max_lifetime_renews_by_the_ttl_and_is_recorded():
    wallet = WalletFactory(balance=100)
    hold = lease(wallet, ttl=60, max_lifetime=600)
    assert hold.max_expires_at == hold.created_at + timedelta(seconds=600)
    later = hold.created_at + timedelta(seconds=50)
    extended, extension = services.wallet_hold_extend(hold_id=hold.pk, now=later)
    assert extended.expires_at == later + timedelta(seconds=60)
    assert (extension.expires_at_before, extension.expires_at_after) == (hold.expires_at, extended.expires_at)
    hold.refresh_from_db()
    assert hold.expires_at == later + timedelta(seconds=60) and hold.status == HoldStatus.PENDING
    assert HoldExtension.objects.filter(hold=hold).count() == 1


def test_extend_never_goes_past_the_max_lifetime():
    wallet = WalletFactory(balance=100)
    hold = lease(wallet, ttl=60, max_lifetime=100)
    late = hold.created_at + timedelta(seconds=50)
    extended, _ = services.wallet_hold_extend(hold_id=hold.pk, ttl_seconds=3600, now=late)
    assert extended.expires_at == hold.max_expires_at  # clamped, not now + 3600
    # A database rule too: no expiry past the maximum, whatever the code does.
    with pytest.raises(Exception, match="hold_expires_within_max_lifetime"), connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_hold SET expires_at = max_expires_at + interval '1 second' WHERE id = %s",
                       [hold.pk])


def test_extend_is_idempotent_per_key_and_409_on_expired_or_resolved():
    wallet = WalletFactory(balance=100)
    hold = lease(wallet)
    first, ext = services.wallet_hold_extend(hold_id=hold.pk, idempotency_key="beat-1")
    again, ext2 = services.wallet_hold_extend(hold_id=hold.pk, idempotency_key="beat-1")
    assert ext2.pk == ext.pk and HoldExtension.objects.filter(hold=hold).count() == 1
    with pytest.raises(HoldExpired):
        services.wallet_hold_extend(hold_id=hold.pk, now=first.expires_at + timedelta(seconds=1))
    services.wallet_commit(hold_id=hold.pk)
    with pytest.raises(HoldNotPending):
        services.wallet_hold_extend(hold_id=hold.pk)


def test_a_hold_no_longer_extended_expires_on_the_next_expiry_run():
    wallet = WalletFactory(balance=100)
    hold = lease(wallet, amount=30, ttl=60, max_lifetime=3600)
    beat = hold.created_at + timedelta(seconds=40)
    extended, _ = services.wallet_hold_extend(hold_id=hold.pk, now=beat)
    # The worker dies: no more beats. Before the renewed deadline the job leaves it alone...
    report = services.wallet_holds_expire(now=extended.expires_at - timedelta(seconds=1))
    assert report.expired == []
    # ...the next run after it expires it and gives the energy back.
    report = services.wallet_holds_expire(now=extended.expires_at + timedelta(seconds=1))
    assert [h.pk for h in report.expired] == [hold.pk]
    hold.refresh_from_db()
    wallet.refresh_from_db()
    assert hold.status == HoldStatus.EXPIRED and (wallet.balance, wallet.held) == (100, 0)
    assert_wallet_consistent(wallet)


def test_extend_api(user_client, registered_user):
    freeze = user_client.post("/luna/energy/freeze", {"action": "lettre_motivation", "ttl_seconds": 60,
                                                      "max_lifetime_seconds": 120}, format="json")
    assert freeze.status_code == 201, freeze.json()
    hold_id = freeze.json()["hold_id"]
    body = {"hold_id": hold_id, "ttl_seconds": 600}
    response = user_client.post("/luna/energy/extend", body, format="json", HTTP_IDEMPOTENCY_KEY="beat-a")
    assert response.status_code == 200, response.json()
    answer = response.json()
    assert answer["at_max_lifetime"] is True and answer["expires_at"] == answer["max_expires_at"]
    replay = user_client.post("/luna/energy/extend", body, format="json", HTTP_IDEMPOTENCY_KEY="beat-a")
    assert replay.json() == answer and HoldExtension.objects.filter(hold_id=hold_id).count() == 1
    user_client.post("/luna/energy/commit", {"hold_id": hold_id}, format="json")
    resolved = user_client.post("/luna/energy/extend", {"hold_id": hold_id}, format="json")
    assert resolved.status_code == 409 and resolved.json()["error"] == "hold_not_pending"


# --- Bounded true-up ---------------------------------------------------------------------------


@pytest.fixture
def capped_action():
    action = EnergyAction.objects.get(code="analyse_cv_complete")
    action.overrun_cap_percent = 50
    action.save(update_fields=["overrun_cap_percent"])
    return action


def test_commit_with_an_overrun_inside_the_cap_debits_the_extra_in_the_same_transaction(capped_action):
    wallet = WalletFactory(balance=100)
    hold = lease(wallet, amount=20)
    commit = services.wallet_commit(hold_id=hold.pk, amount=27)  # cap: 20 + 50 % = 30
    hold.refresh_from_db()
    wallet.refresh_from_db()
    assert (hold.status, hold.captured_amount, hold.overrun_amount) == (HoldStatus.CAPTURED, 20, 7)
    extra = BalanceOperation.objects.get(hold=hold, type="debit")
    assert extra.amount == 7 and extra.seq == commit.seq - 1  # written before the commit
    assert (commit.balance_after, commit.held_after) == (wallet.balance, wallet.held) == (73, 0)
    assert sum(LotConsumption.objects.filter(operation=extra, kind="draw").values_list("amount", flat=True)) == 7
    assert_wallet_consistent(wallet)


def test_commit_beyond_the_cap_is_402_and_changes_nothing(capped_action):
    wallet = WalletFactory(balance=100)
    hold = lease(wallet, amount=20)
    before = state(wallet, hold)
    with pytest.raises(OverrunBeyondCap) as refused:
        services.wallet_commit(hold_id=hold.pk, amount=31)
    assert (refused.value.required, refused.value.available, refused.value.status_code) == (31, 30, 402)
    assert state(wallet, hold) == before and hold.status == HoldStatus.PENDING


def test_commit_beyond_the_available_energy_is_402_and_changes_nothing(capped_action):
    wallet = WalletFactory(balance=25)
    hold = lease(wallet, amount=20)  # 5 available beyond the hold
    before = state(wallet, hold)
    with pytest.raises(InsufficientEnergy) as refused:
        services.wallet_commit(hold_id=hold.pk, amount=28)
    assert (refused.value.required, refused.value.available) == (8, 5)
    assert state(wallet, hold) == before and hold.status == HoldStatus.PENDING
    services.wallet_commit(hold_id=hold.pk, amount=25)  # exactly what is there: fine
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.held) == (0, 0)
    assert_wallet_consistent(wallet)


def test_true_up_over_the_api_shows_the_extra(user_client, registered_user, capped_action):
    hold = user_client.post("/luna/energy/freeze", {"action": "analyse_cv_complete"}, format="json").json()
    response = user_client.post("/luna/energy/commit", {"hold_id": hold["hold_id"], "amount": hold["amount"] + 3},
                                format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["overrun"] == 3 and body["energy_consumed"] == hold["amount"] + 3
    assert BalanceOperation.objects.get(pk=body["overrun_transaction_id"]).type == "debit"


@pytest.mark.django_db(transaction=True)
def test_extend_commit_and_expiry_racing_on_one_hold_resolve_it_once(race):
    wallet = WalletFactory(balance=100)
    hold = lease(wallet, amount=40, ttl=60, max_lifetime=600)
    job_now = hold.created_at + timedelta(seconds=61)  # the expiry job sees it past its (first) deadline

    def work(i: int):
        kind = ("extend", "commit", "expire")[i % 3]
        if kind == "extend":
            return services.wallet_hold_extend(hold_id=hold.pk)
        if kind == "commit":
            return services.wallet_commit(hold_id=hold.pk)
        return services.hold_expire(hold_id=hold.pk, now=job_now)

    results = race(12, work)
    hold.refresh_from_db()
    wallet.refresh_from_db()
    resolutions = BalanceOperation.objects.filter(hold=hold).exclude(type="freeze")
    assert resolutions.count() == 1  # one commit or one release, never both, never two
    assert hold.status in (HoldStatus.CAPTURED, HoldStatus.EXPIRED)
    assert wallet.held == 0
    assert wallet.balance == (60 if hold.status == HoldStatus.CAPTURED else 100)
    commits = [r for r in results if isinstance(r, BalanceOperation)]
    assert len(commits) == (1 if hold.status == HoldStatus.CAPTURED else 0)
    assert all(isinstance(r, (BalanceOperation, Hold, tuple, HoldNotPending, HoldExpired, type(None)))
               for r in results), results
    assert_wallet_consistent(wallet)


# --- Spend-velocity breaker ------------------------------------------------------------------


def set_limit(user, *, max_energy=None, max_actions=None):
    SpendVelocityOverride.objects.update_or_create(user=user, defaults={"max_energy": max_energy,
                                                                        "max_actions": max_actions})


@pytest.mark.django_db(transaction=True)
def test_the_breaker_trips_at_the_limit_under_40_concurrent_consumers(race):
    wallet = WalletFactory(balance=1000)
    cost = EnergyAction.objects.get(code="lettre_motivation").cost
    allowed = 6
    set_limit(wallet.user, max_energy=cost * allowed + cost - 1)  # room for 6, not 7

    results = race(40, lambda i: energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation"))

    refused = [r for r in results if isinstance(r, SpendVelocityExceeded)]
    assert [r for r in results if not isinstance(r, SpendVelocityExceeded) and isinstance(r, Exception)] == []
    assert len(refused) == 40 - allowed and all(r.retry_after > 0 for r in refused)
    wallet.refresh_from_db()
    assert wallet.balance == 1000 - cost * allowed  # exactly the allowed amount spent
    assert SpendCounter.objects.get(user=wallet.user).energy == cost * allowed
    incident = Incident.objects.get(wallet=wallet, code="spend_velocity_exceeded", status="open")
    assert incident.times_seen == 40 - allowed
    assert_wallet_consistent(wallet)


@pytest.mark.django_db(transaction=True)
def test_the_per_api_key_breaker_is_exact_across_40_users_through_one_key(race):
    cost = EnergyAction.objects.get(code="lettre_motivation").cost
    SpendVelocityLimit.objects.update_or_create(pk=1, defaults={"max_energy_per_api_key": cost * 6 + cost - 1})
    wallets = [WalletFactory(balance=100) for _ in range(40)]

    results = race(40, lambda i: energy_services.energy_consume(
        user=wallets[i].user, action_code="lettre_motivation", api_key_prefix="Sat3ll1t"))

    assert [r for r in results if isinstance(r, Exception) and not isinstance(r, SpendVelocityExceeded)] == []
    refused = [r for r in results if isinstance(r, SpendVelocityExceeded)]
    assert len(refused) == 34 and all("per API key" in r.limit for r in refused)
    assert BalanceOperation.objects.filter(type="debit", wallet__in=wallets).count() == 6
    assert ApiKeySpendCounter.objects.get(pk="Sat3ll1t").energy == cost * 6


def test_the_per_api_key_breaker_over_the_api(satellite_client, registered_user):
    SpendVelocityLimit.objects.filter(pk=1).update(max_energy_per_api_key=20)
    body = {"user_id": str(registered_user.public_id), "action": "lettre_motivation"}
    assert satellite_client.post("/luna/energy/consume", body, format="json").status_code == 200
    refused = satellite_client.post("/luna/energy/consume", body, format="json")
    assert refused.status_code == 429 and "per API key" in refused.json()["limit"]
    assert ApiKeySpendCounter.objects.count() == 1


def test_the_breaker_resets_when_the_window_passes():
    wallet = WalletFactory(balance=1000)
    set_limit(wallet.user, max_energy=30)
    window = SpendVelocityLimit.objects.get(pk=1).window_seconds
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1, minutes=5)
    with time_machine.travel(start, tick=False):
        energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")  # 15
        energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")  # 30
        with pytest.raises(SpendVelocityExceeded) as refused:
            energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")
        assert refused.value.retry_after == window - 5 * 60
    with time_machine.travel(start + timedelta(seconds=window), tick=False):
        energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")
    assert SpendCounter.objects.get(user=wallet.user).energy == 15
    wallet.refresh_from_db()
    assert wallet.balance == 1000 - 45


def test_an_operator_lifts_the_breaker(django_user_model):
    wallet = WalletFactory(balance=1000)
    set_limit(wallet.user, max_energy=15)
    energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")
    with pytest.raises(SpendVelocityExceeded):
        energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")
    incident = Incident.objects.get(wallet=wallet, code="spend_velocity_exceeded", status="open")
    actor = UserFactory(is_staff=True)
    operator.velocity_breaker_lift(wallet=wallet, actor=actor, reason="customer confirmed the run")
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert AdminAction.objects.filter(action="velocity_breaker_lift", actor=actor).count() == 1
    energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")  # allowed again


def test_the_breaker_refuses_freezes_over_the_api_with_429_and_retry_after(user_client, registered_user):
    set_limit(registered_user, max_energy=10)
    response = user_client.post("/luna/energy/freeze", {"action": "lettre_motivation"}, format="json",
                                HTTP_IDEMPOTENCY_KEY="f-1")
    assert response.status_code == 429 and response.json()["error"] == "spend_velocity_exceeded"
    assert response.json()["retry_after"] > 0 and response["Retry-After"] == str(response.json()["retry_after"])
    assert not Hold.objects.filter(wallet__user=registered_user).exists()  # nothing held
    # The incident survives the refused request's rollback (even inside @idempotent's transaction).
    assert Incident.objects.filter(wallet__user=registered_user, code="spend_velocity_exceeded").count() == 1


@pytest.fixture
def unlimited_member(db):
    user = UserFactory()
    access_grant_lifetime(user=user, event_time=timezone.now())
    return user


def test_unlimited_users_get_a_fair_use_count_of_actions(unlimited_member):
    set_limit(unlimited_member, max_actions=2)
    for _ in range(2):
        assert energy_services.energy_consume(user=unlimited_member, action_code="lettre_motivation").unlimited
    with pytest.raises(SpendVelocityExceeded) as refused:
        energy_services.energy_consume(user=unlimited_member, action_code="lettre_motivation")
    assert "2 actions" in refused.value.limit
    assert SpendCounter.objects.get(user=unlimited_member).actions == 2


def test_the_breaker_costs_one_statement_on_the_consume_path():
    wallet = WalletFactory(balance=1000)
    user = wallet.user
    energy_services.energy_consume(user=user, action_code="lettre_motivation")  # warm caches
    with CaptureQueriesContext(connection) as captured:
        energy_services.energy_consume(user=user, action_code="lettre_motivation")
    charges = [q["sql"] for q in captured.captured_queries if "wallet_spendcounter" in q["sql"]]
    assert len(charges) == 1 and charges[0].lstrip().startswith("WITH")
    # The breaker's statement runs after the wallet lock, inside the consume's transaction.
    statements = [q["sql"] for q in captured.captured_queries]
    lock = next(i for i, q in enumerate(statements) if "FOR UPDATE" in q and "wallet_wallet" in q)
    assert statements.index(charges[0]) > lock


def test_a_paid_consume_writes_operation_charge_and_event_in_the_debit_s_one_statement():
    wallet = WalletFactory(balance=1000)
    cost = EnergyAction.objects.get(code="lettre_motivation").cost
    energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")  # warm caches
    with CaptureQueriesContext(connection) as captured:
        result = energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")
    riding = [q["sql"] for q in captured.captured_queries if "wallet_spendcounter" in q["sql"]]
    assert len(riding) == 1 and "INSERT INTO wallet_balanceoperation" in riding[0] \
        and f"INSERT INTO {UsageEvent._meta.db_table}" in riding[0]
    event = UsageEvent.objects.get(pk=result.event.pk)
    assert event.operation_id == result.operation.pk and event.energy_consumed == cost
    assert SpendCounter.objects.get(user=wallet.user).energy == 2 * cost
    assert_wallet_consistent(wallet)


def test_a_refused_paid_consume_leaves_no_operation_no_event_and_no_charge():
    wallet = WalletFactory(balance=1000)
    cost = EnergyAction.objects.get(code="lettre_motivation").cost
    set_limit(wallet.user, max_energy=cost)
    energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")
    operations, events = BalanceOperation.objects.count(), UsageEvent.objects.count()
    with pytest.raises(SpendVelocityExceeded):
        energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")
    assert (BalanceOperation.objects.count(), UsageEvent.objects.count()) == (operations, events)
    assert SpendCounter.objects.get(user=wallet.user).energy == cost
    wallet.refresh_from_db()
    assert wallet.balance == 1000 - cost


def test_a_consume_whose_key_names_an_earlier_debit_replays_it_and_records_its_event_once():
    # The wallet's key already names a debit of the same request (an in-process caller's): the
    # consume replays it (no second debit, nothing riding on it) and records the event on its own.
    wallet = WalletFactory(balance=1000)
    action = EnergyAction.objects.get(code="lettre_motivation")
    first = services.wallet_debit(user=wallet.user, amount=action.cost, source=OperationSource.API,
                                  reason="earlier", reference=action.code, idempotency_key="shared-key")
    result = energy_services.energy_consume(user=wallet.user, action_code=action.code, idempotency_key="shared-key")
    again = energy_services.energy_consume(user=wallet.user, action_code=action.code, idempotency_key="shared-key")
    assert result.operation.pk == first.pk == again.operation.pk and again.event.pk == result.event.pk
    assert UsageEvent.objects.filter(operation=first).count() == 1
    wallet.refresh_from_db()
    assert wallet.balance == 1000 - action.cost
    assert SpendCounter.objects.get(user=wallet.user).energy == action.cost


def test_velocity_charge_counts_without_a_limit_row():
    wallet = WalletFactory(balance=100)
    SpendVelocityLimit.objects.all().delete()  # the benchmarks' schema has no row: no limit
    velocity_charge(wallet=wallet, energy=10**9, fair_use=False)
    assert SpendCounter.objects.get(user=wallet.user).energy == 10**9


# --- Verifiable statements ------------------------------------------------------------------------


@pytest.fixture
def ledger_wallet():
    wallet = WalletFactory(balance=100)
    services.wallet_debit(user=wallet.user, amount=10, source="api", reason="a", reference="lettre_motivation")
    hold = lease(wallet, amount=15, action_code="lettre_motivation")
    services.wallet_commit(hold_id=hold.pk, amount=5)
    services.wallet_debit(user=wallet.user, amount=3, source="api", reason="b")
    return wallet


def statement_json(user, **kwargs) -> dict:
    return json.loads(JSONRenderer().render(StatementSerializer(wallet_statement(user=user, **kwargs)).data))


def test_a_statement_verifies():
    wallet = WalletFactory(balance=100)
    services.wallet_debit(user=wallet.user, amount=10, source="api", reason="a")
    statement = statement_json(wallet.user)
    assert statement_verify(statement) == []
    assert statement["head"] == {"seq": 2, "hash": BalanceOperation.objects.get(wallet=wallet, seq=2).hash}


def test_a_statement_fails_when_an_operation_is_altered_in_the_database(ledger_wallet):
    first = statement_json(ledger_wallet.user)
    assert statement_verify(first) == []
    with append_only_trigger_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_balanceoperation SET amount = 1, balance_after = balance_before - 1 "
                       "WHERE wallet_id = %s AND seq = 2", [ledger_wallet.pk])
    tampered = statement_json(ledger_wallet.user)
    assert any("seq 2" in problem and "altered" in problem for problem in statement_verify(tampered))
    assert any("seq 2" in p for p in statement_verify(tampered, previous=first))


def test_a_statement_fails_when_an_operation_is_removed(ledger_wallet):
    statement = statement_json(ledger_wallet.user)
    removed = copy.deepcopy(statement)
    del removed["operations"][2]
    assert any("missing" in problem for problem in statement_verify(removed))
    last_removed = copy.deepcopy(statement)
    last_removed["operations"].pop()
    assert any("head" in problem for problem in statement_verify(last_removed))
    # And in the database (the append-only trigger off, as only a superuser could).
    with append_only_trigger_disabled(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM wallet_lotconsumption WHERE operation_id IN "
                       "(SELECT id FROM wallet_balanceoperation WHERE wallet_id = %s AND seq = 2)", [ledger_wallet.pk])
        cursor.execute("DELETE FROM wallet_balanceoperation WHERE wallet_id = %s AND seq = 2", [ledger_wallet.pk])
    assert any("missing" in problem for problem in statement_verify(statement_json(ledger_wallet.user)))


def test_statement_api_and_the_verify_command(user_client, registered_user, tmp_path, capsys):
    response = user_client.get(f"/luna/energy/statement/{registered_user.public_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["operations"] and statement_verify(body) == []
    saved = tmp_path / "statement.json"
    saved.write_text(json.dumps(body))
    call_command("wallet_statement_verify", str(saved))
    assert "statement verified" in capsys.readouterr().out
    body["operations"][0]["amount"] += 1
    saved.write_text(json.dumps(body))
    with pytest.raises(SystemExit):
        call_command("wallet_statement_verify", str(saved))
    bounded = user_client.get(f"/luna/energy/statement/{registered_user.public_id}",
                              {"to": (timezone.now() - timedelta(days=1)).isoformat()})
    assert bounded.status_code == 200 and bounded.json()["operations"] == []
    bad = user_client.get(f"/luna/energy/statement/{registered_user.public_id}", {"from": "yesterday"})
    assert bad.status_code == 400


def test_the_admin_lifts_the_breaker_from_the_incident(admin_client):
    wallet = WalletFactory(balance=100)
    set_limit(wallet.user, max_energy=0)
    with pytest.raises(SpendVelocityExceeded):
        energy_services.energy_consume(user=wallet.user, action_code="lettre_motivation")
    incident = Incident.objects.get(wallet=wallet, code="spend_velocity_exceeded", status="open")
    url = reverse("admin:wallet_incident_operator_lift-breaker", args=[incident.pk])
    assert admin_client.get(url).status_code == 200
    assert admin_client.post(url, {"reason": "checked with the customer"}).status_code == 302
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert AdminAction.objects.filter(action="velocity_breaker_lift").count() == 1


def test_hold_history_is_append_only():
    wallet = WalletFactory(balance=100)
    hold = lease(wallet)
    services.wallet_hold_extend(hold_id=hold.pk)
    with pytest.raises(Exception, match="append-only"), connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_holdextension SET expires_at_after = expires_at_before")


def test_the_schema_example_statement_verifies():
    assert statement_verify(STATEMENT[0].value) == []


def test_the_admin_produces_a_verified_statement(admin_client, ledger_wallet):
    response = admin_client.get(reverse("admin:wallet_wallet_statement", args=[ledger_wallet.pk]))
    assert response.status_code == 200 and response["X-Statement-Verified"] == "true"
    body = json.loads(response.content)
    assert body == statement_json(ledger_wallet.user) and statement_verify(body) == []
    assert admin_client.get(reverse("admin:wallet_wallet_change", args=[ledger_wallet.pk])).status_code == 200
