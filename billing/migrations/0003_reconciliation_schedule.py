"""Daily Stripe reconciliation schedule (DESIGN.md §8), editable afterwards in the admin."""

from django.db import migrations

from phoenix.core.schedules import periodic_task_delete, periodic_task_upsert

NAME = "billing: reconcile payments with ledger credits (daily)"


def forward(apps, schema_editor):
    periodic_task_upsert(
        apps, name=NAME, task="billing.reconcile_payments", crontab={"minute": "17", "hour": "3"}
    )


def backward(apps, schema_editor):
    periodic_task_delete(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_payment_status_guard"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forward, backward)]
