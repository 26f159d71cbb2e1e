"""What licenses' database holds beyond its models (self-contained: nothing imported from
the project, see core's 0002).

- License history is never updated or deleted: a trigger on the license
  events, using core's ``phoenix_append_only()``.
- The beat schedules of the grouped billing date and pro trial expiry jobs.
"""

from django.db import migrations

LICENSE_EVENT_TRIGGER_SQL = (
    "CREATE TRIGGER licenses_licenseevent_append_only BEFORE UPDATE OR DELETE ON licenses_licenseevent "
    "FOR EACH ROW EXECUTE FUNCTION phoenix_append_only();"
)
DROP_LICENSE_EVENT_TRIGGER_SQL = "DROP TRIGGER IF EXISTS licenses_licenseevent_append_only ON licenses_licenseevent;"

# (name, task, minute of every hour, UTC)
SCHEDULES = [
    ("licenses: grouped billing date", "licenses.grouped_billing", "0"),
    ("licenses: pro trial expiry", "licenses.pro_trial_expiry", "10"),
]


def schedules_create(apps, schema_editor):
    """Upsert both beat schedules; operators may edit or disable them in the admin."""
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minute in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": task, "kwargs": "{}", "enabled": True, "interval": None, "crontab": crontab},
        )


def schedules_delete(apps, schema_editor):
    names = [name for name, _task, _minute in SCHEDULES]
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("licenses", "0001_initial"),
        ("core", "0002_append_only_function_heartbeat"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunSQL(LICENSE_EVENT_TRIGGER_SQL, DROP_LICENSE_EVENT_TRIGGER_SQL),
        migrations.RunPython(schedules_create, schedules_delete),
    ]
