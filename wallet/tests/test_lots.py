"""Energy lots on real PostgreSQL: the consumption order in every tie case, debits spanning
lots, holds across an expiry, partial commits, the lot-expiry job (--now, dry run), pack
refunds, refunds back to lots, the database rules (raw-SQL bypass attempts) and the health
check's lot findings."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from io import StringIO

import psycopg
import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import IntegrityError, InternalError, connection, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from phoenix.core.jobs import advisory_lock_key
from wallet import selectors, services, tasks
from wallet.errors import InsufficientEnergy, WalletValidationError
from wallet.models import (
    BalanceOperation,
    EnergyLot,
    EnergyValidity,
    LotCategory,
    LotConsumption,
    OperationType,
)
from wallet.services import LotGrant
from wallet.services.lots import revocation_plan
from wallet.tests.conftest import assert_wallet_consistent, sql
from wallet.tests.factories import WalletFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def grant(wallet, *lots: LotGrant, source: str = "admin") -> BalanceOperation:
    return services.wallet_credit(user=wallet.user, amount=sum(lot.amount for lot in lots), source=source,
                                  reason="test lots", lots=list(lots))


def lot_ids(operation: BalanceOperation) -> list[int]:
    return list(EnergyLot.objects.filter(operation=operation).order_by("id").values_list("id", flat=True))


def drawn(operation: BalanceOperation, kind: str = "draw") -> list[tuple[int, int]]:
    return list(LotConsumption.objects.filter(operation=operation, kind=kind).order_by("lot_id")
                .values_list("lot_id", "amount"))


def debit(wallet, amount: int) -> BalanceOperation:
    return services.wallet_debit(user=wallet.user, amount=amount, source="api", reason="t", reference="t")


def remaining(lot_id: int) -> int:
    return EnergyLot.objects.get(pk=lot_id).remaining


@pytest.fixture
def wallet():
    return WalletFactory()


# --- The consumption order, every tie case ----------------------------------------------------


def test_soonest_expiry_first_and_never_expiring_last(wallet):
    now = timezone.now()
    [never] = lot_ids(grant(wallet, LotGrant(10, LotCategory.PROMOTIONAL)))
    [late] = lot_ids(grant(wallet, LotGrant(10, LotCategory.PROMOTIONAL, expires_at=now + 30 * DAY)))
    [soon] = lot_ids(grant(wallet, LotGrant(10, LotCategory.PAID, expires_at=now + 2 * DAY)))

    assert drawn(debit(wallet, 10)) == [(soon, 10)]  # paid, but it expires first
    assert drawn(debit(wallet, 10)) == [(late, 10)]
    assert drawn(debit(wallet, 10)) == [(never, 10)]
    assert_wallet_consistent(wallet)


@pytest.mark.parametrize("free", [LotCategory.PROMOTIONAL, LotCategory.BONUS, LotCategory.WELCOME,
                                  LotCategory.GOODWILL])
def test_same_expiry_free_before_paid(wallet, free):
    expiry = timezone.now() + 10 * DAY
    paid, free_lot = lot_ids(grant(wallet, LotGrant(10, LotCategory.PAID, expires_at=expiry),
                                   LotGrant(10, free, expires_at=expiry)))
    assert drawn(debit(wallet, 4)) == [(free_lot, 4)]


def test_same_expiry_and_category_then_priority_lower_first(wallet):
    a, b = lot_ids(grant(wallet, LotGrant(10, LotCategory.PROMOTIONAL, priority=60),
                         LotGrant(10, LotCategory.PROMOTIONAL, priority=10)))
    assert drawn(debit(wallet, 12)) == [(a, 2), (b, 10)]


def test_all_else_equal_oldest_first(wallet):
    [older] = lot_ids(grant(wallet, LotGrant(10, LotCategory.PAID)))
    [newer] = lot_ids(grant(wallet, LotGrant(10, LotCategory.PAID)))
    assert drawn(debit(wallet, 15)) == [(older, 10), (newer, 5)]


def test_never_expiring_free_lot_comes_after_an_expiring_paid_lot(wallet):
    [free] = lot_ids(grant(wallet, LotGrant(10, LotCategory.WELCOME)))
    [paid] = lot_ids(grant(wallet, LotGrant(10, LotCategory.PAID, expires_at=timezone.now() + DAY)))
    assert drawn(debit(wallet, 3)) == [(paid, 3)]
    assert remaining(free) == 10


def test_lots_endpoint_order_is_the_consumption_order(wallet):
    now = timezone.now()
    grant(wallet, LotGrant(5, LotCategory.PAID), LotGrant(5, LotCategory.PROMOTIONAL),
          LotGrant(5, LotCategory.PAID, expires_at=now + DAY), LotGrant(5, LotCategory.BONUS, expires_at=now + DAY),
          LotGrant(5, LotCategory.PROMOTIONAL, priority=1))
    listed = [lot.pk for lot in selectors.energy_lots_for_user(wallet.user)]
    taken = [lot_id for lot_id, _ in sorted(
        LotConsumption.objects.filter(operation=debit(wallet, 25)).values_list("lot_id", "id"), key=lambda r: r[1])]
    assert sorted(taken) == sorted(listed)
    # The drawing order: bonus (expiring, free), paid (expiring), promotional p1, promotional p50, paid.
    lots = {lot.pk: lot for lot in EnergyLot.objects.filter(wallet=wallet)}
    assert [(lots[i].category, lots[i].priority, lots[i].expires_at is None) for i in listed] == [
        ("bonus", 50, False), ("paid", 50, False), ("promotional", 1, True), ("promotional", 50, True),
        ("paid", 50, True)]


# --- Debits, holds, commits ---------------------------------------------------------------------


def test_a_debit_spanning_three_lots(wallet):
    now = timezone.now()
    a, b, c = lot_ids(grant(wallet, LotGrant(10, LotCategory.PROMOTIONAL, expires_at=now + DAY),
                            LotGrant(20, LotCategory.BONUS, expires_at=now + 2 * DAY),
                            LotGrant(30, LotCategory.PAID)))
    operation = debit(wallet, 45)
    assert drawn(operation) == [(a, 10), (b, 20), (c, 15)]
    assert sum(amount for _, amount in drawn(operation)) == operation.amount
    assert [remaining(i) for i in (a, b, c)] == [0, 0, 15]
    assert sorted(operation.lot_takes) == [(a, 10), (b, 20), (c, 15)]
    assert_wallet_consistent(wallet)


def test_a_debit_issues_two_statements(wallet, django_assert_max_num_queries):
    grant(wallet, LotGrant(10, LotCategory.PROMOTIONAL), LotGrant(10, LotCategory.PAID))
    # + the atomic block's savepoint pair, + the outbox emit (wallet.balance_low: writes
    # nothing when no endpoint subscribed, phoenix.outbound)
    with django_assert_max_num_queries(2 + 2 + 1) as captured:
        debit(wallet, 15)
    statements = [q["sql"] for q in captured.captured_queries
                  if "SAVEPOINT" not in q["sql"] and "outbound_" not in q["sql"]]
    assert len(statements) == 2  # lock the wallet; the operation + its lots + the wallet's row
    assert all(part in statements[1] for part in ("wallet_energylot", "wallet_lotconsumption", "UPDATE wallet_wallet"))


def debit_at_future(wallet, amount: int, *, at):
    """A debit whose clock reads `at` (the draw compares expiries with the operation's time)."""
    original = timezone.now
    timezone.now = lambda: at
    try:
        return debit(wallet, amount)
    finally:
        timezone.now = original


def test_a_hold_keeps_its_energy_across_its_lots_expiry(wallet):
    now = timezone.now()
    [lot] = lot_ids(grant(wallet, LotGrant(30, LotCategory.PROMOTIONAL, expires_at=now + DAY)))
    hold = services.wallet_freeze(user=wallet.user, amount=20, action_code="mirror_match", ttl_seconds=600)
    assert drawn(hold.operations.get(type="freeze"), "reserve") == [(lot, 20)]

    report = services.wallet_lots_expire(now=now + 2 * DAY)  # the lot expires during the hold
    assert [(e.lot_id, e.amount) for e in report.expired] == [(lot, 10)]  # only the unreserved 10
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.held) == (20, 20)

    operation = services.wallet_commit(hold_id=hold.pk)  # the hold still pays with its reserved energy
    assert drawn(operation) == [(lot, 20)] and drawn(operation, "unreserve") == [(lot, 20)]
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.held) == (0, 0)
    assert_wallet_consistent(wallet)


