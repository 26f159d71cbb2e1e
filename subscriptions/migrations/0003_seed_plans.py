from django.db import migrations

# Prices are admin data; these are the seed values. luna_unlimited comes from DESIGN.md §3;
# the lifetime and pro seat prices are not given by the design notes: placeholders an
# admin sets before selling.
PLANS = [
    {"code": "luna_unlimited", "label": "Luna Unlimited (monthly)", "audience": "individual",
     "kind": "monthly", "price_cents": 2999},
    {"code": "luna_lifetime", "label": "Luna Lifetime", "audience": "individual",
     "kind": "lifetime", "price_cents": 29900},
    {"code": "pro_seat_monthly", "label": "Pro seat license (monthly)", "audience": "pro",
     "kind": "monthly", "price_cents": 2999},
    {"code": "pro_seat_lifetime", "label": "Pro seat license (lifetime)", "audience": "pro",
     "kind": "lifetime", "price_cents": 29900},
]


def forwards(apps, schema_editor):
    Plan = apps.get_model("subscriptions", "Plan")
    for plan in PLANS:
        Plan.objects.get_or_create(code=plan["code"], defaults={**plan, "currency": "EUR"})


def backwards(apps, schema_editor):
    apps.get_model("subscriptions", "Plan").objects.filter(code__in=[p["code"] for p in PLANS]).delete()


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0002_access_event_append_only")]
    operations = [migrations.RunPython(forwards, backwards)]
