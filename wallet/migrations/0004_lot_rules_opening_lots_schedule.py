"""What the energy lots need beyond their models (self-contained: nothing imported from the
project).

- `wallet_lotconsumption` is append-only (core's ``phoenix_append_only()``).
- A lot's identity is frozen: a trigger refuses any UPDATE that changes anything but
  `remaining` and `reserved` (so no lot's life is ever extended, no amount rewritten), and
  any DELETE.
- The validity settings' single row (defaults: 90 days for the welcome grant and the bonus).
- Every existing wallet's balance becomes one `legacy` lot (never expires, consumed like
  paid energy); each pending hold's reservation is written on it, against the hold's freeze.
- The beat schedule of the lot-expiry job (every minute, like the hold expiry).
"""

from django.db import migrations
from django.utils import timezone

LOT_FROZEN_SQL = """
CREATE OR REPLACE FUNCTION wallet_energylot_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'wallet_energylot: DELETE refused (lots are kept forever)'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.wallet_id, NEW.category, NEW.amount, NEW.priority, NEW.expires_at, NEW.operation_id,
        NEW.reference, NEW.price_cents, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.wallet_id, OLD.category, OLD.amount, OLD.priority, OLD.expires_at, OLD.operation_id,
        OLD.reference, OLD.price_cents, OLD.created_at) THEN
        RAISE EXCEPTION 'wallet_energylot: only remaining and reserved may change'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER wallet_energylot_frozen BEFORE UPDATE OR DELETE ON wallet_energylot
    FOR EACH ROW EXECUTE FUNCTION wallet_energylot_frozen();
CREATE TRIGGER wallet_lotconsumption_append_only BEFORE UPDATE OR DELETE ON wallet_lotconsumption
    FOR EACH ROW EXECUTE FUNCTION phoenix_append_only();
"""
LOT_FROZEN_REVERSE_SQL = """
DROP TRIGGER IF EXISTS wallet_lotconsumption_append_only ON wallet_lotconsumption;
DROP TRIGGER IF EXISTS wallet_energylot_frozen ON wallet_energylot;
DROP FUNCTION IF EXISTS wallet_energylot_frozen();
"""


def validity_seed(apps, schema_editor):
    apps.get_model("wallet", "EnergyValidity").objects.get_or_create(
        pk=1, defaults={"welcome_validity_days": 90, "bonus_validity_days": 90})


def opening_lots(apps, schema_editor):
    """One lot per wallet with a balance, holding it all; nothing is lost."""
    Wallet = apps.get_model("wallet", "Wallet")
    EnergyLot = apps.get_model("wallet", "EnergyLot")
    LotConsumption = apps.get_model("wallet", "LotConsumption")
    Hold = apps.get_model("wallet", "Hold")
    BalanceOperation = apps.get_model("wallet", "BalanceOperation")
    now = timezone.now()
    for wallet in Wallet.objects.filter(balance__gt=0).exclude(lots__isnull=False).iterator():
        lot = EnergyLot.objects.create(
            wallet_id=wallet.pk, category="legacy", amount=wallet.balance, remaining=wallet.balance,
            reserved=wallet.held, priority=50, expires_at=None, reference="opening lot", created_at=now,
        )
        for hold in Hold.objects.filter(wallet_id=wallet.pk, status="pending"):
            freeze = BalanceOperation.objects.filter(hold_id=hold.pk, type="freeze").first()
            if freeze is not None:
                LotConsumption.objects.create(lot=lot, operation=freeze, kind="reserve", amount=hold.amount,
                                              created_at=now)


def opening_lots_undo(apps, schema_editor):
    """Going back before lots drops them all (the balances stay on the wallets)."""
    schema_editor.execute("DROP TRIGGER IF EXISTS wallet_lotconsumption_append_only ON wallet_lotconsumption")
    schema_editor.execute("DROP TRIGGER IF EXISTS wallet_energylot_frozen ON wallet_energylot")
    apps.get_model("wallet", "LotConsumption").objects.all().delete()
    apps.get_model("wallet", "EnergyLot").objects.all().delete()


LOT_EXPIRY = "wallet: lot expiry"


def schedule_create(apps, schema_editor):
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=60, period="seconds")
    apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
        name=LOT_EXPIRY, defaults={"task": "wallet.expire_lots", "kwargs": "{}", "enabled": True,
                                   "interval": interval, "crontab": None})


def schedule_delete(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=LOT_EXPIRY).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("wallet", "0003_energy_lots"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(validity_seed, migrations.RunPython.noop),
        # Before the triggers: the opening lots are plain inserts, their undo needs DELETE.
        migrations.RunPython(opening_lots, opening_lots_undo),
        migrations.RunSQL(LOT_FROZEN_SQL, LOT_FROZEN_REVERSE_SQL),
        migrations.RunPython(schedule_create, schedule_delete),
    ]
