"""An operator suspends or reactivates a pro account (back office), consistent with §5:
the same effect as a failed renewal / a paid one, refused from other states."""

from datetime import UTC, datetime, timedelta

import pytest

from licenses import services
from licenses.models import LicenseEvent, LicenseStatus, ProAccountStatus
from licenses.tests.factories import linked_collaborator, pro_account
from phoenix.accounts.tests.factories import UserFactory
from subscriptions.models import Access, AccessType
from subscriptions.selectors import check_premium_access

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def operator_user():
    return UserFactory(is_staff=True)


@pytest.fixture
def seated():
    """Active account: 2 monthly seats (one held by a collaborator), 1 lifetime seat held by the owner."""
    account = pro_account(now=T0 - HOUR)
    monthly = services.license_purchase(pro_account=account, kind="monthly", quantity=2, event_time=T0).licenses
    lifetime = services.license_purchase(pro_account=account, kind="lifetime", quantity=1, event_time=T0).licenses
    collaborator = linked_collaborator(account, now=T0)
    services.license_assign(license=monthly[0], collaborator=collaborator, now=T0)
    services.license_assign(license=lifetime[0], collaborator=account.owner, now=T0)
    account.refresh_from_db()
    return account, collaborator


def _statuses(account) -> dict[str, str]:
    return {f"{lic.kind}:{lic.assignee_id is not None}": lic.status for lic in account.licenses.all()}


def test_suspend_suspends_monthly_seats_and_keeps_lifetime(seated, operator_user):
    account, collaborator = seated
    services.pro_account_suspend(pro_account=account, actor=operator_user, reason="chargeback", now=T0 + HOUR)
    account.refresh_from_db()
    assert account.status == ProAccountStatus.SUSPENDED
    assert _statuses(account) == {"monthly:True": "suspended", "monthly:False": "suspended", "lifetime:True": "active"}
    assert not check_premium_access(collaborator, now=T0 + HOUR)  # a suspended seat gives no access
    assert check_premium_access(account.owner, now=T0 + HOUR)  # the lifetime seat is paid for good
    event = LicenseEvent.objects.get(kind="account_suspended")
    assert (event.actor, event.from_status, event.to_status, event.detail) == (
        operator_user, "active", "suspended", {"reason": "chargeback"})
    assert LicenseEvent.objects.filter(kind="license_suspended", actor=operator_user).count() == 2


def test_reactivate_restores_seats_and_access(seated, operator_user):
    account, collaborator = seated
    services.pro_account_suspend(pro_account=account, actor=operator_user, reason="x", now=T0 + HOUR)
    services.pro_account_reactivate(pro_account=account, actor=operator_user, reason="paid", now=T0 + 2 * HOUR)
    account.refresh_from_db()
    assert account.status == ProAccountStatus.ACTIVE
    assert _statuses(account) == {"monthly:True": "active", "monthly:False": "available", "lifetime:True": "active"}
    assert Access.objects.get(user=collaborator).type == AccessType.LICENSED
    assert check_premium_access(collaborator, now=T0 + 2 * HOUR)
    assert LicenseEvent.objects.filter(kind="account_reactivated").count() == 1


def test_reactivate_lifts_a_failed_renewal_suspension_too(seated, operator_user):
    account, collaborator = seated
    services.pro_renewal_failed(pro_account=account, event_time=T0 + HOUR, reference="in_1")
    services.pro_account_reactivate(pro_account=account, actor=operator_user, reason="settled", now=T0 + 2 * HOUR)
    account.refresh_from_db()
    assert account.status == ProAccountStatus.ACTIVE
    assert not account.licenses.filter(status=LicenseStatus.SUSPENDED).exists()


@pytest.mark.parametrize("status", [ProAccountStatus.TRIAL, ProAccountStatus.EXPIRED, ProAccountStatus.SUSPENDED])
def test_only_an_active_account_can_be_suspended(operator_user, status):
    account = pro_account(now=T0)
    account.status = status
    account.save()
    with pytest.raises(services.ProAccountNotSuspendable):
        services.pro_account_suspend(pro_account=account, actor=operator_user, reason="x")
    account.refresh_from_db()
    assert account.status == status and not LicenseEvent.objects.filter(kind="account_suspended").exists()


def test_only_a_suspended_account_can_be_reactivated(seated, operator_user):
    account, _ = seated
    with pytest.raises(services.ProAccountNotSuspended):
        services.pro_account_reactivate(pro_account=account, actor=operator_user, reason="x")
    assert not LicenseEvent.objects.filter(kind="account_reactivated").exists()