def test_a_release_hands_back_energy_of_an_expired_lot_which_expires_then(wallet):
    now = timezone.now()
    [lot] = lot_ids(grant(wallet, LotGrant(30, LotCategory.PROMOTIONAL, expires_at=now + DAY)))
    [paid] = lot_ids(grant(wallet, LotGrant(50, LotCategory.PAID)))
    hold = services.wallet_freeze(user=wallet.user, amount=20, action_code="mirror_match", ttl_seconds=600)
    services.wallet_lots_expire(now=now + 2 * DAY)
    # The lot's expiry passed (the job expired its free 10); release at a time past it.
    original = timezone.now
    timezone.now = lambda: now + 2 * DAY
    try:
        release = services.wallet_release(hold_id=hold.pk)
    finally:
        timezone.now = original
    assert drawn(release, "unreserve") == [(lot, 20)]
    expiry = BalanceOperation.objects.get(wallet=wallet, type=OperationType.LOT_EXPIRY, seq=release.seq + 1)
    assert (expiry.amount, expiry.source) == (20, "system")
    assert drawn(expiry) == [(lot, 20)]
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.held) == (50, 0)
    assert remaining(paid) == 50
    assert_wallet_consistent(wallet)


def test_a_partial_commit_consumes_from_the_reserved_lots(wallet):
    now = timezone.now()
    a, b = lot_ids(grant(wallet, LotGrant(10, LotCategory.BONUS, expires_at=now + DAY),
                         LotGrant(40, LotCategory.PAID)))
    hold = services.wallet_freeze(user=wallet.user, amount=25, action_code="mirror_match")
    assert drawn(hold.operations.get(type="freeze"), "reserve") == [(a, 10), (b, 15)]
    debit(wallet, 5)  # from b's unreserved part (a is fully reserved)
    commit = services.wallet_commit(hold_id=hold.pk, amount=12)
    release = BalanceOperation.objects.get(hold=hold, type="release")
    assert drawn(commit) == [(a, 10), (b, 2)]
    assert drawn(commit, "unreserve") == [(a, 10), (b, 2)]
    assert drawn(release, "unreserve") == [(b, 13)]
    assert (remaining(a), remaining(b)) == (0, 33)
    assert EnergyLot.objects.filter(wallet=wallet, reserved__gt=0).count() == 0
    assert_wallet_consistent(wallet)


