"""What subscriptions' database holds beyond its models (self-contained: nothing imported
from the project, see core's 0002).

- Audit rows are never updated or deleted: a trigger on the access events,
  using core's ``phoenix_append_only()``.
- The plans, seeded (``forwards`` is also called by the root conftest for transactional tests).
- The beat schedule of the trial and period-end expiry job.
"""

from django.db import migrations

ACCESS_EVENT_TRIGGER_SQL = (
    "CREATE TRIGGER subscriptions_accessevent_append_only BEFORE UPDATE OR DELETE ON subscriptions_accessevent "
    "FOR EACH ROW EXECUTE FUNCTION phoenix_append_only();"
)
DROP_ACCESS_EVENT_TRIGGER_SQL = (
    "DROP TRIGGER IF EXISTS subscriptions_accessevent_append_only ON subscriptions_accessevent;"
)

# Prices are admin data; these are the seed values. luna_unlimited's price is the product's;
# the lifetime and pro seat prices are not given by the design notes: placeholders an
# admin sets before selling.
PLANS = [
    {"code": "luna_unlimited", "label": "Luna Unlimited (monthly)", "audience": "individual",
     "kind": "monthly", "price_cents": 2999},
    {"code": "luna_lifetime", "label": "Luna Lifetime", "audience": "individual",
     "kind": "lifetime", "price_cents": 29900},
    {"code": "pro_seat_monthly", "label": "Pro seat license (monthly)", "audience": "pro",
     "kind": "monthly", "price_cents": 2999},
    {"code": "pro_seat_lifetime", "label": "Pro seat license (lifetime)", "audience": "pro",
     "kind": "lifetime", "price_cents": 29900},
]


def forwards(apps, schema_editor):
    Plan = apps.get_model("subscriptions", "Plan")
    for plan in PLANS:
        Plan.objects.get_or_create(code=plan["code"], defaults={**plan, "currency": "EUR"})


def backwards(apps, schema_editor):
    apps.get_model("subscriptions", "Plan").objects.filter(code__in=[p["code"] for p in PLANS]).delete()


EXPIRY = "subscriptions: trial and period-end expiry"


def schedules_create(apps, schema_editor):
    """Upsert the expiry job's beat schedule (hourly at minute 5); editable in the admin."""
    crontab, _ = apps.get_model("django_celery_beat", "CrontabSchedule").objects.get_or_create(
        minute="5", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
        name=EXPIRY,
        defaults={"task": "subscriptions.expire_access", "kwargs": "{}", "enabled": True,
                  "interval": None, "crontab": crontab},
    )


def schedules_delete(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=EXPIRY).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0001_initial"),
        ("core", "0002_append_only_function_heartbeat"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunSQL(ACCESS_EVENT_TRIGGER_SQL, DROP_ACCESS_EVENT_TRIGGER_SQL),
        migrations.RunPython(forwards, backwards),
        migrations.RunPython(schedules_create, schedules_delete),
    ]
