"""Each service, each error, idempotent replay and conflict."""

from datetime import timedelta

import pytest
from django.utils import timezone

from phoenix.accounts.models import User
from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import UserFactory
from phoenix.core.errors import IdempotencyConflict, PhoenixError
from wallet import services
from wallet.errors import (
    AlreadyRefunded,
    HoldExpired,
    HoldNotFound,
    HoldNotPending,
    InsufficientEnergy,
    InvalidAmount,
    OperationNotFound,
    OperationNotRefundable,
    OverrunBeyondCap,
    WalletValidationError,
)
from wallet.models import GENESIS_HASH, BalanceOperation, Hold, HoldStatus, OperationType
from wallet.tests.conftest import assert_wallet_consistent
from wallet.tests.factories import WalletFactory, hold_create

pytestmark = pytest.mark.django_db


def state(wallet):
    wallet.refresh_from_db()
    return wallet.balance, wallet.held, wallet.available


# --- credit / debit ---------------------------------------------------------------------


def test_credit_adds_posted_energy_and_records_the_operation():
    wallet = WalletFactory()
    admin = WalletFactory().user
    op = services.wallet_credit(user=wallet.user, amount=100, source="stripe", reason="pack",
                                reference="evt_1", actor=admin)
    assert state(wallet) == (100, 0, 100)
    assert (op.type, op.amount, op.balance_before, op.balance_after, op.held_before, op.held_after) == (
        OperationType.CREDIT, 100, 0, 100, 0, 0)
    assert (op.seq, op.source, op.reference, op.actor_id) == (1, "stripe", "evt_1", admin.pk)
    assert_wallet_consistent(wallet)


def test_credit_creates_the_wallet_of_a_user_without_one():
    user = UserFactory()
    services.wallet_credit(user=user, amount=5, source="admin", reason="grant")
    assert user.wallet.balance == 5


def test_debit_consumes_available_energy():
    wallet = WalletFactory(balance=50)
    op = services.wallet_debit(user=wallet.user, amount=15, source="api", reason="action",
                               reference="lettre_motivation")
    assert state(wallet) == (35, 0, 35)
    assert (op.type, op.balance_before, op.balance_after) == (OperationType.DEBIT, 50, 35)
    assert_wallet_consistent(wallet)


def test_debit_beyond_available_raises_insufficient_energy_with_figures():
    wallet = WalletFactory(balance=50)
    hold_create(wallet=wallet, amount=30)
    with pytest.raises(InsufficientEnergy) as caught:
        services.wallet_debit(user=wallet.user, amount=21, source="api", reason="action")
    error = caught.value
    assert (error.required, error.available, error.status_code, error.code) == (21, 20, 402, "insufficient_energy")
    assert error.as_dict()["energy_required"] == 21 and error.as_dict()["available"] == 20
    assert state(wallet) == (50, 30, 20)  # nothing written
    assert BalanceOperation.objects.filter(wallet=wallet, type=OperationType.DEBIT).count() == 0


def test_debit_of_exactly_the_available_energy_succeeds():
    wallet = WalletFactory(balance=20)
    services.wallet_debit(user=wallet.user, amount=20, source="api", reason="action")
    assert state(wallet) == (0, 0, 0)


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", True, None, 10**13])
def test_invalid_amounts_are_refused(amount):
    wallet = WalletFactory(balance=50)
    for call in (
        lambda: services.wallet_credit(user=wallet.user, amount=amount, source="api", reason="x"),
        lambda: services.wallet_debit(user=wallet.user, amount=amount, source="api", reason="x"),
        lambda: services.wallet_clawback(user=wallet.user, amount=amount, source="stripe", reason="x"),
        lambda: services.wallet_freeze(user=wallet.user, amount=amount, action_code="a", ttl_seconds=60),
    ):
        with pytest.raises(InvalidAmount) as caught:
            call()
        assert (caught.value.code, caught.value.status_code) == ("invalid_amount", 400)
    assert state(wallet) == (50, 0, 50)


def test_invalid_source_text_and_ttl_are_refused():
    wallet = WalletFactory(balance=50)
    with pytest.raises(WalletValidationError) as caught:
        services.wallet_credit(user=wallet.user, amount=1, source="paypal", reason="x")
    assert "source" in caught.value.as_dict()["fields"]
    with pytest.raises(WalletValidationError):
        services.wallet_debit(user=wallet.user, amount=1, source="api", reason="x" * 256)
    with pytest.raises(WalletValidationError):
        services.wallet_credit(user=wallet.user, amount=1, source="api", reason="x", idempotency_key="")
    for ttl in (0, -1, 86401, 2.5):
        with pytest.raises(WalletValidationError):
            services.wallet_freeze(user=wallet.user, amount=1, action_code="a", ttl_seconds=ttl)
    with pytest.raises(WalletValidationError):
        services.wallet_freeze(user=wallet.user, amount=1, action_code="", ttl_seconds=60)


