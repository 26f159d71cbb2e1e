"""The Celery app: Redis broker, Django-aware tasks, django-celery-beat schedules."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phoenix.settings")

# DjangoTask adds delay_on_commit / apply_async_on_commit: a task that follows a write
# is only enqueued once that write is committed.
app = Celery("phoenix", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
