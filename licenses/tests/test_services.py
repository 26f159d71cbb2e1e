"""The license rules, one test per rule, with an explicit clock.

The account below buys its first monthly seats on 2027-01-31 10:00 UTC: anchor day 31,
grouped billing dates 2027-02-28, 2027-03-31, 2027-04-30, ...
"""

from datetime import UTC, datetime, timedelta

import pytest

from licenses import errors, services
from licenses.models import (
    License,
    LicenseEvent,
    LicenseKind,
    LicenseStatus,
    PendingAssignment,
    ProAccount,
    ProAccountStatus,
)
from licenses.selectors import collaborators_for, license_pool, license_purchase_quote
from licenses.signals import license_assignment_pending
from licenses.tests.factories import T0, linked_collaborator, pro_account, trial_user
from phoenix.accounts.tests.factories import UserFactory
from subscriptions import errors as access_errors
from subscriptions import services as access_services
from subscriptions.models import Access, AccessType
from subscriptions.selectors import check_premium_access, has_unlimited_energy

pytestmark = pytest.mark.django_db

FEB28 = datetime(2027, 2, 28, tzinfo=UTC)
MAR31 = datetime(2027, 3, 31, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)


def _type(user) -> str:
    return Access.objects.get(user=user).type


def _buy(account, kind, quantity=1, *, at=T0, reference=""):
    return services.license_purchase(pro_account=account, kind=kind, quantity=quantity, event_time=at,
                                     reference=reference)


@pytest.fixture
def account():
    account = pro_account(now=T0 - 2 * DAY)
    _buy(account, LicenseKind.MONTHLY, 2)
    _buy(account, LicenseKind.LIFETIME, 1)
    account.refresh_from_db()
    return account


def _free(account, kind) -> License:
    return License.objects.filter(pro_account=account, kind=kind, status=LicenseStatus.AVAILABLE).order_by("id").first()


def _assigned(account, kind, *, now=T0):
    user = linked_collaborator(account, now=now)
    lic = _free(account, kind)
    result = services.license_assign(license=lic, collaborator=user, now=now)
    assert result.outcome == "assigned"
    return user, License.objects.get(pk=lic.pk)


# --- pro account -------------------------------------------------------------------


def test_pro_account_opens_with_a_seven_day_trial_and_expires_without_purchase():
    account = pro_account(now=T0)
    assert (account.status, account.trial_ends_at) == ("trial", T0 + 7 * DAY)
    with pytest.raises(errors.ProAccountExists):
        services.pro_account_open(owner=account.owner, now=T0)
    assert services.pro_trial_expiry_run(now=T0 + 7 * DAY - SECOND).steps == []
    steps = services.pro_trial_expiry_run(now=T0 + 7 * DAY).steps
    assert [s.action for s in steps] == ["expire_trial"]
    account.refresh_from_db()
    assert account.status == "expired"
    assert services.pro_trial_expiry_run(now=T0 + 8 * DAY).steps == []


def test_a_purchase_during_the_trial_activates_the_account_and_stops_the_expiry():
    account = pro_account(now=T0)
    _buy(account, LicenseKind.LIFETIME, at=T0 + DAY)
    account.refresh_from_db()
    assert account.status == "active" and account.billing_anchor_day is None  # lifetime sets no anchor
    assert services.pro_trial_expiry_run(now=T0 + 8 * DAY).steps == []


def test_an_expired_account_becomes_active_by_purchase():
    account = pro_account(now=T0)
    services.pro_trial_expiry_run(now=T0 + 8 * DAY)
    _buy(account, LicenseKind.MONTHLY, at=T0 + 9 * DAY)
    account.refresh_from_db()
    assert account.status == "active"


# --- collaborators -----------------------------------------------------------------


def test_during_the_trial_the_pro_links_collaborators_and_sees_activity_only_with_premium():
    account = pro_account(now=T0)
    trialing = linked_collaborator(account, now=T0)
    expired = linked_collaborator(account, now=T0 - 30 * DAY)  # their trial ended long ago
    rows = {row["user"].pk: row for row in collaborators_for(pro_account=account, now=T0)}
    assert rows[trialing.pk]["user"].email == trialing.email  # profile always
    assert rows[trialing.pk]["activity_visible"] is True
    assert rows[trialing.pk]["activity_url"] == f"/pro/collaborators/{trialing.public_id}/activity"
    assert rows[expired.pk]["user"].email == expired.email
    assert rows[expired.pk]["activity_visible"] is False and rows[expired.pk]["activity_url"] is None


