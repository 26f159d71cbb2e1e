from django.contrib import admin

from phoenix.core.admin import ReadOnlyAdminMixin
from subscriptions.models import Access, AccessEvent, Plan


class AccessEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AccessEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "from_type", "to_type", "event_time", "reference")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("access__user")  # each row's name


@admin.register(Access)
class AccessAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "type", "license_status", "trial_ends_at", "current_period_end",
                    "cancel_at_period_end", "updated_at")
    list_filter = ("type", "license_status", "cancel_at_period_end", ("updated_at", admin.DateFieldListFilter))
    search_fields = ("user__email", "=user__public_id", "stripe_subscription_id")
    list_select_related = ("user",)
    inlines = [AccessEventInline]


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "access", "kind", "from_type", "to_type", "event_time", "reference")
    list_filter = ("kind", "to_type", ("event_time", admin.DateFieldListFilter))
    search_fields = ("access__user__email", "=access__user__public_id", "reference")
    list_select_related = ("access__user",)
    date_hierarchy = "created_at"


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    # Prices are admin data.
    list_display = ("code", "label", "audience", "kind", "price_cents", "currency", "is_active")
    list_filter = ("audience", "kind", "is_active")
    search_fields = ("code", "label")
