"""Back-office roles, defined here and synced into auth groups.

`support` sees everything and changes nothing; `finance` is support plus the operator
actions (adjust a wallet, run/correct health, release holds, re-process webhooks, refund payments,
suspend/reactivate pro accounts, extend/end a trial). Superusers keep every right.

Django creates the model permissions (and the operator permissions of `Meta.permissions`)
in `post_migrate`; the sync runs from a `post_migrate` receiver right after, on every
`migrate`, so models added later join the roles. The groups are code: a sync resets them
to what is written here.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.db.models import Q

SUPPORT = "support"
FINANCE = "finance"

# Apps whose models support may view: Phoenix's own, plus the Stripe mirror and the
# beat schedules (both shown by their own admins on our site).
PHOENIX_APPS = ("accounts", "core", "outbound", "wallet", "billing", "subscriptions", "licenses")
VIEW_APPS = (*PHOENIX_APPS, "djstripe", "django_celery_beat", "axes")

# The operator permissions are declared on their models' ``Meta.permissions`` (Django creates
# them with the model permissions); a role is only the mapping to what it may do.
ADJUST_WALLET = "wallet.adjust_wallet"
CORRECT_WALLET_WARNING = "wallet.correct_wallet_warning"
RUN_HEALTH_CHECK = "wallet.run_health_check"
RELEASE_HOLD = "wallet.release_hold"
RESOLVE_INCIDENT = "wallet.resolve_incident"
REPROCESS_WEBHOOK = "billing.reprocess_webhookevent"
RESOLVE_BILLING_INCIDENT = "billing.resolve_billing_incident"
REFUND_PAYMENT = "billing.refund_payment"
SUSPEND_PRO_ACCOUNT = "licenses.suspend_proaccount"
MANAGE_TRIAL = "subscriptions.manage_trial"
MANAGE_WEBHOOK_ENDPOINT = "outbound.manage_endpoint"
# Beat schedules: finance may run one now, nobody but a superuser edits, enables or disables
# one (CHANGE_PERIODIC_TASK is in no role). Unlocking an admin login locked by django-axes.
RUN_PERIODIC_TASK = "core.run_periodic_task"
CHANGE_PERIODIC_TASK = "django_celery_beat.change_periodictask"
UNLOCK_ADMIN_LOGIN = "core.unlock_admin_login"

OPERATOR_PERMISSIONS = (
    ADJUST_WALLET, CORRECT_WALLET_WARNING, RUN_HEALTH_CHECK, RELEASE_HOLD, RESOLVE_INCIDENT,
    REPROCESS_WEBHOOK, RESOLVE_BILLING_INCIDENT, REFUND_PAYMENT, SUSPEND_PRO_ACCOUNT, MANAGE_TRIAL,
    MANAGE_WEBHOOK_ENDPOINT, RUN_PERIODIC_TASK, UNLOCK_ADMIN_LOGIN,
)

# role -> (apps whose every model it may view, the "app_label.codename" permissions it has)
ROLES: dict[str, dict] = {
    SUPPORT: {"view_apps": VIEW_APPS, "permissions": ()},
    FINANCE: {"view_apps": VIEW_APPS, "permissions": OPERATOR_PERMISSIONS},
}


def roles_sync(*, apps=global_apps, using: str = "default") -> None:
    """Set each role group's permissions to what ROLES says (idempotent). A permission whose
    model is not migrated yet is skipped: the post_migrate sync adds it later."""
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")

    for role, spec in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        granted = Q(content_type__app_label__in=spec["view_apps"], codename__startswith="view_")
        for dotted in spec["permissions"]:
            app_label, codename = dotted.split(".")
            granted |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(list(Permission.objects.using(using).filter(granted)))


def sync_roles_after_migrate(sender, app_config=None, using="default", **kwargs) -> None:
    """post_migrate receiver: by the time a Phoenix app's signal runs, its model
    permissions exist (auth's receiver is connected first)."""
    if app_config is not None and app_config.label in PHOENIX_APPS:
        roles_sync(using=using)
