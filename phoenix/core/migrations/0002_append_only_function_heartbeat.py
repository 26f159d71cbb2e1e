"""What core's database holds beyond its models: the append-only trigger function every
audit table uses, the trigger of core's own audit table, and the
worker heartbeat's beat schedule.

Self-contained on purpose (issue 10): the SQL and the schedule upsert are copied here, not
imported from ``phoenix.core.db`` / ``phoenix.core.schedules``, so later edits of those
modules never change what this migration did. Each app's own ``0002`` creates the
triggers of its tables with the same two-line statement, depending on this migration.

Why hand-written SQL rather than django-pgtrigger's declarative ``Protect``: the raw-SQL
bypass tests (UPDATE/DELETE issued by raw SQL on every append-only table) must pass
unchanged, and they rely on what this function does: the message says "append-only", the
error is ``restrict_violation`` (an ``IntegrityError`` to Django, which
``wallet/tests/test_api.py`` expects), and the triggers are named ``<table>_append_only``
(``wallet/tests/conftest.py`` disables one by that name). ``Protect`` raises its own
message as a plain ``RAISE EXCEPTION`` (``InternalError``) from triggers it names itself,
and would add a dependency, an installed app and ``Meta.triggers`` on five models for what
is one function and five one-line triggers here.
"""

from django.db import migrations

APPEND_ONLY_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION phoenix_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused (write a correcting row instead)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END;
$$;
"""
DROP_APPEND_ONLY_FUNCTION_SQL = "DROP FUNCTION IF EXISTS phoenix_append_only();"

# TRUNCATE is not covered: it needs table ownership, which the application role should not
# have in production (the test runner uses it to reset tables).
ADMIN_ACTION_TRIGGER_SQL = (
    "CREATE TRIGGER core_adminaction_append_only BEFORE UPDATE OR DELETE ON core_adminaction "
    "FOR EACH ROW EXECUTE FUNCTION phoenix_append_only();"
)
DROP_ADMIN_ACTION_TRIGGER_SQL = "DROP TRIGGER IF EXISTS core_adminaction_append_only ON core_adminaction;"

HEARTBEAT = "core: worker heartbeat"
HEARTBEAT_TASK = "core.worker_heartbeat"
HEARTBEAT_EVERY_SECONDS = 30


def schedules_create(apps, schema_editor):
    """Upsert the heartbeat's beat schedule; operators may edit or disable it in the admin."""
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=HEARTBEAT_EVERY_SECONDS, period="seconds"
    )
    apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
        name=HEARTBEAT,
        defaults={"task": HEARTBEAT_TASK, "kwargs": "{}", "enabled": True, "interval": interval, "crontab": None},
    )


def schedules_delete(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=HEARTBEAT).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunSQL(APPEND_ONLY_FUNCTION_SQL, DROP_APPEND_ONLY_FUNCTION_SQL),
        migrations.RunSQL(ADMIN_ACTION_TRIGGER_SQL, DROP_ADMIN_ACTION_TRIGGER_SQL),
        migrations.RunPython(schedules_create, schedules_delete),
    ]
