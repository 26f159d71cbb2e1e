"""The database itself refuses invalid access states and audit tampering (raw SQL)."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.db.utils import DatabaseError

from subscriptions.models import Access
from subscriptions.tests.factories import trial_access

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 1, 10, tzinfo=UTC)


def _sql(statement: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def access():
    return trial_access(now=T0)


@pytest.mark.parametrize("assignment", [
    "type = 'FREE'",
    "type = 'TRIAL', trial_ends_at = NULL",
    "type = 'PREMIUM', current_period_end = NULL",
    "type = 'EXPIRED', cancel_at_period_end = true",
    "type = 'LICENSED', license_status = 'none'",
    "license_status = 'pending'",
])
def test_invalid_access_states_are_refused(access, assignment):
    with pytest.raises(IntegrityError):
        _sql(f"UPDATE subscriptions_access SET {assignment} WHERE id = %s", [access.pk])


def test_one_access_per_user(access):
    with pytest.raises(IntegrityError):
        _sql("INSERT INTO subscriptions_access (user_id, type, trial_ends_at, cancel_at_period_end, "
             "stripe_subscription_id, license_status, created_at, updated_at) "
             "VALUES (%s, 'EXPIRED', NULL, false, '', 'none', now(), now())", [access.user_id])


@pytest.mark.parametrize("statement", [
    "UPDATE subscriptions_accessevent SET kind = 'forged' WHERE access_id = %s",
    "DELETE FROM subscriptions_accessevent WHERE access_id = %s",
])
def test_access_events_are_append_only(access, statement):
    with pytest.raises((InternalError, DatabaseError)) as exc:
        _sql(statement, [access.pk])
    assert "append-only" in str(exc.value)
    assert access.events.count() == 1


def test_valid_states_are_accepted(access):
    _sql("UPDATE subscriptions_access SET type = 'PREMIUM', current_period_end = now(), "
         "cancel_at_period_end = true WHERE id = %s", [access.pk])
    assert Access.objects.get(pk=access.pk).cancel_at_period_end
