"""phoenix.core.jobs.advisory_lock: a transaction lock on a connection of its own, held for the
whole job while the job commits its steps on the usual connection (README "Scaling out")."""

import threading

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from phoenix.core.jobs import advisory_lock, advisory_lock_key
from phoenix.core.models import JobRun, JobRunOutcome
from phoenix.core.services import job_run_record


def _other_session():
    return psycopg.connect(**connection.get_connection_params(), autocommit=True)


def _held(name: str) -> bool:
    """Whether some session holds the advisory lock of ``name`` right now (a bigint key is
    shown in pg_locks as its high and low 32 bits)."""
    key = advisory_lock_key(name)
    with _other_session() as other:
        return other.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
            [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF]).fetchone()[0] == 1


@pytest.mark.django_db(transaction=True)
def test_the_lock_covers_the_job_whose_steps_commit_on_their_own():
    with advisory_lock("tests.job") as acquired:
        assert acquired and _held("tests.job")
        with transaction.atomic():  # a job step, committed while the lock is held
            job_run_record(job="tests.job", started_at=timezone.now(), outcome=JobRunOutcome.OK, summary={})
        with _other_session() as other:  # the step is visible to every node before the job ends
            assert other.execute("SELECT count(*) FROM core_jobrun WHERE job = 'tests.job'").fetchone()[0] == 1
        # Another run, on another connection (another node), is refused meanwhile.
        refused: list[bool] = []
        thread = threading.Thread(target=lambda: refused.append(_try("tests.job")))
        thread.start()
        thread.join(timeout=60)
        assert refused == [False]
    assert not _held("tests.job")  # released at the end of the block
    assert _try("tests.job") is True
    assert JobRun.objects.filter(job="tests.job").count() == 1


def _try(name: str) -> bool:
    try:
        with advisory_lock(name) as acquired:
            return acquired
    finally:
        connection.close()  # a thread's own Django connection


@pytest.mark.django_db(transaction=True)
def test_a_session_lock_elsewhere_is_respected():
    key = advisory_lock_key("tests.job")
    with _other_session() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [key])
        with advisory_lock("tests.job") as acquired:
            assert not acquired
        other.execute("SELECT pg_advisory_unlock(%s)", [key])
    with advisory_lock("tests.job") as acquired:
        assert acquired