def test_link_refusals():
    account = pro_account(now=T0)
    user = linked_collaborator(account, now=T0)
    with pytest.raises(errors.AlreadyLinked):
        services.collaborator_link(pro_account=account, collaborator=user, now=T0)
    with pytest.raises(errors.CannotLinkOwner):
        services.collaborator_link(pro_account=account, collaborator=account.owner, now=T0)


# --- purchase ------------------------------------------------------------------------


def test_first_monthly_purchase_sets_the_anchor_day_and_the_grouped_date(account):
    assert account.billing_anchor_day == 31
    assert account.next_billing_at == FEB28  # 31 -> February 28
    assert account.status == "active"


def test_later_monthly_purchase_is_prorated_until_the_grouped_date(account):
    # Cycle 2027-01-31 .. 2027-02-28 (28 days); bought 2027-02-14 00:00: 14 days left.
    result = _buy(account, LicenseKind.MONTHLY, 3, at=datetime(2027, 2, 14, tzinfo=UTC))
    quote = result.quote
    assert quote.billed == "next_grouped_date" and quote.next_billing_at == FEB28
    assert quote.prorated_unit_cents == (2999 * 14 * 2 + 28) // (2 * 28) == 1500  # half of 29.99, rounded half up
    assert quote.amount_cents == 3 * 1500
    account.refresh_from_db()
    assert account.billing_anchor_day == 31  # unchanged by later purchases
    assert License.objects.filter(pro_account=account, kind="monthly").count() == 5


def test_lifetime_purchase_is_paid_at_once(account):
    quote = license_purchase_quote(pro_account=account, kind=LicenseKind.LIFETIME, quantity=2, now=T0)
    assert quote.billed == "now" and quote.amount_cents == 2 * quote.unit_price_cents


def test_purchase_is_idempotent_by_reference(account):
    first = _buy(account, LicenseKind.MONTHLY, 2, reference="cs_123")
    again = _buy(account, LicenseKind.MONTHLY, 2, reference="cs_123")
    assert first.applied and not again.applied and again.reason == "duplicate"
    assert License.objects.filter(pro_account=account, kind="monthly").count() == 4


def test_anchor_day_in_april_falls_on_the_30th():
    account = pro_account(now=T0)
    _buy(account, LicenseKind.MONTHLY, at=datetime(2027, 3, 31, 12, tzinfo=UTC))
    account.refresh_from_db()
    assert (account.billing_anchor_day, account.next_billing_at) == (31, datetime(2027, 4, 30, tzinfo=UTC))
    steps = services.grouped_billing_run(now=datetime(2027, 4, 30, 0, 30, tzinfo=UTC)).steps
    assert [s.action for s in steps] == ["advance_grouped_date"]
    account.refresh_from_db()
    assert account.next_billing_at == datetime(2027, 5, 31, tzinfo=UTC)


def test_anchor_day_31_in_a_leap_february():
    account = pro_account(now=T0)
    _buy(account, LicenseKind.MONTHLY, at=datetime(2028, 1, 31, 12, tzinfo=UTC))
    account.refresh_from_db()
    assert account.next_billing_at == datetime(2028, 2, 29, tzinfo=UTC)


# --- assignment ----------------------------------------------------------------------


def test_trial_and_expired_collaborators_become_licensed(account):
    trialing, lic = _assigned(account, LicenseKind.MONTHLY)
    assert lic.status == "active" and lic.assignee == trialing and not lic.is_owner_license
    assert _type(trialing) == AccessType.LICENSED
    assert has_unlimited_energy(trialing, now=T0)

    expired = linked_collaborator(account, now=T0 - 30 * DAY)
    access_services.access_expire_due(now=T0)
    assert _type(expired) == AccessType.EXPIRED
    services.license_assign(license=_free(account, "monthly"), collaborator=expired, now=T0)
    assert _type(expired) == AccessType.LICENSED
    assert LicenseEvent.objects.filter(pro_account=account, kind="license_assigned").count() == 2


def test_owner_can_take_a_seat(account):
    result = services.license_assign(license=_free(account, "lifetime"), collaborator=account.owner, now=T0)
    assert result.license.is_owner_license


