"""Beat schedules of the wallet jobs (DESIGN.md §8); editable afterwards in the admin."""

from django.db import migrations

from phoenix.core.schedules import periodic_task_delete, periodic_task_upsert

HEALTH = "wallet: health check"
EXPIRY = "wallet: hold expiry"


def forwards(apps, schema_editor):
    periodic_task_upsert(apps, name=HEALTH, task="wallet.health_check", crontab={"minute": "7"})
    periodic_task_upsert(apps, name=EXPIRY, task="wallet.expire_holds", every_seconds=60)


def backwards(apps, schema_editor):
    periodic_task_delete(apps, name=HEALTH)
    periodic_task_delete(apps, name=EXPIRY)


class Migration(migrations.Migration):
    dependencies = [
        ("wallet", "0003_seed_energy_catalogues"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
