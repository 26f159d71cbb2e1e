from django.db import migrations

# License history is never updated or deleted (DESIGN.md §5): enforced by the database.
# The trigger function comes from subscriptions' migration 0002.
SQL = """
CREATE TRIGGER licenses_licenseevent_append_only
    BEFORE UPDATE OR DELETE ON licenses_licenseevent
    FOR EACH ROW EXECUTE FUNCTION subscriptions_reject_mutation();
"""
REVERSE = "DROP TRIGGER IF EXISTS licenses_licenseevent_append_only ON licenses_licenseevent;"


class Migration(migrations.Migration):
    dependencies = [
        ("licenses", "0001_initial"),
        ("subscriptions", "0002_access_event_append_only"),
    ]
    operations = [migrations.RunSQL(SQL, REVERSE)]