# --- Expiry job -----------------------------------------------------------------------------------


def test_expiry_at_now_and_the_dry_run_lists_exactly_what_the_real_run_does(wallet):
    now = timezone.now()
    other = WalletFactory()
    [a] = lot_ids(grant(wallet, LotGrant(10, LotCategory.PROMOTIONAL, expires_at=now + DAY)))
    [b] = lot_ids(grant(wallet, LotGrant(7, LotCategory.WELCOME, expires_at=now + 3 * DAY)))
    [c] = lot_ids(grant(other, LotGrant(9, LotCategory.BONUS, expires_at=now + 2 * DAY)))
    grant(other, LotGrant(5, LotCategory.PAID))
    debit(wallet, 4)  # from a

    at = (now + 2 * DAY + timedelta(hours=1)).isoformat()
    out = StringIO()
    call_command("wallet_expire_lots", "--now", at, "--dry-run", stdout=out)
    dry_lines = [line.removeprefix("[dry run] would ") for line in out.getvalue().splitlines()[1:]]
    assert BalanceOperation.objects.filter(type=OperationType.LOT_EXPIRY).count() == 0  # the dry run wrote nothing

    out = StringIO()
    call_command("wallet_expire_lots", "--now", at, "--yes", stdout=out)
    real_lines = [line.split(" (operation")[0].removeprefix("expired lot ").join(["expire lot ", ""])
                  for line in out.getvalue().splitlines()[1:]]
    assert dry_lines == real_lines == [f"expire lot {a} wallet={wallet.pk} amount=6",
                                       f"expire lot {c} wallet={other.pk} amount=9"]
    assert (remaining(a), remaining(b), remaining(c)) == (0, 7, 0)
    expiries = BalanceOperation.objects.filter(type=OperationType.LOT_EXPIRY).order_by("id")
    assert [(o.wallet_id, o.amount, o.source, o.reference) for o in expiries] == [
        (wallet.pk, 6, "system", f"lot:{a}"), (other.pk, 9, "system", f"lot:{c}")]
    assert services.wallet_lots_expire(now=now + 2 * DAY + timedelta(hours=1)).expired == []  # once
    assert_wallet_consistent(wallet)
    assert_wallet_consistent(other)


