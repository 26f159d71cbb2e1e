"""Billing in the back office: payments, webhook events (re-playable), shortfalls, incidents.

Records are read-only here: money state changes only through the services (webhooks, the
operator actions below, each audited). dj-stripe registers its own admin for the Stripe
objects it mirrors.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse

from billing import operator
from billing.models import Payment, PaymentReversal, ReconciliationIncident, WebhookEvent, WebhookEventStatus
from phoenix.core import roles
from phoenix.core.admin import OperatorAction, OperatorActionsMixin, ReadOnlyAdminMixin


class PaymentReversalInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PaymentReversal
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "stripe_object_id", "amount_cents", "requested", "recovered",
                       "shortfall", "created_at", "resolved_at"]
    fields = readonly_fields
    show_change_link = True


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["public_id", "user", "product_kind", "product_code", "amount_cents", "currency",
                    "status", "fulfilled_quantity", "created_at"]
    list_filter = ["status", "product_kind", "flow", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=public_id", "user__email", "product_code", "stripe_checkout_session_id",
                     "stripe_payment_intent_id", "stripe_charge_id"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    inlines = [PaymentReversalInline]


@admin.register(WebhookEvent)
class WebhookEventAdmin(OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["stripe_id", "type", "status", "attempts", "deliveries", "received_at",
                    "processed_at"]
    list_filter = ["status", "type", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["stripe_id", "type", "error"]
    date_hierarchy = "received_at"
    actions = ["reprocess_selected"]
    operator_actions = (
        OperatorAction("reprocess", "Re-process event", roles.REPROCESS_WEBHOOK, "run_reprocess",
                       offered_when="is_not_done",
                       description="Dispatch the stored event to its handlers again (they are idempotent)."),
        OperatorAction("reprocess-selected", "Re-process events", roles.REPROCESS_WEBHOOK, "run_reprocess_many",
                       on_object=False,
                       description="Dispatch each selected failed event again; each one is audited."),
    )

    def is_not_done(self, event: WebhookEvent) -> bool:
        return event.status in (WebhookEventStatus.FAILED, WebhookEventStatus.RECEIVED)

    def run_reprocess(self, request, event, data) -> str:
        record = operator.webhook_event_reprocess_by_operator(webhook_event=event, actor=request.user,
                                                              reason=data["reason"])
        return f"{record.stripe_id}: {record.status}" + (f" ({record.error[:200]})" if record.error else "")

    def run_reprocess_many(self, request, events, data) -> str:
        events = [event for event in (events or []) if self.is_not_done(event)]
        if not events:
            return "Nothing to re-process: select failed events from the list first."
        outcomes = [operator.webhook_event_reprocess_by_operator(webhook_event=event, actor=request.user,
                                                                 reason=data["reason"]).status for event in events]
        return f"Re-processed {outcomes.count('processed')}; still failing {outcomes.count('failed')}."

    @admin.action(description="Re-process the selected events (asks for a reason)",
                  permissions=["reprocess"])
    def reprocess_selected(self, request, queryset):
        # Bulk entry point: the reason page, then one audited re-play per event.
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(
            reverse("admin:billing_webhookevent_operator_reprocess-selected") + f"?ids={ids}")

    def has_reprocess_permission(self, request) -> bool:
        return request.user.has_perm(roles.REPROCESS_WEBHOOK)


@admin.register(PaymentReversal)
class PaymentReversalAdmin(OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["payment", "kind", "requested", "recovered", "shortfall", "created_at",
                    "resolved_at", "resolved_by"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter), ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=payment__public_id", "stripe_object_id", "payment__user__email"]
    list_select_related = ["payment", "resolved_by"]
    date_hierarchy = "created_at"
    operator_actions = (
        OperatorAction("settle", "Settle shortfall", roles.RESOLVE_BILLING_INCIDENT, "run_settle",
                       offered_when="is_open",
                       description="Record how the energy that could not be clawed back was settled."),
    )

    def is_open(self, reversal: PaymentReversal) -> bool:
        return reversal.shortfall > 0 and reversal.resolved_at is None

    def run_settle(self, request, reversal, data) -> str:
        operator.payment_shortfall_resolve_by_operator(reversal=reversal, actor=request.user, reason=data["reason"])
        return "Shortfall settled."


@admin.register(ReconciliationIncident)
class ReconciliationIncidentAdmin(OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["code", "subject", "status", "times_seen", "detected_at", "last_seen_at", "resolved_by"]
    list_filter = ["status", "code", ("detected_at", admin.DateFieldListFilter)]
    search_fields = ["subject", "payment__user__email"]
    list_select_related = ["resolved_by"]
    date_hierarchy = "detected_at"
    operator_actions = (
        OperatorAction("resolve", "Resolve incident", roles.RESOLVE_BILLING_INCIDENT, "run_resolve",
                       offered_when="is_open"),
    )

    def is_open(self, incident: ReconciliationIncident) -> bool:
        return incident.status == "open"

    def run_resolve(self, request, incident, data) -> str:
        operator.reconciliation_incident_resolve_by_operator(incident=incident, actor=request.user,
                                                             reason=data["reason"])
        return "Incident resolved."