def test_errors_are_phoenix_errors_with_codes_and_statuses():
    expected = {
        InsufficientEnergy(required=1, available=0): ("insufficient_energy", 402),
        IdempotencyConflict(): ("idempotency_conflict", 409),
        HoldNotFound(): ("hold_not_found", 404),
        HoldNotPending(hold_status="captured"): ("hold_not_pending", 409),
        HoldExpired(): ("hold_expired", 409),
        OperationNotFound(): ("operation_not_found", 404),
        OperationNotRefundable(): ("operation_not_refundable", 409),
        AlreadyRefunded(): ("already_refunded", 409),
        InvalidAmount(): ("invalid_amount", 400),
    }
    for error, (code, status) in expected.items():
        assert isinstance(error, PhoenixError)
        assert (error.code, error.status_code, error.as_dict()["error"]) == (code, status, code)


# --- clawback -------------------------------------------------------------------------------


def test_clawback_takes_all_when_available():
    wallet = WalletFactory(balance=100)
    result = services.wallet_clawback(user=wallet.user, amount=40, source="stripe", reason="refund",
                                      reference="ch_1")
    assert (result.debited, result.shortfall, result.operation.type) == (40, 0, OperationType.DEBIT)
    assert state(wallet) == (60, 0, 60)


def test_clawback_takes_what_is_available_and_reports_the_shortfall():
    wallet = WalletFactory(balance=100)
    hold_create(wallet=wallet, amount=70)
    result = services.wallet_clawback(user=wallet.user, amount=50, source="stripe", reason="dispute")
    assert (result.debited, result.shortfall, result.operation.amount) == (30, 20, 30)
    assert state(wallet) == (70, 70, 0)
    assert_wallet_consistent(wallet)


def test_clawback_with_nothing_available_writes_nothing():
    wallet = WalletFactory(balance=10)
    services.wallet_debit(user=wallet.user, amount=10, source="api", reason="x")
    result = services.wallet_clawback(user=wallet.user, amount=50, source="stripe", reason="dispute")
    assert (result.operation, result.debited, result.shortfall) == (None, 0, 50)
    assert BalanceOperation.objects.filter(wallet=wallet).count() == 2


def test_clawback_replay_returns_the_first_result():
    wallet = WalletFactory(balance=30)
    first = services.wallet_clawback(user=wallet.user, amount=50, source="stripe", reason="r",
                                     idempotency_key="evt_9")
    services.wallet_credit(user=wallet.user, amount=100, source="stripe", reason="pack")
    again = services.wallet_clawback(user=wallet.user, amount=50, source="stripe", reason="r",
                                     idempotency_key="evt_9")
    assert again == first
    assert (again.debited, again.shortfall) == (30, 20)
    assert state(wallet) == (100, 0, 100)


# --- freeze / commit / release ----------------------------------------------------------------


def test_freeze_holds_energy_without_spending_it():
    wallet = WalletFactory(balance=50)
    hold = services.wallet_freeze(user=wallet.user, amount=30, action_code="mirror_match", ttl_seconds=120)
    assert state(wallet) == (50, 30, 20)
    assert (hold.status, hold.amount, hold.action_code) == (HoldStatus.PENDING, 30, "mirror_match")
    assert timedelta(seconds=119) < hold.expires_at - timezone.now() <= timedelta(seconds=120)
    op = hold.operations.get()
    assert (op.type, op.held_before, op.held_after, op.reference) == (OperationType.FREEZE, 0, 30, "mirror_match")
    assert_wallet_consistent(wallet)


def test_freeze_beyond_available_raises_insufficient_energy():
    wallet = WalletFactory(balance=50)
    hold_create(wallet=wallet, amount=40)
    with pytest.raises(InsufficientEnergy) as caught:
        services.wallet_freeze(user=wallet.user, amount=11, action_code="a", ttl_seconds=60)
    assert (caught.value.required, caught.value.available) == (11, 10)
    assert Hold.objects.filter(wallet=wallet).count() == 1


def test_full_commit_spends_the_held_energy():
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=30)
    op = services.wallet_commit(hold_id=hold.pk)
    assert state(wallet) == (20, 0, 20)
    hold.refresh_from_db()
    assert (hold.status, hold.captured_amount, op.type, op.amount) == (HoldStatus.CAPTURED, 30, "commit", 30)
    assert hold.resolved_at is not None
    assert_wallet_consistent(wallet)


