from django.contrib import admin

from phoenix.core.models import AdminAction


class ReadOnlyAdminMixin:
    """Audit tables: visible, searchable, never written through the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AdminAction)
class AdminActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "target_type", "target_id", "target_repr", "reason")
    list_filter = ("action", "target_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("reason", "target_id", "target_repr", "actor__email")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)
