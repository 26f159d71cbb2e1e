from django.contrib import admin
from django.utils.html import format_html, format_html_join

from licenses import operator
from licenses.models import (
    Invitation,
    License,
    LicenseEvent,
    Membership,
    PendingAssignment,
    ProAccount,
    ProAccountStatus,
)
from phoenix.core import roles
from phoenix.core.admin import OperatorAction, OperatorActionsMixin, OperatorForm, ReadOnlyAdminMixin
from phoenix.core.visibility import activity_recent

# The latest actions of each collaborator shown on the pro account's page (the API pages them all).
ADMIN_ACTIVITY_ROWS = 5


class LicenseInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = License
    extra = 0
    can_delete = False
    fields = ("id", "kind", "status", "assignee", "is_owner_license", "effective_at")
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("pro_account__owner", "assignee")  # each row's name


class MembershipInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Membership
    extra = 0
    can_delete = False
    fields = ("collaborator", "created_at", "activity")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("pro_account__owner", "collaborator")  # each row's name

    @admin.display(description="Activity the pro sees")
    def activity(self, membership: Membership) -> str:
        """What the owner sees at GET /pro/collaborators/<id>/activity (the same rule and
        events, through phoenix.core.visibility): the latest few, or why it is hidden."""
        if membership.pk is None:
            return "-"
        events = activity_recent(viewer=membership.pro_account.owner, subject=membership.collaborator,
                                 limit=ADMIN_ACTIVITY_ROWS)
        if events is None:
            return "Hidden: no premium access now."
        if not events:
            return "Visible; no action yet."
        return format_html("<ul>{}</ul>", format_html_join(
            "", "<li>{} · {} ({}, {}) · {} energy</li>",
            ((e["created_at"].strftime("%Y-%m-%d %H:%M"), e["label"] or e["action"], e["category"] or "-",
              e["source_app"] or "-", e["energy_consumed"]) for e in events)))


class ProAccountSuspendForm(OperatorForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].help_text = ("Why (ticket, unpaid invoice, ...). Monthly seats are suspended and "
                                           "their holders lose access until reactivation.")


@admin.register(ProAccount)
class ProAccountAdmin(OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("owner", "status", "trial_ends_at", "billing_anchor_day", "next_billing_at", "created_at")
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("owner__email", "stripe_subscription_id", "=public_id")
    list_select_related = ("owner",)
    inlines = [LicenseInline, MembershipInline]
    operator_actions = (
        OperatorAction("suspend", "Suspend account", roles.SUSPEND_PRO_ACCOUNT, "run_suspend", ProAccountSuspendForm,
                       offered_when="is_active"),
        OperatorAction("reactivate", "Reactivate account", roles.SUSPEND_PRO_ACCOUNT, "run_reactivate",
                       offered_when="is_suspended",
                       description="Suspended seats become active again (or available when unassigned)."),
    )

    def is_active(self, account: ProAccount) -> bool:
        return account.status == ProAccountStatus.ACTIVE

    def is_suspended(self, account: ProAccount) -> bool:
        return account.status == ProAccountStatus.SUSPENDED

    def run_suspend(self, request, account, data) -> str:
        operator.pro_account_set_suspended(pro_account=account, suspended=True, actor=request.user,
                                           reason=data["reason"])
        return "Pro account suspended."

    def run_reactivate(self, request, account, data) -> str:
        operator.pro_account_set_suspended(pro_account=account, suspended=False, actor=request.user,
                                           reason=data["reason"])
        return "Pro account reactivated."


@admin.register(License)
class LicenseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "pro_account", "kind", "status", "assignee", "is_owner_license", "effective_at")
    list_filter = ("status", "kind", "is_owner_license", ("created_at", admin.DateFieldListFilter))
    search_fields = ("assignee__email", "pro_account__owner__email", "=public_id")
    list_select_related = ("pro_account__owner", "assignee")


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pro_account", "collaborator", "created_at")
    search_fields = ("collaborator__email", "pro_account__owner__email")
    list_select_related = ("pro_account__owner", "collaborator")


@admin.register(PendingAssignment)
class PendingAssignmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("license", "collaborator", "stripe_subscription_id", "created_at")
    list_select_related = ("license__pro_account__owner", "collaborator")
    search_fields = ("collaborator__email", "stripe_subscription_id")


@admin.register(LicenseEvent)
class LicenseEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every license change (append-only)."""

    list_display = ("created_at", "pro_account", "license_pk", "kind", "from_status", "to_status",
                    "collaborator", "actor", "reference")
    list_filter = ("kind", ("event_time", admin.DateFieldListFilter))
    search_fields = ("pro_account__owner__email", "collaborator__email", "actor__email", "reference", "=license_pk")
    list_select_related = ("pro_account__owner", "collaborator", "actor")
    date_hierarchy = "created_at"


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "pro_account", "email", "status", "expires_at", "responded_at",
                     "premium_cancel_consent")
    list_filter = ("status", "premium_cancel_consent")
    search_fields = ("email", "public_id")
    list_select_related = ("pro_account__owner",)
