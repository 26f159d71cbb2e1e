"""Balance operations are append-only, enforced by PostgreSQL itself (DESIGN.md §2).

A row-level trigger refuses UPDATE and DELETE, whoever issues them (ORM, admin, psql). A
correction is a new operation. (TRUNCATE is not covered: it needs table ownership, which
the application role should not have in production; the test runner uses it to reset.)
"""

from django.db import migrations

FORWARDS = """
CREATE FUNCTION wallet_balanceoperation_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'wallet_balanceoperation is append-only: % refused (write a correcting operation instead)', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER wallet_balanceoperation_append_only
    BEFORE UPDATE OR DELETE ON wallet_balanceoperation
    FOR EACH ROW EXECUTE FUNCTION wallet_balanceoperation_append_only();
"""

BACKWARDS = """
DROP TRIGGER IF EXISTS wallet_balanceoperation_append_only ON wallet_balanceoperation;
DROP FUNCTION IF EXISTS wallet_balanceoperation_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("wallet", "0001_initial")]
    operations = [migrations.RunSQL(FORWARDS, BACKWARDS)]
