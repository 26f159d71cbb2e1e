"""What the outbound tables hold beyond their models (self-contained, see core's 0002).

- Append-only: the outbox (`outbound_event`) and the attempt log; a correction is a new row.
- The beat schedule of the dispatcher (every minute); editable afterwards in the admin.
"""

from django.db import migrations

APPEND_ONLY_TABLES = ("outbound_event", "outbound_deliveryattempt")
DISPATCH = "outbound: dispatch due deliveries"


def append_only_trigger(table: str) -> migrations.RunSQL:
    trigger = f"{table}_append_only"
    return migrations.RunSQL(
        f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION phoenix_append_only();",
        f"DROP TRIGGER IF EXISTS {trigger} ON {table};",
    )


def schedule_create(apps, schema_editor):
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=1, period="minutes")
    apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
        name=DISPATCH, defaults={"task": "outbound.dispatch", "kwargs": "{}", "enabled": True, "interval": interval})


def schedule_delete(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=DISPATCH).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("outbound", "0001_initial"),
        ("core", "0002_append_only_function_heartbeat"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        *[append_only_trigger(table) for table in APPEND_ONLY_TABLES],
        migrations.RunPython(schedule_create, schedule_delete),
    ]
