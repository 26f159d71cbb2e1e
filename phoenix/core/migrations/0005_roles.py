"""Roles (support, finance) as auth groups; see phoenix/core/roles.py."""

from django.db import migrations

from phoenix.core.roles import permissions_create_for_migration


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0004_job_run"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0001_initial"),
        ("wallet", "0004_job_schedules"),
        ("billing", "0003_reconciliation_schedule"),
        ("subscriptions", "0004_expiry_schedule"),
        ("licenses", "0004_license_status_db_default"),
    ]

    operations = [
        migrations.RunPython(permissions_create_for_migration, migrations.RunPython.noop),
    ]
