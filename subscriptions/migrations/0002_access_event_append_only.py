from django.db import migrations

# Audit rows are never updated or deleted (DESIGN.md §2/§5): enforced by the database.
SQL = """
CREATE OR REPLACE FUNCTION subscriptions_reject_mutation() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER subscriptions_accessevent_append_only
    BEFORE UPDATE OR DELETE ON subscriptions_accessevent
    FOR EACH ROW EXECUTE FUNCTION subscriptions_reject_mutation();
"""

REVERSE = """
DROP TRIGGER IF EXISTS subscriptions_accessevent_append_only ON subscriptions_accessevent;
DROP FUNCTION IF EXISTS subscriptions_reject_mutation();
"""


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
