"""What billing's database holds beyond its models (self-contained: nothing imported from
the project, see core's 0002).

- A database guard for the payment state machine. The services already
  refuse illegal transitions (``IllegalPaymentTransition``); this trigger makes a raw UPDATE
  refuse them too, so no code path can move a payment backwards. The allowed pairs mirror
  ``billing.models.PAYMENT_TRANSITIONS``, and a new payment must start ``pending``.
- The daily Stripe reconciliation's beat schedule, editable in the admin.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION billing_payment_status_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'pending' THEN
            RAISE EXCEPTION 'illegal payment status on insert: %', NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
        (OLD.status = 'pending' AND NEW.status IN ('succeeded', 'failed', 'canceled'))
        OR (OLD.status = 'succeeded' AND NEW.status = 'refunded')
    ) THEN
        RAISE EXCEPTION 'illegal payment transition: % -> %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_payment_status_guard
    BEFORE INSERT OR UPDATE OF status ON billing_payment
    FOR EACH ROW EXECUTE FUNCTION billing_payment_status_guard();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS billing_payment_status_guard ON billing_payment;
DROP FUNCTION IF EXISTS billing_payment_status_guard();
"""

RECONCILIATION = "billing: reconcile payments with ledger credits (daily)"


def schedules_create(apps, schema_editor):
    """Upsert the reconciliation's beat schedule (daily at 03:17 UTC)."""
    crontab, _ = apps.get_model("django_celery_beat", "CrontabSchedule").objects.get_or_create(
        minute="17", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
        name=RECONCILIATION,
        defaults={"task": "billing.reconcile_payments", "kwargs": "{}", "enabled": True,
                  "interval": None, "crontab": crontab},
    )


def schedules_delete(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=RECONCILIATION).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, REVERSE),
        migrations.RunPython(schedules_create, schedules_delete),
    ]
