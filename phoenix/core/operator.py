"""Core operator actions, taken in the admin, each audited by an ``AdminAction`` in the
transaction of its change: the beat schedules (enable, disable, run now, edit) and the
unlock of an admin login that django-axes locked after failed attempts."""

from __future__ import annotations

import json

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.db import transaction
from django_celery_beat.models import PeriodicTask

from phoenix.celery import app as celery_app
from phoenix.core.services import operator_action, operator_reason

SCHEDULE_FIELDS = ("name", "task", "enabled", "interval_id", "crontab_id", "solar_id", "clocked_id", "args",
                   "kwargs", "queue", "one_off", "start_time", "expires", "description")


def periodic_task_state(task: PeriodicTask | None) -> dict:
    if task is None or task.pk is None:
        return {}
    return {field: (str(value) if value is not None and not isinstance(value, (bool, int, str)) else value)
            for field in SCHEDULE_FIELDS for value in [getattr(task, field)]}


@transaction.atomic
def periodic_task_set_enabled(*, task: PeriodicTask, enabled: bool, actor, reason: str) -> PeriodicTask:
    reason = operator_reason(reason)
    task = PeriodicTask.objects.select_for_update().get(pk=task.pk)
    before = periodic_task_state(task)
    task.enabled = enabled
    task.save()  # PeriodicTask.save() also bumps the schedule's change marker beat watches
    operator_action(actor=actor, action="periodic_task_enable" if enabled else "periodic_task_disable",
                    target=task, reason=reason, before=before, after=periodic_task_state(task))
    return task


@transaction.atomic
def periodic_task_run(*, task: PeriodicTask, actor, reason: str) -> PeriodicTask:
    """Queue the schedule's task once now (after commit: no run without its audit row)."""
    reason = operator_reason(reason)
    name, args, kwargs, queue = task.task, json.loads(task.args or "[]"), json.loads(task.kwargs or "{}"), task.queue
    operator_action(actor=actor, action="periodic_task_run", target=task, reason=reason,
                    before=periodic_task_state(task), after={"queued": name})
    transaction.on_commit(lambda: celery_app.send_task(name, args=args, kwargs=kwargs, queue=queue or None,
                                                       headers={"periodic_task_name": task.name}))
    return task


@transaction.atomic
def periodic_task_save(*, task: PeriodicTask, actor, reason: str, created: bool) -> PeriodicTask:
    """An edit (or creation) through the admin form: saved with its audit row."""
    reason = operator_reason(reason)
    before = {} if created else periodic_task_state(PeriodicTask.objects.select_for_update().get(pk=task.pk))
    task.save()
    operator_action(actor=actor, action="periodic_task_add" if created else "periodic_task_change", target=task,
                    reason=reason, before=before, after=periodic_task_state(task))
    return task


@transaction.atomic
def periodic_task_delete(*, task: PeriodicTask, actor, reason: str) -> None:
    operator_action(actor=actor, action="periodic_task_delete", target=task, reason=reason,
                    before=periodic_task_state(task), after={})
    task.delete()


@transaction.atomic
def admin_login_unlock(*, attempt: AccessAttempt, actor, reason: str) -> int:
    """Lift a lockout: every failed-attempt record of that (IP, username) is dropped."""
    reason = operator_reason(reason)
    before = {"ip_address": attempt.ip_address, "username": attempt.username,
              "failures_since_start": attempt.failures_since_start}
    operator_action(actor=actor, action="admin_login_unlock", target=attempt, reason=reason, before=before,
                    after={"failures_since_start": 0})
    return axes_reset(ip=attempt.ip_address, username=attempt.username)