def test_lot_expiry_beat_schedule_and_task():
    task = PeriodicTask.objects.get(name="wallet: lot expiry")
    assert (task.task, task.enabled, task.interval.every) == ("wallet.expire_lots", True, 60)
    assert tasks.wallet_expire_lots.name == "wallet.expire_lots"
    summary = tasks.wallet_expire_lots.apply().get()
    assert (summary["job"], summary["expired"], summary["skipped_locked"]) == ("wallet.expire_lots", 0, False)


def test_lot_expiry_is_overlap_safe(wallet):
    [lot] = lot_ids(grant(wallet, LotGrant(10, LotCategory.PROMOTIONAL, expires_at=timezone.now() + DAY)))
    later = timezone.now() + 2 * DAY
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other_session:
        key = advisory_lock_key(services.LOT_EXPIRY_LOCK)
        other_session.execute("SELECT pg_advisory_lock(%s)", [key])
        assert services.wallet_lots_expire(now=later).skipped_locked
        assert remaining(lot) == 10
        other_session.execute("SELECT pg_advisory_unlock(%s)", [key])
    assert [e.lot_id for e in services.wallet_lots_expire(now=later).expired] == [lot]


# --- Refunds ----------------------------------------------------------------------------------------


def test_refund_of_a_debit_goes_back_to_its_lots(wallet):
    now = timezone.now()
    a, b = lot_ids(grant(wallet, LotGrant(10, LotCategory.PROMOTIONAL, expires_at=now + DAY),
                         LotGrant(20, LotCategory.PAID)))
    operation = debit(wallet, 15)
    refund = services.wallet_refund_debit(operation_id=operation.pk)
    assert drawn(refund, "restore") == [(a, 10), (b, 5)]
    assert (remaining(a), remaining(b)) == (10, 20)
    assert EnergyLot.objects.get(pk=a).expires_at == now + DAY  # never extended
    assert_wallet_consistent(wallet)


def test_refund_to_an_expired_lot_never_extends_its_life(wallet):
    now = timezone.now()
    [a] = lot_ids(grant(wallet, LotGrant(10, LotCategory.PROMOTIONAL, expires_at=now + DAY)))
    grant(wallet, LotGrant(20, LotCategory.PAID))
    operation = debit(wallet, 10)  # all of a
    original = timezone.now
    timezone.now = lambda: now + 2 * DAY
    try:
        refund = services.wallet_refund_debit(operation_id=operation.pk)
    finally:
        timezone.now = original
    expiry = BalanceOperation.objects.get(wallet=wallet, seq=refund.seq + 1)
    assert (expiry.type, expiry.amount) == (OperationType.LOT_EXPIRY, 10)
    assert remaining(a) == 0
    wallet.refresh_from_db()
    assert wallet.balance == 20
    assert_wallet_consistent(wallet)


def pack_purchase(wallet, *, points: int = 100, bonus: int = 10, reference: str = "payment:1"):
    return services.wallet_credit(
        user=wallet.user, amount=points + bonus, source="stripe", reason="pack", reference=reference,
        idempotency_key=reference,
        lots=services.pack_purchase_lots(points=points, bonus=bonus, validity_days=None, price_cents=299))


def test_pack_purchase_creates_a_paid_and_a_bonus_lot_with_their_validity(wallet):
    EnergyValidity.objects.update_or_create(pk=1, defaults={"bonus_validity_days": 30})
    operation = pack_purchase(wallet)
    paid, bonus = EnergyLot.objects.filter(operation=operation).order_by("id")
    assert (paid.category, paid.amount, paid.expires_at, paid.price_cents) == ("paid", 100, None, 299)
    assert (bonus.category, bonus.amount, bonus.price_cents) == ("bonus", 10, 0)
    assert timedelta(days=29) < bonus.expires_at - operation.created_at <= timedelta(days=30)


