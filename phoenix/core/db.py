"""Database helpers: the prepared cursor of the hot path's own SQL, and the append-only rule
as SQL for runtime code that builds tables outside the migrations (the benchmarks'
throw-away database, ``bench/database.py``).

The migrations do not import this module: core's ``0002`` and each app's ``0002`` carry
their own copy of the same SQL, so editing it here never changes a migration.
"""

from django.db import connection, migrations
from django.db.backends.postgresql.base import CursorDebugWrapper, ServerBindingCursor
from django.db.backends.utils import CursorWrapper


def prepared_cursor():
    """A cursor of Django's connection (the same transaction, and Django's wrappers: statement
    capture, the metrics and tracing hooks) that binds its parameters server-side, so psycopg
    prepares each statement on its connection after `prepare_threshold` runs
    (DB_PREPARED_STATEMENTS): the ledger's, the idempotency store's and the outbox's own
    statements, planned once per connection instead of on every call. The ORM's cursors
    keep Django's client-side binding (some ORM SQL cannot be typed server-side)."""
    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor = ServerBindingCursor(connection.connection)
    return _LoggedPreparedCursor(cursor, connection) if connection.queries_logged else connection.make_cursor(cursor)


class _LoggedPreparedCursor(CursorDebugWrapper):
    """Django's statement log (DEBUG, CaptureQueriesContext) of a prepared cursor: the statement
    with its parameters as Django's own cursors log it (psycopg keeps no text of a run of a
    prepared statement, which Django's log would read)."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params)):
            return CursorWrapper.execute(self, sql, params)

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
