"""The access state machine, one test per rule, with an explicit clock."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import UserFactory
from subscriptions import errors, services
from subscriptions.models import Access, AccessEvent, AccessType
from subscriptions.selectors import access_for_user, check_premium_access, has_unlimited_energy
from subscriptions.tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MONTH = timedelta(days=30)


@pytest.fixture
def trial_user():
    return factories.trial_user(now=T0)


def _type(user) -> str:
    return Access.objects.get(user=user).type


def test_registration_opens_a_seven_day_trial_in_the_same_transaction():
    with time_machine.travel(T0, tick=False):
        user, _ = user_register(email="new@example.com", password="a-Long-passphrase-1")
    access = Access.objects.get(user=user)
    assert access.type == AccessType.TRIAL
    assert access.trial_ends_at == T0 + 7 * DAY
    assert check_premium_access(user, now=T0 + 6 * DAY)
    assert not has_unlimited_energy(user, now=T0)  # a trial has no unlimited energy
    assert list(access.events.values_list("kind", flat=True)) == ["trial_opened"]


def test_open_trial_is_idempotent(trial_user):
    again = services.access_open_trial(user=trial_user, now=T0 + 3 * DAY)
    assert again.trial_ends_at == T0 + 7 * DAY
    assert AccessEvent.objects.filter(access=again).count() == 1


def test_trial_without_payment_expires_at_its_end(trial_user):
    assert services.access_expire_due(now=T0 + 7 * DAY - timedelta(seconds=1)).steps == []
    assert check_premium_access(trial_user, now=T0 + 7 * DAY - timedelta(seconds=1))
    # At the end the selector already says no, before the job runs...
    assert not check_premium_access(trial_user, now=T0 + 7 * DAY)
    steps = services.access_expire_due(now=T0 + 7 * DAY).steps
    assert [(s.from_type, s.to_type, s.reason) for s in steps] == [("TRIAL", "EXPIRED", "trial_ended")]
    assert _type(trial_user) == AccessType.EXPIRED
    # ...and running the job again changes nothing.
    assert services.access_expire_due(now=T0 + 8 * DAY).steps == []


def test_monthly_payment_then_first_failed_renewal_expires_at_once(trial_user):
    change = services.access_activate_premium(
        user=trial_user, period_end=T0 + MONTH, event_time=T0 + DAY, stripe_subscription_id="sub_1",
        reference="evt_checkout",
    )
    assert change.applied and _type(trial_user) == AccessType.PREMIUM
    assert has_unlimited_energy(trial_user, now=T0 + 2 * DAY)
    renewed = services.access_renew_premium(
        user=trial_user, period_end=T0 + 2 * MONTH, event_time=T0 + MONTH, stripe_subscription_id="sub_1",
    )
    assert renewed.applied and renewed.access.current_period_end == T0 + 2 * MONTH
    failed = services.access_payment_failed(
        user=trial_user, event_time=T0 + 2 * MONTH + timedelta(hours=1), stripe_subscription_id="sub_1",
    )
    assert failed.applied
    assert _type(trial_user) == AccessType.EXPIRED
    assert not check_premium_access(trial_user, now=T0 + 2 * MONTH + timedelta(hours=2))


def test_cancel_at_period_end_keeps_premium_until_the_period_ends(trial_user):
    services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0,
                                     stripe_subscription_id="sub_1")
    services.access_set_cancel_at_period_end(user=trial_user, event_time=T0 + DAY, stripe_subscription_id="sub_1")
    assert check_premium_access(trial_user, now=T0 + MONTH - timedelta(seconds=1))
    assert services.access_expire_due(now=T0 + MONTH - timedelta(seconds=1)).steps == []
    assert _type(trial_user) == AccessType.PREMIUM
    assert not check_premium_access(trial_user, now=T0 + MONTH)
    steps = services.access_expire_due(now=T0 + MONTH).steps
    assert [s.reason for s in steps] == ["period_ended"]
    access = Access.objects.get(user=trial_user)
    assert access.type == AccessType.EXPIRED and access.cancel_at_period_end is False


def test_resume_withdraws_the_cancellation(trial_user):
    services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0)
    services.access_set_cancel_at_period_end(user=trial_user, event_time=T0 + DAY)
    services.access_resume(user=trial_user, event_time=T0 + 2 * DAY)
    assert services.access_expire_due(now=T0 + MONTH).steps == []
    assert check_premium_access(trial_user, now=T0 + MONTH + timedelta(hours=1))  # renewal due, not lapsed


def test_missing_renewal_expires_only_after_the_grace(trial_user):
    services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0)
    assert services.access_expire_due(now=T0 + MONTH + DAY).steps == []
    steps = services.access_expire_due(now=T0 + MONTH + 2 * DAY).steps
    assert [s.reason for s in steps] == ["renewal_missing"]


def test_subscription_deleted_expires(trial_user):
    services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0,
                                     stripe_subscription_id="sub_1")
    change = services.access_end_premium(user=trial_user, event_time=T0 + 10 * DAY, stripe_subscription_id="sub_1")
    assert change.applied and _type(trial_user) == AccessType.EXPIRED


def test_subscription_ended_during_the_trial_returns_to_the_trial(trial_user):
    # Paying early does not forfeit the free days the trial already granted.
    services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0,
                                     stripe_subscription_id="sub_1")
    services.access_end_premium(user=trial_user, event_time=T0 + DAY, stripe_subscription_id="sub_1")
    assert _type(trial_user) == AccessType.TRIAL


def test_lifetime_is_permanent_and_outranks_monthly_events(trial_user):
    services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0,
                                     stripe_subscription_id="sub_1")
    assert services.access_grant_lifetime(user=trial_user, event_time=T0 + DAY, reference="cs_life").applied
    assert _type(trial_user) == AccessType.LIFETIME
    # The old subscription's later events change nothing.
    assert not services.access_payment_failed(user=trial_user, event_time=T0 + MONTH,
                                              stripe_subscription_id="sub_1").applied
    assert not services.access_end_premium(user=trial_user, event_time=T0 + MONTH,
                                           stripe_subscription_id="sub_1").applied
    assert services.access_expire_due(now=T0 + 10 * MONTH).steps == []
    assert has_unlimited_energy(trial_user, now=T0 + 100 * MONTH)
    with pytest.raises(errors.AlreadyLifetime):
        services.access_activate_premium(user=trial_user, period_end=T0 + 2 * MONTH, event_time=T0 + MONTH)
    assert not services.access_grant_lifetime(user=trial_user, event_time=T0 + 2 * DAY, reference="cs_life").applied


def test_cancel_flag_on_non_premium_is_illegal(trial_user):
    with pytest.raises(errors.NotPremium) as exc:
        services.access_set_cancel_at_period_end(user=trial_user, event_time=T0)
    assert exc.value.code == "not_premium" and exc.value.status_code == 409


def test_same_event_twice_applies_once(trial_user):
    kwargs = {"user": trial_user, "period_end": T0 + MONTH, "event_time": T0, "stripe_subscription_id": "sub_1",
              "reference": "evt_1"}
    assert services.access_activate_premium(**kwargs).applied
    second = services.access_activate_premium(**kwargs)
    assert (second.applied, second.reason) == (False, "duplicate")
    assert AccessEvent.objects.filter(access__user=trial_user, kind="premium_activated").count() == 1


def test_out_of_order_failure_older_than_a_paid_renewal_is_ignored(trial_user):
    services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0,
                                     stripe_subscription_id="sub_1")
    # Renewal paid at T0+MONTH+2h is delivered before the failure at T0+MONTH+1h.
    services.access_renew_premium(user=trial_user, period_end=T0 + 2 * MONTH,
                                  event_time=T0 + MONTH + timedelta(hours=2), stripe_subscription_id="sub_1")
    late = services.access_payment_failed(user=trial_user, event_time=T0 + MONTH + timedelta(hours=1),
                                          stripe_subscription_id="sub_1")
    assert (late.applied, late.reason) == (False, "stale")
    assert _type(trial_user) == AccessType.PREMIUM


def test_out_of_order_checkout_older_than_a_failure_does_not_revive(trial_user):
    # The failure (newer) arrives first: nothing to expire yet, but its time is kept...
    services.access_payment_failed(user=trial_user, event_time=T0 + MONTH, stripe_subscription_id="sub_1")
    # ...so the older checkout cannot move the state to PREMIUM afterwards.
    late = services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0,
                                            stripe_subscription_id="sub_1")
    assert late.reason == "stale"
    assert _type(trial_user) == AccessType.TRIAL


def test_paid_invoice_after_a_failure_revives_premium(trial_user):
    services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0,
                                     stripe_subscription_id="sub_1")
    services.access_payment_failed(user=trial_user, event_time=T0 + MONTH, stripe_subscription_id="sub_1")
    assert _type(trial_user) == AccessType.EXPIRED
    services.access_renew_premium(user=trial_user, period_end=T0 + 2 * MONTH, event_time=T0 + MONTH + DAY,
                                  stripe_subscription_id="sub_1")
    assert _type(trial_user) == AccessType.PREMIUM


def test_renewal_never_moves_the_period_end_backwards(trial_user):
    services.access_activate_premium(user=trial_user, period_end=T0 + 2 * MONTH, event_time=T0)
    change = services.access_renew_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0 + DAY)
    assert not change.applied
    assert Access.objects.get(user=trial_user).current_period_end == T0 + 2 * MONTH


def test_events_of_an_older_subscription_are_ignored(trial_user):
    services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0,
                                     stripe_subscription_id="sub_new")
    change = services.access_payment_failed(user=trial_user, event_time=T0 + DAY, stripe_subscription_id="sub_old")
    assert change.reason == "other_subscription"
    assert _type(trial_user) == AccessType.PREMIUM


def test_license_overlay_transitions(trial_user):
    now = T0 + DAY
    services.access_grant_license(user=trial_user, now=now)
    assert _type(trial_user) == AccessType.LICENSED
    assert has_unlimited_energy(trial_user, now=now)
    services.access_suspend_license(user=trial_user, now=now)
    assert not check_premium_access(trial_user, now=now) and not has_unlimited_energy(trial_user, now=now)
    services.access_reactivate_license(user=trial_user, now=now)
    assert has_unlimited_energy(trial_user, now=now)
    with pytest.raises(errors.AlreadyLicensed):
        services.access_grant_license(user=trial_user, now=now)
    # The trial still runs at revocation time: back to TRIAL, not EXPIRED.
    services.access_revoke_license(user=trial_user, now=now)
    assert _type(trial_user) == AccessType.TRIAL
    services.access_grant_license(user=trial_user, now=now)
    services.access_revoke_license(user=trial_user, now=T0 + 30 * DAY)
    assert _type(trial_user) == AccessType.EXPIRED
    assert not services.access_revoke_license(user=trial_user, now=T0 + 31 * DAY).applied


def test_grant_license_refuses_lifetime_and_premium(trial_user):
    services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0,
                                     stripe_subscription_id="sub_1")
    with pytest.raises(errors.NeedsCancelExisting) as exc:
        services.access_grant_license(user=trial_user, now=T0)
    assert exc.value.as_dict()["stripe_subscription_id"] == "sub_1"
    services.access_grant_lifetime(user=trial_user, event_time=T0 + DAY)
    with pytest.raises(errors.AlreadyLifetime):
        services.access_grant_license(user=trial_user, now=T0 + DAY)


def test_premium_ending_falls_back_to_a_held_license(trial_user):
    services.access_activate_premium(user=trial_user, period_end=T0 + MONTH, event_time=T0,
                                     stripe_subscription_id="sub_1")
    services.access_grant_license(user=trial_user, now=T0 + DAY, personal_subscription_canceled=True)
    assert _type(trial_user) == AccessType.PREMIUM
    services.access_end_premium(user=trial_user, event_time=T0 + DAY, stripe_subscription_id="sub_1")
    assert _type(trial_user) == AccessType.LICENSED
    assert has_unlimited_energy(trial_user, now=T0 + 2 * DAY)


def test_user_without_access_row_reads_as_expired_and_gets_one_on_first_write():
    user = UserFactory()
    assert access_for_user(user).type == AccessType.EXPIRED and access_for_user(user).pk is None
    assert not check_premium_access(user) and not has_unlimited_energy(user)
    services.access_activate_premium(user=user, period_end=T0 + MONTH, event_time=T0)
    assert _type(user) == AccessType.PREMIUM


def test_dry_run_lists_exactly_what_the_real_run_does(trial_user):
    other = UserFactory()
    services.access_open_trial(user=other, now=T0 + 5 * DAY)  # not due yet
    premium = UserFactory()
    services.access_activate_premium(user=premium, period_end=T0 + 3 * DAY, event_time=T0)
    services.access_set_cancel_at_period_end(user=premium, event_time=T0)
    at = T0 + 8 * DAY
    planned = services.access_expire_due(now=at, dry_run=True).steps
    assert {s.access_id for s in planned} == {Access.objects.get(user=u).pk for u in (trial_user, premium)}
    assert _type(trial_user) == AccessType.TRIAL  # the dry run wrote nothing
    done = services.access_expire_due(now=at).steps
    assert [s.describe() for s in done] == [s.describe() for s in planned]
    assert services.access_expire_due(now=at, dry_run=True).steps == []
