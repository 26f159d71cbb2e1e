"""phoenix.core.transactions.on_commit_once, on a real PostgreSQL transaction."""

import pytest
from django.db import transaction

from phoenix.core.transactions import all_or_nothing, on_commit_once, service_atomic

pytestmark = pytest.mark.django_db(transaction=True)


def _record(calls: list, *, name: str) -> None:
    calls.append(name)


def _queue_then_fail(calls: list) -> None:
    with transaction.atomic():
        on_commit_once(_record, calls=calls, name="ann")
        raise RuntimeError  # this block (a savepoint, or the transaction) and its callback are gone


def test_one_run_per_transaction_however_many_writes_ask():
    calls: list[str] = []

    @service_atomic
    def inner():
        on_commit_once(_record, calls=calls, name="ann")

    with all_or_nothing():
        inner()  # a nested service: no savepoint, the same transaction
        on_commit_once(_record, calls=calls, name="ann")
        on_commit_once(_record, calls=calls, name="bob")
        assert calls == []
    assert calls == ["ann", "bob"]


def test_a_call_queued_in_a_rolled_back_savepoint_is_queued_again():
    calls: list[str] = []
    with transaction.atomic():
        with pytest.raises(RuntimeError):
            _queue_then_fail(calls)
        on_commit_once(_record, calls=calls, name="ann")
    assert calls == ["ann"]


def test_a_rolled_back_transaction_runs_nothing_and_outside_one_it_runs_at_once():
    calls: list[str] = []
    with pytest.raises(RuntimeError):
        _queue_then_fail(calls)
    assert calls == []
    on_commit_once(_record, calls=calls, name="ann")
    assert calls == ["ann"]
