"""The admin against brute force (django-axes, audited operator unlock) and the roles on
the beat schedules (support changes nothing; finance runs, never edits; every change is an
AdminAction)."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.models import Group
from django.test import override_settings
from django_celery_beat.models import PeriodicTask

from phoenix.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from phoenix.core import roles
from phoenix.core.models import AdminAction

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def staff_in(role: str):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def _admin_login(client, email, password, ip="10.1.2.3"):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


@override_settings(AXES_FAILURE_LIMIT=5)
def test_admin_login_locked_after_n_failures_then_unlocked_by_an_operator(client):
    admin_user = UserFactory(is_staff=True, is_superuser=True, email="root@example.com")
    for _ in range(5):
        assert _admin_login(client, admin_user.email, "wrong").status_code in (200, 429)
    locked = _admin_login(client, admin_user.email, DEFAULT_PASSWORD)
    assert locked.status_code == 429 and "_auth_user_id" not in client.session
    assert AccessFailureLog.objects.filter(username=admin_user.email).count() >= 5
    # Another IP is not locked out by these failures.
    from_elsewhere = _admin_login(client, admin_user.email, DEFAULT_PASSWORD, ip="10.9.9.9")
    assert from_elsewhere.status_code == 302
    client.logout()

    operator = staff_in(roles.FINANCE)
    operator_client = client.__class__()
    operator_client.force_login(operator)
    attempt = AccessAttempt.objects.get(username=admin_user.email, ip_address="10.1.2.3")
    url = f"/admin/axes/accessattempt/{attempt.pk}/operator/unlock/"
    assert operator_client.post(url, {"reason": ""}).status_code == 200  # a reason is required
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()
    assert operator_client.post(url, {"reason": "ticket 42: owner forgot the password"}).status_code == 302
    assert not AccessAttempt.objects.filter(username=admin_user.email, ip_address="10.1.2.3").exists()
    audit = AdminAction.objects.get(action="admin_login_unlock")
    assert audit.actor == operator and audit.before["failures_since_start"] >= 5
    assert _admin_login(client, admin_user.email, DEFAULT_PASSWORD).status_code == 302


def test_support_cannot_unlock(client):
    attempt = AccessAttempt.objects.create(username="x@example.com", ip_address="10.0.0.1", failures_since_start=9,
                                           user_agent="", path_info="/admin/login/", get_data="", post_data="",
                                           http_accept="")
    client.force_login(staff_in(roles.SUPPORT))
    assert client.get("/admin/axes/accessattempt/").status_code == 200
    assert client.post(f"/admin/axes/accessattempt/{attempt.pk}/operator/unlock/",
                       {"reason": "why not"}).status_code == 403
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists() and not AdminAction.objects.exists()


def _task():
    return PeriodicTask.objects.get(task="wallet.health_check")


@pytest.mark.parametrize("bulk_action", ["enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks"])
@pytest.mark.parametrize("role", [roles.SUPPORT, roles.FINANCE])
def test_beat_bulk_actions_are_gone(client, role, bulk_action):
    task = _task()
    client.force_login(staff_in(role))
    client.post("/admin/django_celery_beat/periodictask/", {"action": bulk_action, "_selected_action": [task.pk]})
    after = _task()
    assert after.enabled == task.enabled and not AdminAction.objects.exists()


def test_support_changes_no_schedule(client):
    task = _task()
    client.force_login(staff_in(roles.SUPPORT))
    base = f"/admin/django_celery_beat/periodictask/{task.pk}"
    assert client.get(f"{base}/change/").status_code == 200
    for action in ("enable", "disable", "run"):
        assert client.post(f"{base}/operator/{action}/", {"reason": "x"}).status_code == 403
    assert client.post(f"{base}/change/", {"name": "renamed", "reason": "x"}).status_code == 403
    assert _task().enabled == task.enabled and _task().name == task.name and not AdminAction.objects.exists()


def test_finance_runs_a_schedule_but_does_not_edit_it(client, django_capture_on_commit_callbacks):
    task = _task()
    finance = staff_in(roles.FINANCE)
    client.force_login(finance)
    base = f"/admin/django_celery_beat/periodictask/{task.pk}"
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert client.post(f"{base}/operator/run/", {"reason": "re-run after the incident"}).status_code == 302
    assert len(queued) == 1
    run = AdminAction.objects.get(action="periodic_task_run")
    assert run.actor == finance and run.reason == "re-run after the incident"
    assert client.post(f"{base}/operator/disable/", {"reason": "x"}).status_code == 403
    assert client.post(f"{base}/change/", {"name": "renamed", "reason": "x"}).status_code == 403
    assert _task().enabled is True and AdminAction.objects.count() == 1


def test_a_superuser_change_is_audited(client):
    task = _task()
    root = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(root)
    base = f"/admin/django_celery_beat/periodictask/{task.pk}"
    assert client.post(f"{base}/operator/disable/", {"reason": "maintenance window"}).status_code == 302
    assert _task().enabled is False
    audit = AdminAction.objects.get(action="periodic_task_disable")
    assert audit.before["enabled"] is True and audit.after["enabled"] is False
    assert client.post(f"{base}/operator/enable/", {"reason": "maintenance over"}).status_code == 302
    assert _task().enabled is True and AdminAction.objects.filter(action="periodic_task_enable").count() == 1
