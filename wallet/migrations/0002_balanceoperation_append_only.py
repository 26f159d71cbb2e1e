"""Balance operations are append-only, enforced by PostgreSQL itself (DESIGN.md §2).

A row-level trigger refuses UPDATE and DELETE, whoever issues them (ORM, admin, psql). A
correction is a new operation.
"""

from django.db import migrations

from phoenix.core.db import APPEND_ONLY_FUNCTION_MIGRATION, append_only_trigger


class Migration(migrations.Migration):
    dependencies = [("wallet", "0001_initial"), APPEND_ONLY_FUNCTION_MIGRATION]
    operations = [append_only_trigger("wallet_balanceoperation")]
