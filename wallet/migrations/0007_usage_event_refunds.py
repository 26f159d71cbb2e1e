"""A refund"s compensating usage event (`refund_of`, negative `energy_consumed`).

Self-contained (nothing imported from the project). Beyond the field and CHECKs, a trigger
holds what no CHECK can: a compensating event cancels an event of the SAME user that is not
itself a compensation, gives back exactly the points it consumed, and is paid by the credit
that refunds the original"s operation.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


COMPENSATION_SQL = """
CREATE OR REPLACE FUNCTION wallet_usageevent_compensation() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    original wallet_usageevent%ROWTYPE;
BEGIN
    IF NEW.refund_of_id IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT * INTO original FROM wallet_usageevent WHERE id = NEW.refund_of_id;
    IF original.refund_of_id IS NOT NULL OR original.user_id <> NEW.user_id
       OR NEW.energy_consumed <> -original.energy_consumed
       OR NOT EXISTS (SELECT 1 FROM wallet_balanceoperation
                      WHERE id = NEW.operation_id AND refund_of_id = original.operation_id) THEN
        RAISE EXCEPTION 'wallet_usageevent: a compensating event must cancel its original exactly'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER wallet_usageevent_compensation BEFORE INSERT ON wallet_usageevent
    FOR EACH ROW EXECUTE FUNCTION wallet_usageevent_compensation();
"""

DROP_COMPENSATION_SQL = """
DROP TRIGGER IF EXISTS wallet_usageevent_compensation ON wallet_usageevent;
DROP FUNCTION IF EXISTS wallet_usageevent_compensation();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("wallet", "0006_api_key_spend_counter"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="usageevent",
            name="usageevent_energy_gte_0",
        ),
        migrations.RemoveConstraint(
            model_name="usageevent",
            name="usageevent_operation_iff_energy",
        ),
        migrations.AddField(
            model_name="usageevent",
            name="refund_of",
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="refunded_by", to="wallet.usageevent"),
        ),
        migrations.AlterField(
            model_name="usageevent",
            name="energy_consumed",
            field=models.BigIntegerField(default=0, help_text="0 for unlimited users and free actions; negative (the points given back) on a compensating event."),
        ),
        migrations.AddConstraint(
            model_name="usageevent",
            constraint=models.CheckConstraint(condition=models.Q(models.Q(("energy_consumed__gte", 0), ("refund_of__isnull", True)), models.Q(("energy_consumed__lt", 0), ("refund_of__isnull", False)), _connector="OR"), name="usageevent_energy_sign"),
        ),
        migrations.AddConstraint(
            model_name="usageevent",
            constraint=models.CheckConstraint(condition=models.Q(models.Q(("energy_consumed", 0), ("operation__isnull", True)), models.Q(models.Q(("energy_consumed", 0), _negated=True), ("operation__isnull", False)), _connector="OR"), name="usageevent_operation_iff_energy"),
        ),
        migrations.RunSQL(COMPENSATION_SQL, DROP_COMPENSATION_SQL),
    ]