def test_assignment_refusals(account):
    lifetime_user = linked_collaborator(account, now=T0)
    access_services.access_grant_lifetime(user=lifetime_user, event_time=T0)
    with pytest.raises(access_errors.AlreadyLifetime) as exc:
        services.license_assign(license=_free(account, "monthly"), collaborator=lifetime_user, now=T0)
    assert exc.value.code == "already_lifetime"

    licensed, _ = _assigned(account, "monthly")
    with pytest.raises(access_errors.AlreadyLicensed) as exc:
        services.license_assign(license=_free(account, "monthly"), collaborator=licensed, now=T0)
    assert exc.value.code == "already_licensed"

    stranger = trial_user(now=T0)
    with pytest.raises(errors.NotACollaborator):
        services.license_assign(license=_free(account, "monthly"), collaborator=stranger, now=T0)

    taken = License.objects.get(assignee=licensed)
    with pytest.raises(errors.LicenseNotAvailable):
        services.license_assign(license=taken, collaborator=linked_collaborator(account, now=T0), now=T0)
    # Nothing of the refused attempts was kept.
    assert _type(lifetime_user) == AccessType.LIFETIME
    assert License.objects.filter(pro_account=account, status="active").count() == 1


def test_assignment_needs_an_active_account():
    account = pro_account(now=T0)
    lic = License.objects.create(pro_account=account, kind="lifetime")  # e.g. admin-created
    with pytest.raises(errors.ProAccountNotActive):
        services.license_assign(license=lic, collaborator=linked_collaborator(account, now=T0), now=T0)


def _premium_collaborator(account):
    user = linked_collaborator(account, now=T0, premium_cancel_consent=True)
    access_services.access_activate_premium(user=user, period_end=T0 + 30 * DAY, event_time=T0,
                                            stripe_subscription_id="sub_personal")
    return user


@pytest.mark.parametrize("stripe_order", ["finalize_then_deleted", "deleted_then_finalize"])
def test_premium_collaborator_assignment_waits_for_stripe_then_finalizes(account, stripe_order,
                                                                         django_capture_on_commit_callbacks):
    user = _premium_collaborator(account)
    lic = _free(account, "monthly")
    received = []
    license_assignment_pending.connect(lambda sender, pending, **kw: received.append(pending), weak=False,
                                       dispatch_uid="test-pending")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = services.license_assign(license=lic, collaborator=user, now=T0 + DAY)
    finally:
        license_assignment_pending.disconnect(dispatch_uid="test-pending")
    assert result.outcome == "needs_cancel_existing"
    assert [p.stripe_subscription_id for p in received] == ["sub_personal"]
    lic.refresh_from_db()
    assert lic.status == "available" and lic.assignee is None  # no "pending" status exists
    assert _type(user) == AccessType.PREMIUM
    # The reserved seat cannot be given to someone else meanwhile.
    with pytest.raises(errors.LicenseNotAvailable):
        services.license_assign(license=lic, collaborator=linked_collaborator(account, now=T0), now=T0 + DAY)

    # Stripe confirms the personal subscription's cancellation; billing reports both facts.
    def finalize():
        return services.license_assignment_finalize(collaborator=user, event_time=T0 + 2 * DAY, reference="evt_del")

    def deleted():
        access_services.access_end_premium(user=user, event_time=T0 + 2 * DAY, stripe_subscription_id="sub_personal")

    steps = [finalize, deleted] if stripe_order == "finalize_then_deleted" else [deleted, finalize]
    for step in steps:
        step()
    lic.refresh_from_db()
    assert (lic.status, lic.assignee) == ("active", user)
    assert _type(user) == AccessType.LICENSED and has_unlimited_energy(user, now=T0 + 3 * DAY)
    assert not PendingAssignment.objects.exists()
    assert finalize() is None  # the same confirmation again changes nothing


def test_pending_assignment_is_aborted_when_stripe_cannot_cancel(account):
    user = _premium_collaborator(account)
    lic = _free(account, "monthly")
    services.license_assign(license=lic, collaborator=user, now=T0)
    assert services.license_assignment_abort(collaborator=user, reason="stripe_error", now=T0)
    assert not services.license_assignment_abort(collaborator=user, reason="stripe_error", now=T0)
    assert services.license_assignment_finalize(collaborator=user, event_time=T0 + DAY) is None
    lic.refresh_from_db()
    assert lic.status == "available" and _type(user) == AccessType.PREMIUM


def test_pending_assignment_aborts_if_the_collaborator_went_lifetime_meanwhile(account):
    user = _premium_collaborator(account)
    lic = _free(account, "monthly")
    services.license_assign(license=lic, collaborator=user, now=T0)
    access_services.access_grant_lifetime(user=user, event_time=T0 + DAY)
    assert services.license_assignment_finalize(collaborator=user, event_time=T0 + 2 * DAY) is None
    lic.refresh_from_db()
    assert lic.status == "available" and _type(user) == AccessType.LIFETIME


