"""The append-only rule as SQL, for runtime code that builds tables outside the migrations
(the benchmarks' throw-away database, ``bench/database.py``).

The migrations do not import this module: core's ``0002`` and each app's ``0002`` carry
their own copy of the same SQL, so editing it here never changes a migration.
"""

from django.db import migrations

# One trigger function for every append-only (audit) table (core's migration 0002 creates
# it in the real database); each table gets its own trigger through `append_only_trigger`.
APPEND_ONLY_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION phoenix_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused (write a correcting row instead)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END;
$$;
"""


def append_only_trigger(table: str) -> migrations.RunSQL:
    """A migration operation: PostgreSQL refuses UPDATE and DELETE on `table`.

    TRUNCATE is not covered: it needs table ownership, which the application role should
    not have in production (the test runner uses it to reset tables).
    """
    trigger = f"{table}_append_only"
    return migrations.RunSQL(
        f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION phoenix_append_only();",
        f"DROP TRIGGER IF EXISTS {trigger} ON {table};",
    )
