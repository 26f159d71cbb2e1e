"""The database refuses invalid pro accounts and licenses on raw SQL, whatever the code does."""


import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.db.utils import DatabaseError

from licenses import services
from licenses.models import License, LicenseEvent, ProAccount
from licenses.tests.factories import T0, pro_account, trial_user

pytestmark = pytest.mark.django_db



def _sql(statement: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def account() -> ProAccount:
    return pro_account(now=T0)


@pytest.fixture
def lic(account) -> License:
    return License.objects.create(pro_account=account, kind="monthly")


def test_license_defaults_to_available(account):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO licenses_license (public_id, pro_account_id, kind, is_owner_license, "
                       "created_at, updated_at) VALUES (gen_random_uuid(), %s, 'monthly', false, now(), now()) "
                       "RETURNING status", [account.pk])
        assert cursor.fetchone()[0] == "available"


@pytest.mark.parametrize("assignment", [
    "status = 'pending'",
    "kind = 'yearly'",
    "status = 'active'",                                   # active without assignee
    "status = 'unlinked', effective_at = now()",           # unlinked without assignee
    "status = 'canceled'",                                 # ending without effective date
    "effective_at = now()",                                # effective date on an available seat
    "is_owner_license = true",                             # owner seat without assignee
])
def test_invalid_license_rows_are_refused(lic, assignment):
    with pytest.raises(IntegrityError):
        _sql(f"UPDATE licenses_license SET {assignment} WHERE id = %s", [lic.pk])


def test_available_license_cannot_have_an_assignee(lic):
    user = trial_user(now=T0)
    with pytest.raises(IntegrityError):
        _sql("UPDATE licenses_license SET assignee_id = %s WHERE id = %s", [user.pk, lic.pk])


def test_lifetime_license_cannot_be_suspended(account):
    lifetime = License.objects.create(pro_account=account, kind="lifetime")
    with pytest.raises(IntegrityError):
        _sql("UPDATE licenses_license SET status = 'suspended' WHERE id = %s", [lifetime.pk])


def test_a_user_holds_at_most_one_license(account, lic):
    user = trial_user(now=T0)
    other = License.objects.create(pro_account=account, kind="lifetime")
    _sql("UPDATE licenses_license SET status = 'active', assignee_id = %s WHERE id = %s", [user.pk, lic.pk])
    with pytest.raises(IntegrityError):
        _sql("UPDATE licenses_license SET status = 'active', assignee_id = %s WHERE id = %s", [user.pk, other.pk])


@pytest.mark.parametrize("assignment", [
    "status = 'closed'",
    "billing_anchor_day = 0, next_billing_at = now()",
    "billing_anchor_day = 32, next_billing_at = now()",
    "billing_anchor_day = 15",                             # anchor without the grouped date
])
def test_invalid_pro_accounts_are_refused(account, assignment):
    with pytest.raises(IntegrityError):
        _sql(f"UPDATE licenses_proaccount SET {assignment} WHERE id = %s", [account.pk])


def test_one_pro_account_per_owner_and_one_membership_per_link(account):
    with pytest.raises(IntegrityError):
        _sql("INSERT INTO licenses_proaccount (public_id, owner_id, status, trial_ends_at, "
             "stripe_subscription_id, created_at, updated_at) "
             "VALUES (gen_random_uuid(), %s, 'trial', now(), '', now(), now())", [account.owner_id])
    user = trial_user(now=T0)
    services.collaborator_link(pro_account=account, collaborator=user, now=T0)
    with pytest.raises(IntegrityError):
        _sql("INSERT INTO licenses_membership (pro_account_id, collaborator_id, created_at) "
             "VALUES (%s, %s, now())", [account.pk, user.pk])


@pytest.mark.parametrize("statement", [
    "UPDATE licenses_licenseevent SET kind = 'forged' WHERE pro_account_id = %s",
    "DELETE FROM licenses_licenseevent WHERE pro_account_id = %s",
])
def test_license_events_are_append_only(account, statement):
    with pytest.raises((InternalError, DatabaseError)) as exc:
        _sql(statement, [account.pk])
    assert "append-only" in str(exc.value)
    assert LicenseEvent.objects.filter(pro_account=account).count() == 1
