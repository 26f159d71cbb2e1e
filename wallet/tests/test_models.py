"""The database enforces the ledger rules on its own: raw SQL that bypasses the services
is refused by each CHECK, the unique keys and the append-only trigger. The column lists of
the raw SQL (wallet.services.sql) match the live tables."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from wallet import services
from wallet.hashing import operation_hash, operation_hash_sql
from wallet.models import BalanceOperation, EnergyAction, EnergyPack, Hold, Incident, UsageEvent, Wallet
from wallet.services.sql import OPERATION_INSERT_EXCLUDE, columns, insert_sql
from wallet.tests.factories import WalletFactory, hold_create

pytestmark = pytest.mark.django_db


def refused(sql: str, params=None, *, constraint: str | None = None, error=IntegrityError) -> None:
    """The statement fails (inside a savepoint, so the test can go on), naming `constraint`."""
    with pytest.raises(error) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    if constraint:
        assert constraint in str(caught.value)


def accepted(sql: str, params=None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        transaction.set_rollback(True)  # proves the statement passes, keeps the data clean


# --- the raw SQL's column lists ------------------------------------------------------------


@pytest.mark.parametrize("model", [Wallet, Hold, BalanceOperation, Incident, UsageEvent])
def test_the_derived_column_lists_match_the_live_tables(model):
    with connection.cursor() as cursor:
        cursor.execute("SELECT column_name FROM information_schema.columns "
                       "WHERE table_schema = current_schema() AND table_name = %s", [model._meta.db_table])
        live = {row[0] for row in cursor.fetchall()}
    derived = columns(model)
    assert len(derived) == len(set(derived))
    assert set(derived) == live


def test_the_operation_insert_names_every_column_but_the_id():
    assert set(INSERT_COLUMNS) == set(columns(BalanceOperation)) - {"id"}
    assert insert_sql(BalanceOperation, exclude=OPERATION_INSERT_EXCLUDE, returning="id").startswith(
        f"INSERT INTO wallet_balanceoperation ({', '.join(INSERT_COLUMNS)}) VALUES (%s")


# --- wallet ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "constraint"),
    [
        ("balance = -1, held = 0", "wallet_balance_gte_0"),
        ("held = -1", "wallet_held_gte_0"),
        ("held = balance + 1", "wallet_held_lte_balance"),
    ],
)
def test_wallet_checks(assignment, constraint):
    wallet = WalletFactory(balance=10)
    refused(f"UPDATE wallet_wallet SET {assignment} WHERE id = %s", [wallet.pk], constraint=constraint)
    accepted("UPDATE wallet_wallet SET held = balance WHERE id = %s", [wallet.pk])


def test_one_wallet_per_user():
    wallet = WalletFactory()
    now = timezone.now()
    refused(insert_sql(Wallet, exclude=("id",)), [wallet.user_id, 0, 0, 0, "0" * 64, now, now], constraint="user_id")


# --- holds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "constraint"),
    [
        ("amount = 0", "hold_amount_gt_0"),
        ("status = 'lost', resolved_at = now()", "hold_status_valid"),
        ("status = NULL", "status"),
        ("source = 'fax'", "hold_source_valid"),
        ("status = 'captured', resolved_at = now()", "hold_captured_amount_iff_captured"),
        ("captured_amount = 5", "hold_captured_amount_iff_captured"),
        ("status = 'captured', captured_amount = 31, resolved_at = now()", "hold_captured_amount_range"),
        ("status = 'captured', captured_amount = 0, resolved_at = now()", "hold_captured_amount_range"),
        ("status = 'released'", "hold_resolved_at_iff_resolved"),
        ("resolved_at = now()", "hold_resolved_at_iff_resolved"),
        ("expires_at = created_at", "hold_expires_after_creation"),
    ],
)
def test_hold_checks(assignment, constraint):
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=30)
    refused(f"UPDATE wallet_hold SET {assignment} WHERE id = %s", [hold.pk], constraint=constraint)
    accepted("UPDATE wallet_hold SET status = 'captured', captured_amount = 30, resolved_at = now() "
             "WHERE id = %s", [hold.pk])


# --- operations ---------------------------------------------------------------------------------

INSERT_COLUMNS = columns(BalanceOperation, exclude=OPERATION_INSERT_EXCLUDE)


def insert_operation(**row) -> None:
    columns = ", ".join(row)
    placeholders = ", ".join(["%s"] * len(row))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO wallet_balanceoperation ({columns}) VALUES ({placeholders})", list(row.values()))


def valid_row(wallet, **overrides) -> dict:
    """A well-formed next credit of 5 for `wallet`, with its correct hash."""
    wallet.refresh_from_db()
    row = {
        "wallet_id": wallet.pk, "seq": wallet.last_seq + 1, "type": "credit", "amount": 5,
        "balance_before": wallet.balance, "balance_after": wallet.balance + 5,
        "held_before": wallet.held, "held_after": wallet.held, "hold_id": None, "refund_of_id": None,
        "source": "admin", "reason": "raw", "reference": "", "actor_id": None, "idempotency_key": None,
        "request_fingerprint": "", "created_at": timezone.now(), "prev_hash": wallet.last_hash,
    }
    row.update(overrides)
    row["hash"] = overrides.get("hash") or operation_hash(
        **{k: row[k] for k in INSERT_COLUMNS if k not in ("request_fingerprint", "hash")})
    return row


def refused_insert(row: dict, constraint: str) -> None:
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        insert_operation(**row)
    assert constraint in str(caught.value)


def test_a_valid_raw_row_is_accepted_so_the_refusals_below_mean_something():
    wallet = WalletFactory(balance=50)
    with transaction.atomic():
        insert_operation(**valid_row(wallet))
        transaction.set_rollback(True)


@pytest.mark.parametrize(
    ("op_type", "balance_delta", "held_delta"),
    [
        ("credit", +5, 0), ("debit", -5, 0), ("freeze", 0, +5), ("commit", -5, -5), ("release", 0, -5),
        ("held_correction_up", 0, +5), ("held_correction_down", 0, -5),
    ],
)
def test_each_type_has_its_arithmetic_check(op_type, balance_delta, held_delta):
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=20)  # held 20, so every type has room
    wallet.refresh_from_db()
    base = {"type": op_type, "hold_id": hold.pk, "balance_after": wallet.balance + balance_delta,
                "held_after": wallet.held + held_delta}
    with transaction.atomic():  # the exact arithmetic passes every check
        insert_operation(**valid_row(wallet, **base))
        transaction.set_rollback(True)
    constraint = f"walletop_{op_type}_arithmetic"
    refused_insert(valid_row(wallet, **{**base, "balance_after": base["balance_after"] + 1}), constraint)
    refused_insert(valid_row(wallet, **{**base, "held_after": base["held_after"] - 1}), constraint)


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"amount": 0, "balance_after": 50}, "walletop_amount_gt_0"),
        ({"amount": -5, "balance_after": 45}, "walletop_amount_gt_0"),
        ({"type": "gift"}, "walletop_type_valid"),
        ({"source": "fax"}, "walletop_source_valid"),
        ({"source": None}, "source"),
        ({"seq": 0}, "walletop_seq_gte_1"),
        ({"type": "freeze", "balance_after": 50, "held_after": 5}, "walletop_hold_types_have_hold"),
        ({"type": "debit", "balance_before": 3, "balance_after": -2, "held_before": 0, "held_after": 0},
         "walletop_after_state_valid"),
        ({"hash": "not-a-sha256"}, "walletop_hashes_are_sha256_hex"),
    ],
)
def test_operation_checks(overrides, constraint):
    wallet = WalletFactory(balance=50)  # so the base row is a credit 50 -> 55, held 0
    refused_insert({**valid_row(wallet), **overrides}, constraint)


def test_refund_of_must_be_a_credit_and_is_unique():
    wallet = WalletFactory(balance=50)
    debit = services.wallet_debit(user=wallet.user, amount=5, source="api", reason="a")
    refused_insert(valid_row(wallet, type="debit", balance_after=40, refund_of_id=debit.pk),
                   "walletop_refund_is_credit")
    services.wallet_refund_debit(operation_id=debit.pk)
    refused_insert(valid_row(wallet, refund_of_id=debit.pk), "refund_of_id")


def test_unique_idempotency_key_and_seq_per_wallet():
    wallet = WalletFactory(balance=50)
    services.wallet_debit(user=wallet.user, amount=5, source="api", reason="a", idempotency_key="k")
    refused_insert(valid_row(wallet, idempotency_key="k"), "walletop_unique_wallet_idempotency_key")
    refused_insert(valid_row(wallet, seq=1), "walletop_unique_wallet_seq")
    other = WalletFactory(balance=50)
    with transaction.atomic():  # the same key on another wallet is fine
        insert_operation(**valid_row(other, idempotency_key="k"))
        transaction.set_rollback(True)


def test_operations_cannot_be_updated_or_deleted():
    wallet = WalletFactory(balance=50)
    op = wallet.operations.get()
    refused("UPDATE wallet_balanceoperation SET reason = 'edited' WHERE id = %s", [op.pk],
            constraint="append-only", error=DatabaseError)
    refused("UPDATE wallet_balanceoperation SET amount = amount WHERE id = %s", [op.pk],
            constraint="append-only", error=DatabaseError)
    refused("DELETE FROM wallet_balanceoperation WHERE id = %s", [op.pk], constraint="append-only",
            error=DatabaseError)
    with pytest.raises(DatabaseError), transaction.atomic():
        BalanceOperation.objects.filter(pk=op.pk).update(reason="orm edit")
    with pytest.raises(DatabaseError), transaction.atomic():
        op.delete()
    op.refresh_from_db()
    assert op.reason == "test funding"


def test_the_python_and_sql_hash_definitions_agree():
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=10)
    services.wallet_commit(hold_id=hold.pk, amount=3, idempotency_key="ключ|with\x1fodd chars")
    services.wallet_credit(user=wallet.user, amount=1, source="admin", reason="naïve | reason", reference="r:1",
                           actor=wallet.user)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT hash, {operation_hash_sql('o')} FROM wallet_balanceoperation o WHERE wallet_id = %s",
                       [wallet.pk])
        rows = cursor.fetchall()
    assert len(rows) == 5
    assert all(stored == recomputed for stored, recomputed in rows)


# --- catalogues ------------------------------------------------------------------------------------


def test_catalogues_are_seeded_with_the_design_values():
    costs = dict(EnergyAction.objects.values_list("code", "cost"))
    assert len(costs) == 19
    assert costs["conseil_rapide"] == 5 and costs["plan_reconversion"] == 50
    assert costs["luna_conversation"] == 0 and costs["verification_format"] == 3
    packs = {p.code: p for p in EnergyPack.objects.all()}
    assert set(packs) == {"cafe_luna", "petit_dej_luna", "repas_luna", "luna_unlimited"}
    cafe = packs["cafe_luna"]
    assert (cafe.price_cents, cafe.currency, cafe.energy_points, cafe.first_purchase_bonus_percent) == (
        299, "EUR", 100, 10)
    assert (packs["petit_dej_luna"].badge, packs["repas_luna"].badge) == ("popular", "best_deal")
    assert packs["luna_unlimited"].is_unlimited and packs["luna_unlimited"].price_cents == 2999


def test_catalogue_checks():
    refused("UPDATE wallet_energyaction SET cost = -1 WHERE code = 'conseil_rapide'", error=IntegrityError)
    refused("UPDATE wallet_energypack SET energy_points = 0 WHERE code = 'cafe_luna'",
            constraint="energypack_points_unless_unlimited")
    refused("UPDATE wallet_energypack SET currency = 'eur' WHERE code = 'cafe_luna'",
            constraint="energypack_currency_iso")
    refused("UPDATE wallet_energypack SET price_cents = 0 WHERE code = 'cafe_luna'",
            constraint="energypack_price_gt_0")


def test_hold_rows_expire_after_creation_even_when_created_directly():
    wallet = WalletFactory(balance=5)
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        Hold.objects.create(wallet=wallet, amount=1, action_code="a", created_at=now,
                            expires_at=now - timedelta(seconds=1))


def test_the_rollup_cursor_is_one_row_with_an_id_not_below_zero():
    insert = ("INSERT INTO wallet_operationrollupcursor (id, last_operation_id, rolled_through, refreshed_at) "
              "VALUES (%s, %s, now(), now())")
    refused(insert, [1, -1], constraint="rollup_cursor_id_not_negative")
    refused(insert, [2, 0], constraint="rollup_cursor_single_row")
    accepted(insert, [1, 0])
