"""phoenix.core.transactions: service_atomic's savepoints, on a real PostgreSQL transaction."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from phoenix.core.transactions import all_or_nothing, service_atomic

pytestmark = pytest.mark.django_db(transaction=True)


@service_atomic
def _service() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _savepoints_of(block) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        block()
    return [query["sql"] for query in captured.captured_queries if "SAVEPOINT" in query["sql"]]


def test_nested_in_an_all_or_nothing_block_a_service_opens_no_savepoint():
    def block():
        with all_or_nothing():
            _service()
            _service()
    assert _savepoints_of(block) == []


def test_nested_in_a_plain_atomic_a_service_keeps_its_savepoint_so_the_caller_may_go_on():
    def block():
        with transaction.atomic():
            _service()
    assert len(_savepoints_of(block)) == 2  # SAVEPOINT and RELEASE


def _insert_then_fail() -> None:
    with all_or_nothing():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO t_all_or_nothing VALUES (1)")
        _service()
        raise RuntimeError


def test_a_failure_inside_an_all_or_nothing_block_rolls_it_back_whole():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE t_all_or_nothing (n int)")
    with pytest.raises(RuntimeError):
        _insert_then_fail()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM t_all_or_nothing")
        assert cursor.fetchone() == (0,)