def test_partial_commit_spends_part_and_releases_the_rest_in_one_transaction():
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=30)
    op = services.wallet_commit(hold_id=str(hold.pk), amount=12)
    assert state(wallet) == (38, 0, 38)
    assert (op.amount, op.balance_after, op.held_after, op.available_after) == (12, 38, 0, 38)
    types = list(hold.operations.order_by("seq").values_list("type", "amount"))
    assert types == [("freeze", 30), ("release", 18), ("commit", 12)]
    hold.refresh_from_db()
    assert (hold.status, hold.captured_amount) == (HoldStatus.CAPTURED, 12)
    assert_wallet_consistent(wallet)


def test_commit_more_than_held_is_refused_without_an_overrun_cap():
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=30)  # mirror_match: no overrun cap
    with pytest.raises(OverrunBeyondCap):
        services.wallet_commit(hold_id=hold.pk, amount=31)
    hold.refresh_from_db()
    assert hold.status == HoldStatus.PENDING


def test_a_hold_resolves_exactly_once():
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=30)
    services.wallet_commit(hold_id=hold.pk)
    with pytest.raises(HoldNotPending) as caught:
        services.wallet_commit(hold_id=hold.pk)
    assert caught.value.as_dict()["hold_status"] == "captured"
    with pytest.raises(HoldNotPending):
        services.wallet_release(hold_id=hold.pk)
    other = hold_create(wallet=wallet, amount=5)
    services.wallet_release(hold_id=other.pk)
    with pytest.raises(HoldNotPending):
        services.wallet_commit(hold_id=other.pk)
    assert state(wallet) == (20, 0, 20)
    assert_wallet_consistent(wallet)


def test_release_gives_the_held_energy_back():
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=30)
    op = services.wallet_release(hold_id=hold.pk, reason="action failed")
    assert state(wallet) == (50, 0, 50)
    hold.refresh_from_db()
    assert (hold.status, op.type, op.amount, op.reason) == (HoldStatus.RELEASED, "release", 30, "action failed")
    assert_wallet_consistent(wallet)


def test_commit_of_an_expired_hold_is_refused():
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=30, ttl_seconds=60)
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(seconds=1),
                                           created_at=timezone.now() - timedelta(seconds=61))
    with pytest.raises(HoldExpired):
        services.wallet_commit(hold_id=hold.pk)
    services.wallet_release(hold_id=hold.pk)  # an expired pending hold may still be released
    assert state(wallet) == (50, 0, 50)


def test_unknown_or_foreign_hold_is_not_found():
    wallet = WalletFactory(balance=50)
    stranger = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=10)
    for bad_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000", None, 42):
        with pytest.raises(HoldNotFound):
            services.wallet_commit(hold_id=bad_id)
        with pytest.raises(HoldNotFound):
            services.wallet_release(hold_id=bad_id)
    with pytest.raises(HoldNotFound):
        services.wallet_commit(hold_id=hold.pk, user=stranger.user)
    services.wallet_commit(hold_id=hold.pk, user=wallet.user)


# --- refund of a debit --------------------------------------------------------------------------


def test_refund_credits_back_a_debit_once():
    wallet = WalletFactory(balance=50)
    debit = services.wallet_debit(user=wallet.user, amount=15, source="api", reason="a", reference="lettre")
    refund = services.wallet_refund_debit(operation_id=debit.pk, reason="action failed")
    assert state(wallet) == (50, 0, 50)
    assert (refund.type, refund.amount, refund.refund_of_id, refund.reference) == ("credit", 15, debit.pk, "lettre")
    with pytest.raises(AlreadyRefunded):
        services.wallet_refund_debit(operation_id=debit.pk)
    assert state(wallet) == (50, 0, 50)
    assert_wallet_consistent(wallet)


def test_refund_of_a_commit():
    wallet = WalletFactory(balance=50)
    commit = services.wallet_commit(hold_id=hold_create(wallet=wallet, amount=30).pk, amount=20)
    services.wallet_refund_debit(operation_id=commit.pk)
    assert state(wallet) == (50, 0, 50)


def test_refund_refuses_credits_and_unknown_or_foreign_operations():
    wallet = WalletFactory(balance=50)
    stranger = WalletFactory(balance=50)
    credit = wallet.operations.get()
    with pytest.raises(OperationNotRefundable):
        services.wallet_refund_debit(operation_id=credit.pk)
    with pytest.raises(OperationNotFound):
        services.wallet_refund_debit(operation_id=10**9)
    with pytest.raises(OperationNotFound):
        services.wallet_refund_debit(operation_id="1")
    debit = services.wallet_debit(user=wallet.user, amount=5, source="api", reason="a")
    with pytest.raises(OperationNotFound):
        services.wallet_refund_debit(operation_id=debit.pk, user=stranger.user)


# --- idempotency ------------------------------------------------------------------------------------


