from django.db import migrations

from phoenix.core.db import APPEND_ONLY_FUNCTION_MIGRATION, append_only_trigger

# License history is never updated or deleted (DESIGN.md §5): enforced by the database.


class Migration(migrations.Migration):
    dependencies = [
        ("licenses", "0001_initial"),
        ("subscriptions", "0002_access_event_append_only"),
        APPEND_ONLY_FUNCTION_MIGRATION,
    ]
    operations = [append_only_trigger("licenses_licenseevent")]
