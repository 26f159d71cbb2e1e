"""Beat schedules are declared by migrations (DESIGN.md §8), through these helpers.

Each app's migration calls ``periodic_task_upsert`` from a RunPython operation with the
historical ``apps``; operators can then edit or disable the schedule in the admin.
"""

from __future__ import annotations

import json


def periodic_task_upsert(
    apps,
    *,
    name: str,
    task: str,
    every_seconds: int | None = None,
    crontab: dict[str, str] | None = None,
    kwargs: dict | None = None,
) -> None:
    if (every_seconds is None) == (crontab is None):
        raise ValueError("give exactly one of every_seconds or crontab")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule: dict = {"interval": None, "crontab": None}
    if every_seconds is not None:
        IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
        schedule["interval"], _ = IntervalSchedule.objects.get_or_create(
            every=every_seconds, period="seconds"
        )
    else:
        CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
        fields = {"minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*",
                  "month_of_year": "*", "timezone": "UTC", **crontab}
        schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(**fields)
    PeriodicTask.objects.update_or_create(
        name=name,
        defaults={"task": task, "kwargs": json.dumps(kwargs or {}), "enabled": True, **schedule},
    )


def periodic_task_delete(apps, *, name: str) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()
