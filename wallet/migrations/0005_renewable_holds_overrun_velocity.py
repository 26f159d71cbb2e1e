"""Renewable holds, the commit true-up's cap, the spend-velocity breaker (issue 18).

Hand-written parts at the end (self-contained: nothing imported from the project):
- `wallet_holdextension` is append-only (core's ``phoenix_append_only()``);
- the breaker's default row: 20 000 points and 2 000 actions (unlimited users' fair use)
  per hour, far above any real user's hour and far below what a leaked key burns.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('wallet', '0004_lot_rules_opening_lots_schedule'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='HoldExtension',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('expires_at_before', models.DateTimeField()),
                ('expires_at_after', models.DateTimeField()),
                ('source', models.CharField(choices=[('api', 'API'), ('stripe', 'Stripe'), ('admin', 'Admin'), ('system', 'System')], max_length=16)),
                ('idempotency_key', models.CharField(blank=True, max_length=128, null=True)),
                ('created_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='SpendCounter',
            fields=[
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, primary_key=True, related_name='+', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('window_start', models.DateTimeField()),
                ('energy', models.BigIntegerField(default=0)),
                ('actions', models.PositiveIntegerField(default=0)),
                ('updated_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='SpendVelocityLimit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('window_seconds', models.PositiveIntegerField(default=3600)),
                ('max_energy', models.BigIntegerField(blank=True, null=True)),
                ('max_actions', models.PositiveIntegerField(blank=True, null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.CreateModel(
            name='SpendVelocityOverride',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('max_energy', models.BigIntegerField(blank=True, null=True)),
                ('max_actions', models.PositiveIntegerField(blank=True, null=True)),
                ('note', models.CharField(blank=True, default='', max_length=255)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.AddField(
            model_name='energyaction',
            name='overrun_cap_percent',
            field=models.PositiveIntegerField(default=0, help_text='A commit may take up to this % more than the hold (a true-up); 0: never more.'),
        ),
        migrations.AddField(
            model_name='hold',
            name='max_expires_at',
            field=models.DateTimeField(blank=True, help_text='The hold never lives past this.', null=True),
        ),
        migrations.AddField(
            model_name='hold',
            name='overrun_amount',
            field=models.BigIntegerField(blank=True, help_text='Taken beyond the hold at commit.', null=True),
        ),
        migrations.AddField(
            model_name='hold',
            name='ttl_seconds',
            field=models.PositiveIntegerField(blank=True, help_text='The TTL an extend renews by.', null=True),
        ),
        migrations.AddConstraint(
            model_name='energyaction',
            constraint=models.CheckConstraint(condition=models.Q(('overrun_cap_percent__lte', 1000)), name='energyaction_overrun_cap_percent_lte_1000'),
        ),
        migrations.AddConstraint(
            model_name='hold',
            constraint=models.CheckConstraint(condition=models.Q(('max_expires_at__isnull', True), ('expires_at__lte', models.F('max_expires_at')), _connector='OR'), name='hold_expires_within_max_lifetime'),
        ),
        migrations.AddConstraint(
            model_name='hold',
            constraint=models.CheckConstraint(condition=models.Q(('overrun_amount__isnull', True), models.Q(('captured_amount', models.F('amount')), ('overrun_amount__gt', 0), ('status', 'captured')), _connector='OR'), name='hold_overrun_only_on_full_capture'),
        ),
        migrations.AddField(
            model_name='holdextension',
            name='hold',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='extensions', to='wallet.hold'),
        ),
        migrations.AddConstraint(
            model_name='spendcounter',
            constraint=models.CheckConstraint(condition=models.Q(('energy__gte', 0)), name='spendcounter_energy_gte_0'),
        ),
        migrations.AddConstraint(
            model_name='spendvelocitylimit',
            constraint=models.CheckConstraint(condition=models.Q(('id', 1)), name='spendvelocitylimit_single_row'),
        ),
        migrations.AddConstraint(
            model_name='spendvelocitylimit',
            constraint=models.CheckConstraint(condition=models.Q(('window_seconds__gte', 1)), name='spendvelocitylimit_window_gte_1'),
        ),
        migrations.AddConstraint(
            model_name='spendvelocitylimit',
            constraint=models.CheckConstraint(condition=models.Q(('max_energy__isnull', True), ('max_energy__gte', 0), _connector='OR'), name='spendvelocitylimit_max_energy_gte_0'),
        ),
        migrations.AddField(
            model_name='spendvelocityoverride',
            name='user',
            field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddConstraint(
            model_name='holdextension',
            constraint=models.CheckConstraint(condition=models.Q(('expires_at_after__gte', models.F('expires_at_before'))), name='holdextension_never_shortens'),
        ),
        migrations.AddConstraint(
            model_name='holdextension',
            constraint=models.UniqueConstraint(fields=('hold', 'idempotency_key'), name='holdextension_unique_hold_key'),
        ),
        migrations.AddConstraint(
            model_name='holdextension',
            constraint=models.CheckConstraint(condition=models.Q(('source__in', ['api', 'stripe', 'admin', 'system'])), name='holdextension_source_valid'),
        ),
        migrations.AddConstraint(
            model_name='spendvelocityoverride',
            constraint=models.CheckConstraint(condition=models.Q(('max_energy__isnull', True), ('max_energy__gte', 0), _connector='OR'), name='spendvelocityoverride_max_energy_gte_0'),
        ),
        migrations.RunSQL(
            "CREATE TRIGGER wallet_holdextension_append_only BEFORE UPDATE OR DELETE ON wallet_holdextension "
            "FOR EACH ROW EXECUTE FUNCTION phoenix_append_only();",
            "DROP TRIGGER IF EXISTS wallet_holdextension_append_only ON wallet_holdextension;",
        ),
        migrations.RunSQL(
            "INSERT INTO wallet_spendvelocitylimit (id, window_seconds, max_energy, max_actions, updated_at) "
            "VALUES (1, 3600, 20000, 2000, now()) ON CONFLICT (id) DO NOTHING;",
            "DELETE FROM wallet_spendvelocitylimit WHERE id = 1;",
        ),
    ]
