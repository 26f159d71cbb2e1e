from django.contrib import admin

from licenses.models import License, LicenseEvent, Membership, PendingAssignment, ProAccount
from subscriptions.admin import ReadOnlyAdmin


class LicenseInline(admin.TabularInline):
    model = License
    extra = 0
    can_delete = False
    fields = ("id", "kind", "status", "assignee", "is_owner_license", "effective_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    can_delete = False
    fields = ("collaborator", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ProAccount)
class ProAccountAdmin(ReadOnlyAdmin):
    list_display = ("owner", "status", "trial_ends_at", "billing_anchor_day", "next_billing_at", "created_at")
    list_filter = ("status",)
    search_fields = ("owner__email", "stripe_subscription_id", "public_id")
    inlines = [LicenseInline, MembershipInline]


@admin.register(License)
class LicenseAdmin(ReadOnlyAdmin):
    list_display = ("id", "pro_account", "kind", "status", "assignee", "is_owner_license", "effective_at")
    list_filter = ("status", "kind", "is_owner_license")
    search_fields = ("assignee__email", "pro_account__owner__email")


@admin.register(PendingAssignment)
class PendingAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("license", "collaborator", "stripe_subscription_id", "created_at")


@admin.register(LicenseEvent)
class LicenseEventAdmin(ReadOnlyAdmin):
    """Every license change (append-only)."""

    list_display = ("created_at", "pro_account", "license_pk", "kind", "from_status", "to_status",
                    "collaborator", "actor", "reference")
    list_filter = ("kind",)
    search_fields = ("pro_account__owner__email", "collaborator__email", "reference")
