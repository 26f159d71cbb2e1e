"""What the wallet's database holds beyond its models (self-contained: nothing imported from
the project, see core's 0002).

- Append-only tables: a row-level trigger refuses UPDATE and DELETE on the
  balance operations and on the usage event store, whoever issues them (ORM, admin, psql).
  A correction is a new row. The trigger function is core's ``phoenix_append_only()``.
- The energy catalogues (the seed values), as data an admin then edits. Re-running (or a row
  an admin already changed) keeps the admin's values: rows are only created when their code
  is missing. ``seed`` is also called by the root conftest for transactional tests.
- The beat schedules of the wallet jobs; editable afterwards in the admin.
"""

from django.db import migrations

APPEND_ONLY_TABLES = ("wallet_balanceoperation", "wallet_usageevent")


def append_only_trigger(table: str) -> migrations.RunSQL:
    trigger = f"{table}_append_only"
    return migrations.RunSQL(
        f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION phoenix_append_only();",
        f"DROP TRIGGER IF EXISTS {trigger} ON {table};",
    )


# (code, label, category, cost, source app). Seed 000 announces 20 actions but lists 19.
ACTIONS = [
    ("conseil_rapide", "Conseil rapide", "simple", 5, "any"),
    ("correction_ponctuelle", "Correction ponctuelle", "simple", 5, "any"),
    ("format_lettre", "Format lettre", "simple", 8, "letters"),
    ("verification_format", "Vérification format", "simple", 3, "any"),
    ("lettre_motivation", "Lettre de motivation", "medium", 15, "letters"),
    ("optimisation_cv", "Optimisation CV", "medium", 12, "cv"),
    ("analyse_offre", "Analyse d'offre", "medium", 10, "any"),
    ("analyse_cv_complete", "Analyse CV complète", "complex", 25, "cv"),
    ("mirror_match", "Mirror Match", "complex", 30, "cv"),
    ("transition_carriere", "Transition de carrière", "complex", 35, "any"),
    ("strategie_candidature", "Stratégie de candidature", "complex", 35, "letters"),
    ("audit_complet_profil", "Audit complet du profil", "premium", 45, "cv"),
    ("plan_reconversion", "Plan de reconversion", "premium", 50, "letters"),
    ("simulation_entretien", "Simulation d'entretien", "premium", 40, "cv"),
    ("luna_conversation", "Conversation avec Luna", "luna", 0, "luna"),
    ("luna_conseil", "Conseil de Luna", "luna", 5, "luna"),
    ("luna_optimisation", "Optimisation par Luna", "luna", 12, "luna"),
    ("luna_analyse", "Analyse par Luna", "luna", 15, "luna"),
    ("luna_strategie", "Stratégie avec Luna", "luna", 25, "luna"),
]
# (code, label, price in cents, currency, points, first-purchase bonus %, badge, unlimited)
PACKS = [
    ("cafe_luna", "Café Luna", 299, "EUR", 100, 10, "", False),
    ("petit_dej_luna", "Petit-déj Luna", 599, "EUR", 100, 0, "popular", False),
    ("repas_luna", "Repas Luna", 999, "EUR", 100, 0, "best_deal", False),
    # Monthly; it is the PREMIUM plan (subscriptions), no points are credited.
    ("luna_unlimited", "Luna Unlimited", 2999, "EUR", 0, 0, "", True),
]


def seed(apps, schema_editor):
    EnergyAction = apps.get_model("wallet", "EnergyAction")
    EnergyPack = apps.get_model("wallet", "EnergyPack")
    for code, label, category, cost, source_app in ACTIONS:
        EnergyAction.objects.get_or_create(
            code=code, defaults={"label": label, "category": category, "cost": cost, "source_app": source_app}
        )
    for code, label, price_cents, currency, points, bonus, badge, unlimited in PACKS:
        EnergyPack.objects.get_or_create(
            code=code,
            defaults={
                "label": label, "price_cents": price_cents, "currency": currency, "energy_points": points,
                "first_purchase_bonus_percent": bonus, "badge": badge, "is_unlimited": unlimited,
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("wallet", "EnergyAction").objects.filter(code__in=[a[0] for a in ACTIONS]).delete()
    apps.get_model("wallet", "EnergyPack").objects.filter(code__in=[p[0] for p in PACKS]).delete()


HEALTH = "wallet: health check"
EXPIRY = "wallet: hold expiry"


def schedules_create(apps, schema_editor):
    """Upsert both beat schedules (the health check hourly at minute 7, hold expiry every
    minute); operators may edit or disable them in the admin."""
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = apps.get_model("django_celery_beat", "CrontabSchedule").objects.get_or_create(
        minute="7", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=60, period="seconds"
    )
    for name, task, schedule in (
        (HEALTH, "wallet.health_check", {"crontab": crontab, "interval": None}),
        (EXPIRY, "wallet.expire_holds", {"crontab": None, "interval": interval}),
    ):
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "kwargs": "{}", "enabled": True, **schedule}
        )


def schedules_delete(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=(HEALTH, EXPIRY)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("wallet", "0001_initial"),
        ("core", "0002_append_only_function_heartbeat"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        *(append_only_trigger(table) for table in APPEND_ONLY_TABLES),
        migrations.RunPython(seed, unseed),
        migrations.RunPython(schedules_create, schedules_delete),
    ]
