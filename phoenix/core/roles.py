"""Back-office roles (DESIGN.md §9), defined here and synced into auth groups.

`support` sees everything and changes nothing; `finance` is support plus the operator
actions (adjust a wallet, run/correct health, release holds, re-process webhooks,
suspend/reactivate pro accounts). Superusers keep every right.

Django creates model permissions in `post_migrate`, after the migrations ran, so the
sync runs twice: from a data migration (which creates the missing permissions itself)
and from a `post_migrate` receiver, so models added later join the roles on the next
`migrate`. The groups are code: a sync resets them to what is written here.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.db.models import Q

SUPPORT = "support"
FINANCE = "finance"

# Apps whose models support may view: Phoenix's own, plus the Stripe mirror and the
# beat schedules (both shown by their own admins on our site).
PHOENIX_APPS = ("accounts", "core", "wallet", "billing", "subscriptions", "licenses")
VIEW_APPS = (*PHOENIX_APPS, "djstripe", "django_celery_beat")

# (app_label, model, codename, name): operator-action permissions, not tied to a model's
# CRUD, so they are declared here rather than in a model's Meta (no schema migration).
OPERATOR_PERMISSIONS = (
    ("wallet", "wallet", "adjust_wallet", "Can adjust a wallet (credit or debit) from the admin"),
    ("wallet", "wallet", "correct_wallet_warning", "Can auto-correct a wallet health WARNING"),
    ("wallet", "incident", "run_health_check", "Can run the wallet health check now"),
    ("wallet", "hold", "release_hold", "Can release a stuck hold"),
    ("wallet", "incident", "resolve_incident", "Can resolve a wallet incident"),
    ("billing", "webhookevent", "reprocess_webhookevent", "Can re-process a failed webhook event"),
    ("billing", "reconciliationincident", "resolve_billing_incident",
     "Can resolve reconciliation incidents and payment shortfalls"),
    ("licenses", "proaccount", "suspend_proaccount", "Can suspend or reactivate a pro account"),
)

ADJUST_WALLET = "wallet.adjust_wallet"
CORRECT_WALLET_WARNING = "wallet.correct_wallet_warning"
RUN_HEALTH_CHECK = "wallet.run_health_check"
RELEASE_HOLD = "wallet.release_hold"
RESOLVE_INCIDENT = "wallet.resolve_incident"
REPROCESS_WEBHOOK = "billing.reprocess_webhookevent"
RESOLVE_BILLING_INCIDENT = "billing.resolve_billing_incident"
SUSPEND_PRO_ACCOUNT = "licenses.suspend_proaccount"

ROLES: dict[str, dict] = {
    SUPPORT: {"view_apps": VIEW_APPS, "operator": ()},
    FINANCE: {"view_apps": VIEW_APPS, "operator": tuple(codename for *_, codename, _ in OPERATOR_PERMISSIONS)},
}


def roles_sync(*, apps=global_apps, using: str = "default") -> None:
    """Create the operator permissions and set each role group's permissions (idempotent)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")

    for app_label, model, codename, name in OPERATOR_PERMISSIONS:
        content_type = ContentType.objects.using(using).filter(app_label=app_label, model=model).first()
        if content_type is None:  # that app is not migrated yet: the next sync adds it
            continue
        Permission.objects.using(using).get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )

    for role, spec in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        permissions = Permission.objects.using(using).filter(
            Q(content_type__app_label__in=spec["view_apps"], codename__startswith="view_")
            | Q(codename__in=spec["operator"])
        )
        group.permissions.set(list(permissions))


def sync_roles_after_migrate(sender, app_config=None, using="default", **kwargs) -> None:
    """post_migrate receiver: by the time a Phoenix app's signal runs, its model
    permissions exist (auth's receiver is connected first)."""
    if app_config is not None and app_config.label in PHOENIX_APPS:
        roles_sync(using=using)


def permissions_create_for_migration(apps, schema_editor) -> None:
    """For a data migration: Django's model permissions do not exist yet mid-migrate."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    roles_sync(apps=apps, using=schema_editor.connection.alias)
