"""Wallet admin: the ledger is read-only (corrections go through the services); the
energy catalogues are editable data; incidents can be annotated and resolved."""

from django.contrib import admin
from django.utils import timezone

from wallet.models import BalanceOperation, EnergyAction, EnergyPack, Hold, Incident, IncidentStatus, Wallet


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "balance", "held", "available", "last_seq", "updated_at")
    search_fields = ("user__email", "user__public_id")
    list_select_related = ("user",)

    @admin.display(description="available")
    def available(self, obj: Wallet) -> int:
        return obj.available


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "wallet", "amount", "captured_amount", "status", "action_code", "expires_at", "created_at")
    list_filter = ("status", "source")
    search_fields = ("id", "action_code", "wallet__user__email")


@admin.register(BalanceOperation)
class BalanceOperationAdmin(ReadOnlyAdmin):
    list_display = ("id", "wallet", "seq", "type", "amount", "balance_after", "held_after", "source",
                    "reference", "created_at")
    list_filter = ("type", "source")
    search_fields = ("reference", "idempotency_key", "wallet__user__email")
    date_hierarchy = "created_at"


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ("id", "severity", "code", "wallet", "status", "times_seen", "detected_at", "last_seen_at")
    list_filter = ("status", "severity", "code")
    readonly_fields = ("wallet", "code", "severity", "detail", "correction", "detected_at", "last_seen_at",
                       "times_seen", "resolved_at")
    fields = (*readonly_fields, "status", "resolution_note")
    actions = ["mark_resolved"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Mark selected incidents resolved (write what was done in the note first)")
    def mark_resolved(self, request, queryset):
        updated = queryset.filter(status=IncidentStatus.OPEN).update(
            status=IncidentStatus.RESOLVED, resolved_at=timezone.now()
        )
        self.message_user(request, f"{updated} incident(s) resolved.")


@admin.register(EnergyAction)
class EnergyActionAdmin(admin.ModelAdmin):
    list_display = ("code", "label", "category", "cost", "source_app", "is_active")
    list_editable = ("cost", "is_active")
    list_filter = ("category", "source_app", "is_active")
    search_fields = ("code", "label")


@admin.register(EnergyPack)
class EnergyPackAdmin(admin.ModelAdmin):
    list_display = ("code", "label", "price_cents", "currency", "energy_points", "first_purchase_bonus_percent",
                    "badge", "is_unlimited", "is_active")
    list_editable = ("price_cents", "energy_points", "is_active")
    search_fields = ("code", "label")
