"""The dashboard's rollups of balance operations and their refresh schedule (every 5 minutes)."""

from django.conf import settings
from django.db import migrations, models


ROLLUP_REFRESH = "wallet: operation rollups"


def schedule_create(apps, schema_editor):
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=300, period="seconds")
    apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
        name=ROLLUP_REFRESH, defaults={"task": "wallet.rollup_refresh", "kwargs": "{}", "enabled": True,
                                       "interval": interval, "crontab": None})


def schedule_delete(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=ROLLUP_REFRESH).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0008_admin_search_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name='OperationRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('hour', models.DateTimeField(help_text='Start of the hour (UTC).')),
                ('type', models.CharField(max_length=32)),
                ('category', models.CharField(choices=[('consumption', 'Consumption (an API debit or hold capture)'), ('consumption_refund', 'Refund of a consumption'), ('refund', 'Other refund credit'), ('other', 'Other operation')], max_length=24)),
                ('reference', models.CharField(blank=True, default='', help_text='The action code (consumption and its refunds), else empty.', max_length=255)),
                ('operations', models.PositiveIntegerField()),
                ('amount', models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name='OperationRollupCursor',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ('last_operation_id', models.BigIntegerField()),
                ('rolled_through', models.DateTimeField()),
                ('refreshed_at', models.DateTimeField()),
            ],
        ),
        migrations.AddConstraint(
            model_name='operationrollup',
            constraint=models.UniqueConstraint(fields=('hour', 'type', 'category', 'reference'), name='rollup_bucket_unique'),
        ),
        migrations.AddConstraint(
            model_name='operationrollup',
            constraint=models.CheckConstraint(condition=models.Q(('operations__gt', 0)), name='rollup_operations_positive'),
        ),
        migrations.AddConstraint(
            model_name='operationrollup',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gte', 0)), name='rollup_amount_not_negative'),
        ),
        migrations.AddConstraint(
            model_name='operationrollup',
            constraint=models.CheckConstraint(condition=models.Q(('category__in', ['consumption', 'consumption_refund', 'refund', 'other'])), name='rollup_category_valid'),
        ),
        migrations.AddConstraint(
            model_name='operationrollupcursor',
            constraint=models.CheckConstraint(condition=models.Q(('id', 1)), name='rollup_cursor_single_row'),
        ),
        migrations.RunPython(schedule_create, schedule_delete),
    ]
