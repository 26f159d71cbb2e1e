from django.db import migrations

from phoenix.core.db import APPEND_ONLY_FUNCTION_MIGRATION, append_only_trigger

# Audit rows are never updated or deleted (DESIGN.md §4): enforced by the database.


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0001_initial"), APPEND_ONLY_FUNCTION_MIGRATION]
    operations = [append_only_trigger("subscriptions_accessevent")]
