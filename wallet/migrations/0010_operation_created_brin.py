"""A BRIN index on balance operations' created_at (the rollup job's and the dashboard's recent
reads), built CONCURRENTLY: a live ledger keeps taking writes while it is built."""

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("wallet", "0009_operation_rollup")]

    operations = [
        AddIndexConcurrently(
            model_name="balanceoperation",
            index=django.contrib.postgres.indexes.BrinIndex(fields=["created_at"], name="walletop_created_brin",
                                                            pages_per_range=32),
        ),
    ]