def test_same_key_same_request_returns_the_first_result_once():
    wallet = WalletFactory(balance=50)
    first = services.wallet_debit(user=wallet.user, amount=10, source="api", reason="a", idempotency_key="k")
    again = services.wallet_debit(user=wallet.user, amount=10, source="api", reason="a", idempotency_key="k")
    assert again.pk == first.pk
    assert state(wallet) == (40, 0, 40)


def test_same_key_different_request_is_a_conflict():
    wallet = WalletFactory(balance=50)
    services.wallet_debit(user=wallet.user, amount=10, source="api", reason="a", idempotency_key="k")
    with pytest.raises(IdempotencyConflict) as caught:
        services.wallet_debit(user=wallet.user, amount=11, source="api", reason="a", idempotency_key="k")
    assert (caught.value.code, caught.value.status_code) == ("idempotency_conflict", 409)
    with pytest.raises(IdempotencyConflict):  # the same key for another kind of operation
        services.wallet_credit(user=wallet.user, amount=10, source="api", reason="a", idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        services.wallet_freeze(user=wallet.user, amount=10, action_code="a", ttl_seconds=60, idempotency_key="k")
    assert state(wallet) == (40, 0, 40)


def test_replay_wins_over_a_rule_that_would_now_fail():
    """A replayed debit returns its first result even if the wallet is empty now."""
    wallet = WalletFactory(balance=10)
    first = services.wallet_debit(user=wallet.user, amount=10, source="api", reason="a", idempotency_key="k")
    assert services.wallet_debit(user=wallet.user, amount=10, source="api", reason="a",
                                 idempotency_key="k").pk == first.pk


def test_keys_are_per_wallet():
    one, two = WalletFactory(balance=50), WalletFactory(balance=50)
    services.wallet_debit(user=one.user, amount=10, source="api", reason="a", idempotency_key="k")
    services.wallet_debit(user=two.user, amount=20, source="api", reason="a", idempotency_key="k")
    assert (state(one)[0], state(two)[0]) == (40, 30)


def test_idempotent_freeze_commit_release_and_refund():
    wallet = WalletFactory(balance=100)
    hold = services.wallet_freeze(user=wallet.user, amount=30, action_code="a", ttl_seconds=60, idempotency_key="f")
    assert services.wallet_freeze(user=wallet.user, amount=30, action_code="a", ttl_seconds=60,
                                  idempotency_key="f").pk == hold.pk
    commit = services.wallet_commit(hold_id=hold.pk, amount=10, idempotency_key="c")
    assert services.wallet_commit(hold_id=hold.pk, amount=10, idempotency_key="c").pk == commit.pk
    with pytest.raises(IdempotencyConflict):
        services.wallet_commit(hold_id=hold.pk, amount=11, idempotency_key="c")
    other = hold_create(wallet=wallet, amount=5)
    release = services.wallet_release(hold_id=other.pk, idempotency_key="r")
    assert services.wallet_release(hold_id=other.pk, idempotency_key="r").pk == release.pk
    refund = services.wallet_refund_debit(operation_id=commit.pk, idempotency_key="rf")
    assert services.wallet_refund_debit(operation_id=commit.pk, idempotency_key="rf").pk == refund.pk
    assert state(wallet) == (100, 0, 100)
    assert_wallet_consistent(wallet)


def test_hash_chain_links_each_operation_to_the_previous_one():
    wallet = WalletFactory(balance=50)
    services.wallet_debit(user=wallet.user, amount=5, source="api", reason="a")
    services.wallet_commit(hold_id=hold_create(wallet=wallet, amount=10).pk, amount=4)
    ops = list(wallet.operations.order_by("seq"))
    assert [op.seq for op in ops] == [1, 2, 3, 4, 5]
    assert ops[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(ops, ops[1:], strict=False))
    assert len({op.hash for op in ops}) == 5
    wallet.refresh_from_db()
    assert (wallet.last_seq, wallet.last_hash) == (5, ops[-1].hash)


# --- Opening on registration (wallet.receivers) ------------------------------------------------------


def test_registration_opens_a_wallet_with_the_welcome_grant(registered_user):
    wallet = registered_user.wallet
    assert (wallet.balance, wallet.held) == (services.WELCOME_GRANT_POINTS, 0) == (85, 0)
    grant = wallet.operations.get()
    assert (grant.type, grant.amount, grant.source, grant.idempotency_key) == ("credit", 85, "system", "welcome-grant")
    services.wallet_open(user=registered_user)  # a second signal would not grant twice
    wallet.refresh_from_db()
    assert wallet.balance == 85


def test_a_failing_wallet_opening_rolls_registration_back(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("wallet down")

    monkeypatch.setattr("wallet.receivers.wallet_open", broken)
    with pytest.raises(RuntimeError):
        user_register(email="rollback@example.com", password="a-Long-test-passphrase-42")
    assert not User.objects.filter(email="rollback@example.com").exists()
