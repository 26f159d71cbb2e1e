from django.db import migrations

from phoenix.core.schedules import periodic_task_delete, periodic_task_upsert

NAME = "core: worker heartbeat"


def forwards(apps, schema_editor):
    periodic_task_upsert(apps, name=NAME, task="core.worker_heartbeat", every_seconds=30)


def backwards(apps, schema_editor):
    periodic_task_delete(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
