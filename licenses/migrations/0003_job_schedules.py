from django.db import migrations

from phoenix.core.schedules import periodic_task_delete, periodic_task_upsert

SCHEDULES = [
    ("licenses: grouped billing date", "licenses.grouped_billing", "0"),
    ("licenses: pro trial expiry", "licenses.pro_trial_expiry", "10"),
]


def forwards(apps, schema_editor):
    for name, task, minute in SCHEDULES:
        periodic_task_upsert(apps, name=name, task=task, crontab={"minute": minute})


def backwards(apps, schema_editor):
    for name, _task, _minute in SCHEDULES:
        periodic_task_delete(apps, name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("licenses", "0002_license_event_append_only"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
