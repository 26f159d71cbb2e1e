from django.db import migrations

from phoenix.core.db import APPEND_ONLY_FUNCTION_SQL, DROP_APPEND_ONLY_FUNCTION_SQL


class Migration(migrations.Migration):
    dependencies = [("core", "0001_worker_heartbeat_schedule")]
    operations = [migrations.RunSQL(APPEND_ONLY_FUNCTION_SQL, DROP_APPEND_ONLY_FUNCTION_SQL)]
