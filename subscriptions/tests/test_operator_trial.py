"""Extend trial / End trial now: operator actions on the access admin, through the state machine."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import DEFAULT_PASSWORD
from phoenix.core import roles
from phoenix.core.models import AdminAction
from phoenix.core.tests.operator import op_url, spy, staff
from subscriptions import services
from subscriptions.models import AccessEvent, AccessType
from subscriptions.services import TRIAL_EXTEND_MAX_DAYS, access_activate_premium, access_expire_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def access():
    user, _token = user_register(email="trial@example.com", password=DEFAULT_PASSWORD)
    return user.access  # TRIAL, ends in 7 days


def _extend_url(access):
    return op_url("subscriptions_access", "trial-extend", access.pk)


def _end_url(access):
    return op_url("subscriptions_access", "trial-end", access.pk)


def _iso(value):
    return value.isoformat()


def test_finance_extends_a_trial_by_days_through_the_state_machine(finance_client, access, monkeypatch):
    calls = spy(monkeypatch, services, "access_extend_trial")
    old_end = access.trial_ends_at
    change_page = finance_client.get(reverse("admin:subscriptions_access_change", args=[access.pk])).content.decode()
    assert _extend_url(access) in change_page and _end_url(access) in change_page  # both buttons offered

    form = finance_client.get(_extend_url(access))
    assert form.status_code == 200 and form.context["form"]["repeat"].value() == 0
    response = finance_client.post(_extend_url(access), {"days": 10, "reason": "ticket 12: onboarding call late"})
    assert response.status_code == 302
    assert len(calls) == 1 and calls[0]["days"] == 10

    access.refresh_from_db()
    assert access.type == AccessType.TRIAL and access.trial_ends_at == old_end + timedelta(days=10)
    event = AccessEvent.objects.filter(access=access).order_by("-id").first()
    assert (event.kind, event.from_type, event.to_type) == ("trial_extended", "TRIAL", "TRIAL")
    assert event.detail == {"trial_ends_at_before": _iso(old_end), "trial_ends_at": _iso(access.trial_ends_at)}
    action = AdminAction.objects.get()
    assert (action.action, action.target_type, action.target_id, action.reason, action.actor_id) == (
        "trial_extend", "subscriptions.access", str(access.pk), "ticket 12: onboarding call late",
        response.wsgi_request.user.pk)
    assert action.before == {"type": "TRIAL", "trial_ends_at": _iso(old_end)}
    assert action.after["trial_ends_at"] == _iso(access.trial_ends_at) and action.after["access_event_id"] == event.pk
    # The timeline on the access page and the customer page shows the extension.
    assert "trial_extended" in finance_client.get(
        reverse("admin:subscriptions_access_change", args=[access.pk])).content.decode()
    customer_page = reverse("admin:customer", args=[access.user.public_id])
    assert "trial_extended" in finance_client.get(customer_page).content.decode()


def test_a_trial_is_extended_to_a_date(finance_client, access):
    new_end = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    response = finance_client.post(_extend_url(access), {"until": new_end.strftime("%Y-%m-%d %H:%M:%S"),
                                                         "reason": "ticket 13"})
    assert response.status_code == 302
    access.refresh_from_db()
    assert access.trial_ends_at == new_end and access.type == AccessType.TRIAL


def test_back_and_resubmit_extends_once_and_a_confirmed_repeat_once_more(finance_client, access):
    old_end = access.trial_ends_at
    submission = {"days": 3, "reason": "ticket 14", "repeat": 0}
    assert finance_client.post(_extend_url(access), submission).status_code == 302
    for _ in range(2):
        again = finance_client.post(_extend_url(access), submission)
        assert again.status_code == 200 and "operator_action_repeated" in again.content.decode()
        assert again.context["form"]["repeat"].value() == "1"
    access.refresh_from_db()
    assert access.trial_ends_at == old_end + timedelta(days=3)
    assert AdminAction.objects.count() == 1 and AccessEvent.objects.filter(kind="trial_extended").count() == 1

    assert finance_client.post(_extend_url(access), {**submission, "repeat": 1}).status_code == 302
    access.refresh_from_db()
    assert access.trial_ends_at == old_end + timedelta(days=6) and AdminAction.objects.count() == 2


def test_finance_ends_a_trial_now_as_the_job_would(finance_client, access):
    old_end = access.trial_ends_at
    submission = {"reason": "ticket 15: abuse of the free trial", "repeat": 0}
    response = finance_client.post(_end_url(access), submission)
    assert response.status_code == 302
    access.refresh_from_db()
    assert access.type == AccessType.EXPIRED and access.trial_ends_at <= timezone.now()
    event = AccessEvent.objects.filter(access=access).order_by("-id").first()
    assert (event.kind, event.from_type, event.to_type) == ("trial_ended", "TRIAL", "EXPIRED")
    assert event.detail["trial_ends_at_before"] == _iso(old_end)
    action = AdminAction.objects.get()
    assert action.action == "trial_end" and action.before == {"type": "TRIAL", "trial_ends_at": _iso(old_end)}
    assert action.after == {"type": "EXPIRED", "trial_ends_at": _iso(access.trial_ends_at),
                            "access_event_id": event.pk}

    # Back + resubmit: refused as a repeat, nothing written.
    again = finance_client.post(_end_url(access), submission)
    assert again.status_code == 200 and "operator_action_repeated" in again.content.decode()
    assert AdminAction.objects.count() == 1 and AccessEvent.objects.filter(kind="trial_ended").count() == 1
    # The hourly job has nothing left to expire, and the buttons are gone.
    assert access_expire_due(now=timezone.now() + timedelta(days=8)).steps == []
    page = finance_client.get(reverse("admin:subscriptions_access_change", args=[access.pk])).content.decode()
    assert _extend_url(access) not in page and _end_url(access) not in page


def test_a_non_trial_is_refused_with_a_form_error_and_nothing_written(finance_client, access):
    access_activate_premium(user=access.user, period_end=timezone.now() + timedelta(days=30),
                            event_time=timezone.now(), stripe_subscription_id="sub_1")
    events = AccessEvent.objects.filter(access=access).count()
    for url, data in ((_extend_url(access), {"days": 5, "reason": "r"}), (_end_url(access), {"reason": "r"})):
        response = finance_client.post(url, data)
        assert response.status_code == 200 and "not_trial" in response.content.decode(), url
    access.refresh_from_db()
    assert access.type == AccessType.PREMIUM
    assert AccessEvent.objects.filter(access=access).count() == events and not AdminAction.objects.exists()


@pytest.mark.parametrize("data, message", [
    ({"days": 0}, "greater than or equal to 1"),
    ({"days": TRIAL_EXTEND_MAX_DAYS + 1}, f"less than or equal to {TRIAL_EXTEND_MAX_DAYS}"),
    ({}, "one of the two"),
    ({"days": 3, "until": "2099-01-01 00:00:00"}, "one of the two"),
    ({"until": "2001-01-01 00:00:00"}, "must be in the future"),
])
def test_invalid_extensions_are_form_errors(finance_client, access, data, message):
    old_end = access.trial_ends_at
    response = finance_client.post(_extend_url(access), {**data, "reason": "ticket 16"})
    assert response.status_code == 200 and message in response.content.decode()
    assert len(response.context["form"].errors) == 1  # one error, the one that applies
    access.refresh_from_db()
    assert access.trial_ends_at == old_end and not AdminAction.objects.exists()
    assert not AccessEvent.objects.filter(kind="trial_extended").exists()


def test_a_date_before_the_current_end_or_too_far_is_refused_by_the_state_machine(finance_client, access):
    old_end = access.trial_ends_at
    for until, code in ((old_end - timedelta(days=1), "invalid_trial_end"),
                        (timezone.now() + timedelta(days=TRIAL_EXTEND_MAX_DAYS + 2), "invalid_trial_end")):
        response = finance_client.post(_extend_url(access), {"until": until.strftime("%Y-%m-%d %H:%M:%S"),
                                                             "reason": "ticket 17"})
        assert response.status_code == 200 and code in response.content.decode()
    access.refresh_from_db()
    assert access.trial_ends_at == old_end and not AdminAction.objects.exists()


def test_a_trial_that_ran_out_is_extended_from_now():
    user, _token = user_register(email="late@example.com", password=DEFAULT_PASSWORD)
    later = user.access.trial_ends_at + timedelta(days=2)  # the job has not expired it yet
    event = services.access_extend_trial(user=user, now=later, days=5)
    assert event.access.trial_ends_at == later + timedelta(days=5)


@pytest.mark.parametrize("role", [roles.SUPPORT, None])
def test_a_role_without_the_permission_gets_403_and_no_button(client, access, role):
    client.force_login(staff(role))
    if role:  # support sees the access page, without the buttons
        page = client.get(reverse("admin:subscriptions_access_change", args=[access.pk])).content.decode()
        assert "/operator/" not in page
    for url, data in ((_extend_url(access), {"days": 5, "reason": "r"}), (_end_url(access), {"reason": "r"})):
        assert client.get(url).status_code == 403
        assert client.post(url, data).status_code == 403
    access.refresh_from_db()
    assert access.type == AccessType.TRIAL and not AdminAction.objects.exists()
    assert not AccessEvent.objects.filter(kind__in=["trial_extended", "trial_ended"]).exists()


def test_the_customer_page_offers_the_trial_actions_to_finance_only(client, access):
    customer_page = reverse("admin:customer", args=[access.user.public_id])
    client.force_login(staff(roles.FINANCE))
    html = client.get(customer_page).content.decode()
    assert _extend_url(access) in html and _end_url(access) in html
    client.force_login(staff(roles.SUPPORT))
    html = client.get(customer_page).content.decode()
    assert _extend_url(access) not in html and _end_url(access) not in html