def test_full_refund_of_a_pack_after_part_of_it_was_spent(wallet):
    grant(wallet, LotGrant(50, LotCategory.PAID))  # another purchase, untouched by the revocation
    pack_purchase(wallet)
    [paid, bonus] = lot_ids(BalanceOperation.objects.get(reference="payment:1"))
    debit(wallet, 30)  # 10 from the bonus (it expires: first), 20 from the older paid lot
    result = services.wallet_clawback(user=wallet.user, amount=110, source="stripe", reason="refund",
                                      reference="payment:1", idempotency_key="payment:1:reversal:0")
    assert dict(result.lots) == {paid: 100}
    assert (result.debited, result.shortfall) == (100, 10)
    assert (remaining(paid), remaining(bonus)) == (0, 0)
    wallet.refresh_from_db()
    assert wallet.balance == 30  # the other purchase's 50 minus the 20 the debit took from it
    assert_wallet_consistent(wallet)


def test_partial_refund_revokes_each_purchase_lot_proportionally(wallet):
    pack_purchase(wallet)
    [paid, bonus] = lot_ids(BalanceOperation.objects.get(reference="payment:1"))
    result = services.wallet_clawback(user=wallet.user, amount=55, source="stripe", reason="half refund",
                                      reference="payment:1")
    assert dict(result.lots) == {paid: 50, bonus: 5}
    assert result.shortfall == 0
    assert_wallet_consistent(wallet)


def test_partial_refund_after_spending_passes_the_share_on_and_records_the_shortfall(wallet):
    pack_purchase(wallet)
    [paid, bonus] = lot_ids(BalanceOperation.objects.get(reference="payment:1"))
    debit(wallet, 60)  # the bonus 10 then 50 of the paid lot
    result = services.wallet_clawback(user=wallet.user, amount=55, source="stripe", reason="half refund",
                                      reference="payment:1")
    assert dict(result.lots) == {paid: 50}  # the bonus's share (5) taken from the paid lot, which had it
    assert (result.debited, result.shortfall) == (50, 5)
    assert_wallet_consistent(wallet)


@pytest.mark.parametrize(("lots", "amount", "expected"), [
    ([(1, 100, 100), (2, 10, 10)], 55, [(1, 50), (2, 5)]),
    ([(1, 100, 100), (2, 10, 0)], 55, [(1, 55)]),
    ([(1, 100, 20), (2, 10, 10)], 110, [(1, 20), (2, 10)]),
    ([(1, 3, 3), (2, 3, 3), (3, 3, 3)], 4, [(1, 2), (2, 1), (3, 1)]),
])
def test_revocation_plan(lots, amount, expected):
    assert revocation_plan(lots, amount=amount) == expected


# --- Validity as data, operator input ----------------------------------------------------------------


def test_welcome_grant_is_a_welcome_lot_with_the_validity_setting():
    EnergyValidity.objects.update_or_create(pk=1, defaults={"welcome_validity_days": 14})
    wallet = WalletFactory()
    services.wallet_open(user=wallet.user)
    services.wallet_open(user=wallet.user)  # once
    [lot] = EnergyLot.objects.filter(wallet=wallet)
    assert (lot.category, lot.amount) == ("welcome", services.WELCOME_GRANT_POINTS)
    assert timedelta(days=13) < lot.expires_at - timezone.now() <= timedelta(days=14)


def test_credit_lots_must_add_up_and_be_valid(wallet):
    with pytest.raises(WalletValidationError):
        services.wallet_credit(user=wallet.user, amount=10, source="admin", reason="x",
                               lots=[LotGrant(5, LotCategory.GOODWILL)])
    with pytest.raises(WalletValidationError):
        services.wallet_credit(user=wallet.user, amount=10, source="admin", reason="x",
                               lots=[LotGrant(10, LotCategory.GOODWILL, expires_at=timezone.now() - DAY)])
    with pytest.raises(WalletValidationError):
        services.wallet_credit(user=wallet.user, amount=10, source="admin", reason="x",
                               lots=[LotGrant(10, "legacy")])
    assert not BalanceOperation.objects.filter(wallet=wallet).exists()


# --- Database rules: raw-SQL bypass attempts --------------------------------------------------------


@pytest.fixture
def lot(wallet):
    [lot_id] = lot_ids(grant(wallet, LotGrant(10, LotCategory.PROMOTIONAL)))
    return EnergyLot.objects.get(pk=lot_id)