# --- cancel / unlink, effective on the grouped date ----------------------------------


@pytest.mark.parametrize(("kind", "end_state"), [("monthly", "deleted"), ("lifetime", "available")])
@pytest.mark.parametrize("how", ["cancel", "unlink_by_pro", "collaborator_leaves"])
def test_cancel_and_unlink_take_effect_only_on_the_grouped_date(account, kind, end_state, how):
    user, lic = _assigned(account, kind)
    when = T0 + 5 * DAY
    if how == "cancel":
        services.license_cancel(license=lic, actor=account.owner, now=when)
        expected = "canceled"
    elif how == "unlink_by_pro":
        services.license_unlink(license=lic, actor=account.owner, now=when)
        expected = "unlinked"
    else:
        services.collaborator_unlink(pro_account=account, collaborator=user, actor=user, now=when)
        expected = "unlinked"
    lic.refresh_from_db()
    assert (lic.status, lic.effective_at, lic.assignee) == (expected, FEB28, user)
    # Until the grouped date the collaborator keeps access.
    services.grouped_billing_run(now=FEB28 - SECOND)
    assert _type(user) == AccessType.LICENSED and check_premium_access(user, now=FEB28 - SECOND)
    lic.refresh_from_db()
    assert lic.status == expected

    services.grouped_billing_run(now=FEB28 + timedelta(minutes=5))
    if end_state == "deleted":
        assert not License.objects.filter(pk=lic.pk).exists()
    else:
        lic.refresh_from_db()
        assert (lic.status, lic.assignee, lic.effective_at) == ("available", None, None)
    assert _type(user) == AccessType.EXPIRED
    assert LicenseEvent.objects.filter(license_pk=lic.pk).exists()  # history survives a deletion


def test_cancel_an_unassigned_seat(account):
    monthly = _free(account, "monthly")
    services.license_cancel(license=monthly, now=T0 + DAY)
    monthly.refresh_from_db()
    assert (monthly.status, monthly.effective_at) == ("canceled", FEB28)
    with pytest.raises(errors.LicenseNotCancelable):
        services.license_cancel(license=_free(account, "lifetime"), now=T0 + DAY)


def test_unlink_on_an_account_without_grouped_date_is_immediate():
    account = pro_account(now=T0)
    _buy(account, LicenseKind.LIFETIME)
    user, lic = _assigned(account, "lifetime")
    services.license_unlink(license=lic, now=T0 + 10 * DAY)  # after the collaborator's own trial
    lic.refresh_from_db()
    assert lic.status == "available" and _type(user) == AccessType.EXPIRED


def test_collaborator_who_bought_their_own_subscription_after_unlinking_keeps_it(account):
    user, lic = _assigned(account, "monthly")
    services.collaborator_unlink(pro_account=account, collaborator=user, actor=user, now=T0 + DAY)
    access_services.access_activate_premium(user=user, period_end=T0 + 31 * DAY, event_time=T0 + 2 * DAY,
                                            stripe_subscription_id="sub_own")
    assert _type(user) == AccessType.PREMIUM
    steps = services.grouped_billing_run(now=FEB28).steps
    assert [s.info.get("access") for s in steps if s.license_id] == ["PREMIUM->PREMIUM"]
    assert not License.objects.filter(pk=lic.pk).exists()
    access = Access.objects.get(user=user)
    assert (access.type, access.license_status) == ("PREMIUM", "none")
    assert has_unlimited_energy(user, now=FEB28 + DAY)


# --- renewal on the grouped date -----------------------------------------------------


def test_renewal_failure_suspends_monthly_only_then_payment_reactivates(account):
    monthly_user, monthly = _assigned(account, "monthly")
    lifetime_user, lifetime = _assigned(account, "lifetime")
    spare = _free(account, "monthly")

    result = services.pro_renewal_failed(pro_account=account, event_time=FEB28 + timedelta(hours=1),
                                         reference="in_1_failed")
    assert result.applied
    account.refresh_from_db()
    assert account.status == "suspended"
    assert {lic.pk: lic.status for lic in License.objects.filter(pro_account=account)} == {
        monthly.pk: "suspended", lifetime.pk: "active", spare.pk: "suspended"}
    assert not check_premium_access(monthly_user, now=FEB28 + DAY)
    assert _type(monthly_user) == AccessType.LICENSED  # still covered, but suspended
    assert has_unlimited_energy(lifetime_user, now=FEB28 + DAY)
    with pytest.raises(errors.ProAccountNotActive):  # nothing is assigned until the pro regularizes
        services.license_assign(license=spare, collaborator=linked_collaborator(account, now=T0), now=FEB28 + DAY)

    paid = services.pro_renewal_paid(pro_account=account, event_time=FEB28 + 3 * DAY, reference="in_1_paid")
    assert paid.applied
    account.refresh_from_db()
    assert account.status == "active" and account.next_billing_at == MAR31
    assert {lic.pk: lic.status for lic in License.objects.filter(pro_account=account)} == {
        monthly.pk: "active", lifetime.pk: "active", spare.pk: "available"}
    assert has_unlimited_energy(monthly_user, now=FEB28 + 4 * DAY)


