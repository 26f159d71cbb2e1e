"""Billing in the back office: payments, webhook events (re-playable), shortfalls, incidents.

Records are read-only here: money state changes only through the services (webhooks,
reprocess action). dj-stripe registers its own admin for the Stripe objects it mirrors.
"""

from __future__ import annotations

from django.contrib import admin, messages

from billing.errors import WebhookEventNotFailed, WebhookProcessingFailed
from billing.models import Payment, PaymentReversal, ReconciliationIncident, WebhookEvent
from billing.services.webhooks import webhook_event_reprocess


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PaymentReversalInline(admin.TabularInline):
    model = PaymentReversal
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "stripe_object_id", "amount_cents", "requested", "recovered",
                       "shortfall", "created_at", "resolved_at"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "user", "product_kind", "product_code", "amount_cents", "currency",
                    "status", "fulfilled_quantity", "created_at"]
    list_filter = ["status", "product_kind", "flow"]
    search_fields = ["public_id", "user__email", "stripe_checkout_session_id",
                     "stripe_payment_intent_id", "stripe_charge_id"]
    date_hierarchy = "created_at"
    inlines = [PaymentReversalInline]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["stripe_id", "type", "status", "attempts", "deliveries", "received_at",
                    "processed_at"]
    list_filter = ["status", "type"]
    search_fields = ["stripe_id", "type"]
    date_hierarchy = "received_at"
    actions = ["reprocess"]

    @admin.action(description="Re-process the selected failed events")
    def reprocess(self, request, queryset):
        done = failed = skipped = 0
        for event in queryset:
            try:
                webhook_event_reprocess(webhook_event_id=event.pk)
                done += 1
            except WebhookEventNotFailed:
                skipped += 1
            except WebhookProcessingFailed:
                failed += 1
        level = messages.WARNING if failed else messages.SUCCESS
        self.message_user(
            request, f"Re-processed {done}; still failing {failed}; skipped (already done) {skipped}.",
            level,
        )

    def has_change_permission(self, request, obj=None):
        # The change page is a read-only view; the action needs "change" to be offered.
        return request.user.has_perm("billing.change_webhookevent") if obj is None else False


@admin.register(PaymentReversal)
class PaymentReversalAdmin(ReadOnlyAdmin):
    list_display = ["payment", "kind", "requested", "recovered", "shortfall", "created_at",
                    "resolved_at"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["payment__public_id", "stripe_object_id", "payment__user__email"]


@admin.register(ReconciliationIncident)
class ReconciliationIncidentAdmin(ReadOnlyAdmin):
    list_display = ["code", "subject", "status", "times_seen", "detected_at", "last_seen_at"]
    list_filter = ["status", "code"]
    search_fields = ["subject"]