@pytest.mark.parametrize("statement", [
    "UPDATE wallet_energylot SET remaining = -1 WHERE id = %s",
    "UPDATE wallet_energylot SET remaining = 11 WHERE id = %s",
    "UPDATE wallet_energylot SET reserved = 11 WHERE id = %s",
    "UPDATE wallet_energylot SET reserved = -1 WHERE id = %s",
])
def test_lot_checks_refuse_raw_sql(lot, statement):
    with pytest.raises(IntegrityError), transaction.atomic():
        sql(statement, [lot.pk])


@pytest.mark.parametrize("statement", [
    "UPDATE wallet_energylot SET amount = 1000, remaining = 1000 WHERE id = %s",
    "UPDATE wallet_energylot SET expires_at = now() + interval '10 years' WHERE id = %s",
    "UPDATE wallet_energylot SET category = 'paid' WHERE id = %s",
    "DELETE FROM wallet_energylot WHERE id = %s",
])
def test_a_lots_identity_is_frozen(lot, statement):
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        sql(statement, [lot.pk])


@pytest.mark.parametrize("statement", [
    "UPDATE wallet_lotconsumption SET amount = amount + 1 WHERE lot_id = %s",
    "DELETE FROM wallet_lotconsumption WHERE lot_id = %s",
])
def test_consumption_rows_are_append_only(wallet, lot, statement):
    debit(wallet, 3)
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        sql(statement, [lot.pk])