def test_renewal_paid_processes_ended_seats(account):
    user, lic = _assigned(account, "monthly")
    services.license_cancel(license=lic, now=T0 + DAY)
    services.pro_renewal_paid(pro_account=account, event_time=FEB28 + timedelta(minutes=10))
    assert not License.objects.filter(pk=lic.pk).exists()
    assert _type(user) == AccessType.EXPIRED


def test_same_renewal_event_twice_and_out_of_order(account):
    user, _ = _assigned(account, "monthly")
    services.pro_renewal_paid(pro_account=account, event_time=FEB28 + 2 * DAY, reference="in_paid")
    again = services.pro_renewal_paid(pro_account=account, event_time=FEB28 + 2 * DAY, reference="in_paid")
    assert (again.applied, again.reason) == (False, "duplicate")
    # The failure happened before the payment but is delivered after it: ignored.
    late = services.pro_renewal_failed(pro_account=account, event_time=FEB28 + DAY, reference="in_failed")
    assert (late.applied, late.reason) == (False, "stale")
    account.refresh_from_db()
    assert account.status == "active" and has_unlimited_energy(user, now=FEB28 + 3 * DAY)


# --- the job: dry run equals real run -------------------------------------------------


def test_grouped_billing_dry_run_lists_exactly_what_the_real_run_does(account):
    kept_user, _kept = _assigned(account, "monthly")
    canceled_user, canceled = _assigned(account, "monthly")
    pooled_user, pooled = _assigned(account, "lifetime")
    services.license_cancel(license=canceled, now=T0 + DAY)
    services.license_unlink(license=pooled, now=T0 + DAY)
    at = FEB28 + timedelta(minutes=1)

    planned = services.grouped_billing_run(now=at, dry_run=True).steps
    assert [s.action for s in planned] == ["delete_license", "return_to_pool", "advance_grouped_date"]
    assert License.objects.filter(pk=canceled.pk).exists()  # the dry run wrote nothing
    done = services.grouped_billing_run(now=at).steps
    assert [s.describe() for s in done] == [s.describe() for s in planned]
    assert _type(canceled_user) == _type(pooled_user) == AccessType.EXPIRED
    assert _type(kept_user) == AccessType.LICENSED
    assert ProAccount.objects.get(pk=account.pk).next_billing_at == MAR31
    assert services.grouped_billing_run(now=at).steps == []  # idempotent


def test_license_pool_counts_every_status(account):
    _assigned(account, "monthly")
    pool = license_pool(pro_account=account)
    assert pool["counts"] == {"available": 2, "active": 1, "suspended": 0, "canceled": 0, "unlinked": 0}
    assert pool["total"] == 3


# --- suspension by an operator (back office) -------------------------------------
# The same effect as a failed renewal / a paid one, refused from other states.


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
    with pytest.raises(errors.ProAccountNotSuspendable):
        services.pro_account_suspend(pro_account=account, actor=operator_user, reason="x")
    account.refresh_from_db()
    assert account.status == status and not LicenseEvent.objects.filter(kind="account_suspended").exists()


def test_only_a_suspended_account_can_be_reactivated(seated, operator_user):
    account, _ = seated
    with pytest.raises(errors.ProAccountNotSuspended):
        services.pro_account_reactivate(pro_account=account, actor=operator_user, reason="x")
    assert not LicenseEvent.objects.filter(kind="account_reactivated").exists()


def test_a_premium_collaborator_without_consent_keeps_their_plan(account):
    user = linked_collaborator(account, now=T0)
    access_services.access_activate_premium(user=user, period_end=T0 + 30 * DAY, event_time=T0,
                                            stripe_subscription_id="sub_personal")
    lic = License.objects.filter(pro_account=account, status="available").first()
    with pytest.raises(errors.PremiumCancelConsentRequired):
        services.license_assign(license=lic, collaborator=user, now=T0)
    assert not PendingAssignment.objects.filter(collaborator=user).exists()
