from django.db import migrations

from phoenix.core.schedules import periodic_task_delete, periodic_task_upsert

NAME = "subscriptions: trial and period-end expiry"


def forwards(apps, schema_editor):
    periodic_task_upsert(apps, name=NAME, task="subscriptions.expire_access", crontab={"minute": "5"})


def backwards(apps, schema_editor):
    periodic_task_delete(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0003_seed_plans"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