@pytest.mark.parametrize(("amount", "kind"), [(0, "draw"), (-5, "draw"), (1, "steal")])
def test_consumption_row_checks_refuse_raw_sql(wallet, lot, amount, kind):
    operation = debit(wallet, 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        sql("INSERT INTO wallet_lotconsumption (lot_id, operation_id, kind, amount, created_at) "
            "VALUES (%s, %s, %s, %s, now())", [lot.pk, operation.pk, kind, amount])


def test_lot_expiry_operation_has_its_own_arithmetic_check(wallet, lot):
    operation = debit(wallet, 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        sql("""INSERT INTO wallet_balanceoperation (wallet_id, seq, type, amount, balance_before, balance_after,
               held_before, held_after, source, reason, reference, request_fingerprint, created_at, prev_hash, hash)
               VALUES (%s, 99, 'lot_expiry', 5, 9, 9, 0, 0, 'system', '', '', '', now(), %s, %s)""",
            [wallet.pk, operation.hash, "0" * 64])


# --- Health: lot findings (CRITICAL, never auto-fixed) --------------------------------------------------


def test_health_detects_a_lot_disagreeing_with_its_consumption_rows(wallet, lot):
    debit(wallet, 3)
    # Behind the services' back: the lot gets energy back, and the wallet too (so only the
    # lot's own rows disagree).
    sql("UPDATE wallet_energylot SET remaining = remaining + 2 WHERE id = %s", [lot.pk])
    findings = {f.code: f for f in selectors.wallet_health_findings(wallet_ids=[wallet.pk])}
    assert findings["lot_consumption_mismatch"].severity == "critical"
    assert findings["lot_consumption_mismatch"].detail == {"lots": 1}
    report = services.wallet_health_run()
    assert "lot_consumption_mismatch" in {f.code for f in report.critical}
    assert report.corrections == []  # never auto-fixed
    assert remaining(lot.pk) == 9


def test_health_detects_a_wallet_whose_balance_disagrees_with_its_lots(wallet, lot):
    sql("UPDATE wallet_energylot SET remaining = remaining - 4 WHERE id = %s", [lot.pk])
    codes = {f.code: f.detail for f in selectors.wallet_health_findings(wallet_ids=[wallet.pk])}
    assert codes["lots_balance_mismatch"] == {"balance": 10, "lots_remaining": 6}
    report = services.wallet_health_run()
    assert {"lots_balance_mismatch", "lot_consumption_mismatch"} <= {f.code for f in report.critical}
    assert report.corrections == []


def test_health_detects_consumption_rows_not_adding_up_to_their_operation(wallet, lot):
    operation = debit(wallet, 3)
    [other] = lot_ids(grant(wallet, LotGrant(5, LotCategory.PAID)))
    sql("INSERT INTO wallet_lotconsumption (lot_id, operation_id, kind, amount, created_at) "
        "VALUES (%s, %s, 'draw', 1, now())", [other, operation.pk])
    codes = {f.code for f in selectors.wallet_health_findings(wallet_ids=[wallet.pk])}
    assert "operation_lots_mismatch" in codes


def test_every_kind_of_operation_leaves_a_healthy_wallet(busy_wallet):
    assert_wallet_consistent(busy_wallet)
    assert sum(EnergyLot.objects.filter(wallet=busy_wallet).values_list("remaining", flat=True)) == \
        busy_wallet.balance
    assert sum(EnergyLot.objects.filter(wallet=busy_wallet).values_list("reserved", flat=True)) == busy_wallet.held


def test_insufficient_when_only_expired_lots_remain(wallet):
    now = timezone.now()
    grant(wallet, LotGrant(10, LotCategory.PROMOTIONAL, expires_at=now + DAY))
    with pytest.raises(InsufficientEnergy) as error:
        debit_at_future(wallet, 5, at=now + 2 * DAY)
    assert error.value.available == 0
    assert not BalanceOperation.objects.filter(wallet=wallet, type="debit").exists()
    assert_wallet_consistent(wallet)


_LOT_INSERT = ("INSERT INTO wallet_energylot (wallet_id, category, amount, remaining, reserved, priority, "
               "expires_at, reference, price_cents, created_at) VALUES (%s, {values})")


@pytest.mark.parametrize(("statement", "params"), [
    (_LOT_INSERT.format(values="'paid', 5, 5, 0, 50, now() - interval '1 day', '', 0, now()"), "wallet"),
    (_LOT_INSERT.format(values="'gift', 5, 5, 0, 50, NULL, '', 0, now()"), "wallet"),
    (_LOT_INSERT.format(values="'paid', 0, 0, 0, 50, NULL, '', 0, now()"), "wallet"),
    (_LOT_INSERT.format(values="'paid', 5, 5, 0, 50, NULL, '', -1, now()"), "wallet"),
    ("UPDATE wallet_energypack SET validity_days = 0 WHERE code = 'cafe_luna'", None),
    (("INSERT INTO wallet_energyvalidity (id, welcome_validity_days, bonus_validity_days, updated_at) VALUES "
      "(2, 90, 90, now())"), None),
    ("UPDATE wallet_energyvalidity SET welcome_validity_days = 0", None),
])
def test_the_other_lot_rules_refuse_raw_sql(wallet, statement, params):
    with pytest.raises(IntegrityError), transaction.atomic():
        sql(statement, [wallet.pk] if params else None)


def test_the_data_migration_gives_each_existing_wallet_one_lot_holding_its_balance(wallet):
    migration = import_module("wallet.migrations.0004_lot_rules_opening_lots_schedule")
    sql("UPDATE wallet_wallet SET balance = 120 WHERE id = %s", [wallet.pk])  # a balance from before lots
    migration.opening_lots(django_apps, None)
    migration.opening_lots(django_apps, None)  # nothing more for a wallet that has lots
    [lot] = EnergyLot.objects.filter(wallet=wallet)
    assert (lot.category, lot.amount, lot.remaining, lot.reserved, lot.expires_at) == ("legacy", 120, 120, 0, None)
    assert drawn(debit(wallet, 20)) == [(lot.pk, 20)]


def test_a_hold_expiring_after_its_lot_hands_the_energy_back_and_it_expires_then(wallet):
    now = timezone.now()
    [lot] = lot_ids(grant(wallet, LotGrant(30, LotCategory.WELCOME, expires_at=now + DAY)))
    hold = services.wallet_freeze(user=wallet.user, amount=12, action_code="mirror_match", ttl_seconds=60)
    later = now + 2 * DAY
    assert [e.amount for e in services.wallet_lots_expire(now=later).expired] == [18]
    assert [h.pk for h in services.wallet_holds_expire(now=later).expired] == [hold.pk]
    release = BalanceOperation.objects.get(hold=hold, type="release")
    expiry = BalanceOperation.objects.get(wallet=wallet, seq=release.seq + 1)
    assert (expiry.type, expiry.amount, drawn(expiry)) == (OperationType.LOT_EXPIRY, 12, [(lot, 12)])
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.held, remaining(lot)) == (0, 0, 0)
    assert_wallet_consistent(wallet)
