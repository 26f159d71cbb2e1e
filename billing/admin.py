"""Billing in the back office: payments, webhook events (re-playable), shortfalls, incidents.

Records are read-only here: money state changes only through the services (webhooks, the
operator actions below, each audited). Of dj-stripe's admin, only the mirrored objects an
operator needs stay (the "Stripe mirror" group), read-only; the rest is unregistered. A
payment links to its mirror rows, and those rows link back to the payment; the access and pro
account pages (subscriptions' and licenses' admins, re-registered here with one extra field,
as those apps know nothing of Stripe) link to their mirrored subscription, and it back to them.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join
from djstripe import models as djstripe_models

from billing import operator
from billing.models import (
    Payment,
    PaymentRefund,
    PaymentReversal,
    ReconciliationIncident,
    WebhookEvent,
    WebhookEventStatus,
)
from billing.selectors import SHORTFALL_CODE
from licenses.models import ProAccount
from phoenix.core import roles
from phoenix.core.admin import (
    CsvExportMixin,
    IntentKeyedForm,
    OperatorAction,
    OperatorActionsMixin,
    ReadOnlyAdminMixin,
    json_pretty,
    runbook_section,
)
from phoenix.core.admin_scale import ScaleAdminMixin
from subscriptions.models import Access


class PaymentReversalInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PaymentReversal
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "stripe_object_id", "amount_cents", "requested", "recovered",
                       "shortfall", "created_at", "resolved_at"]
    fields = readonly_fields
    show_change_link = True


class PaymentRefundInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PaymentRefund
    extra = 0
    can_delete = False
    readonly_fields = ["stripe_refund_id", "amount_cents", "currency", "stripe_reason", "stripe_status",
                       "requested_by", "reason", "created_at"]
    fields = readonly_fields
    verbose_name_plural = "refunds requested from the admin"


class PaymentRefundForm(IntentKeyedForm):
    amount = forms.DecimalField(min_value=Decimal("0.01"), max_digits=12, decimal_places=2,
                                help_text="In the payment's currency (e.g. 2.99); at most what is left to refund.")
    stripe_reason = forms.ChoiceField(
        required=False, label="Reason given to Stripe",
        choices=[("", "(none)")] + [(r, r.replace("_", " ")) for r in operator.STRIPE_REFUND_REASONS])

    field_order = ["amount", "stripe_reason", "reason"]


@admin.register(Payment)
class PaymentAdmin(CsvExportMixin, OperatorActionsMixin, ScaleAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    export_columns = (
        ("public_id", lambda p: p.public_id), ("created_at", lambda p: p.created_at),
        ("user_email", lambda p: p.user.email), ("flow", lambda p: p.flow), ("product_kind", lambda p: p.product_kind),
        ("product_code", lambda p: p.product_code), ("amount_cents", lambda p: p.amount_cents),
        ("amount_refunded_cents", lambda p: p.amount_refunded_cents), ("currency", lambda p: p.currency),
        ("status", lambda p: p.status), ("disputed_at", lambda p: p.disputed_at),
        ("fulfilled_quantity", lambda p: p.fulfilled_quantity),
        ("stripe_payment_intent_id", lambda p: p.stripe_payment_intent_id),
        ("stripe_checkout_session_id", lambda p: p.stripe_checkout_session_id),
        ("stripe_charge_id", lambda p: p.stripe_charge_id),
    )
    list_display = ["public_id", "user", "product_kind", "product_code", "amount_cents", "currency",
                    "status", "fulfilled_quantity", "created_at"]
    list_filter = ["status", "product_kind", "flow", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["public_id", "user__email", "stripe_checkout_session_id", "stripe_payment_intent_id"]
    list_select_related = ["user"]
    sortable_by = []
    inlines = [PaymentRefundInline, PaymentReversalInline]
    readonly_fields = ["stripe_mirror"]
    operator_actions = (
        OperatorAction("refund", "Refund through Stripe", roles.REFUND_PAYMENT, "run_refund", PaymentRefundForm,
                       intent_keyed=True, offered_when="is_refundable", initial_from="refund_initial",
                       description="Refund all or part of the payment at Stripe. The energy (or access) it "
                                   "bought is clawed back, in proportion, when Stripe's charge.refunded webhook "
                                   "arrives: once, however often Stripe delivers it."),
    )

    def is_refundable(self, payment: Payment) -> bool:
        return operator.payment_refundable_cents(payment) > 0

    def refund_initial(self, payment: Payment) -> dict:
        return {"amount": Decimal(operator.payment_refundable_cents(payment)) / 100}

    def run_refund(self, request, payment, data) -> str:
        refund = operator.payment_refund_by_operator(
            payment=payment, amount_cents=int(data["amount"] * 100), stripe_reason=data["stripe_reason"],
            actor=request.user, reason=data["reason"], intent_key=data["intent_key"])
        return (f"Refund {refund.stripe_refund_id} of {data['amount']} {refund.currency.upper()} sent to Stripe "
                f"({refund.stripe_status}). The clawback is applied when Stripe's charge.refunded arrives.")

    @admin.display(description="Stripe mirror")
    def stripe_mirror(self, payment: Payment):
        rows = [row for row in (payment.mirror_checkout_session(), payment.mirror_payment_intent(),
                                payment.mirror_charge()) if row is not None]
        if not rows:
            return "not mirrored yet"
        return format_html_join(", ", '<a href="{}">{}</a>', ((_mirror_url(row), row.id) for row in rows))


def _mirror_url(row) -> str:
    return reverse(f"admin:djstripe_{row._meta.model_name}_change", args=[row.pk])


@admin.register(WebhookEvent)
class WebhookEventAdmin(OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["stripe_id", "type", "status", "attempts", "deliveries", "received_at",
                    "processed_at"]
    list_filter = ["status", "type", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["stripe_id", "type", "error"]
    date_hierarchy = "received_at"
    fields = ["stripe_id", "type", "livemode", "api_version", "stripe_created", "status", "error", "attempts",
              "deliveries", "received_at", "last_attempt_at", "processed_at", "payload_pretty"]
    readonly_fields = ["payload_pretty"]
    actions = ["reprocess_selected"]
    operator_actions = (
        OperatorAction("reprocess", "Re-process event", roles.REPROCESS_WEBHOOK, "run_reprocess",
                       offered_when="is_not_done",
                       description="Dispatch the stored event to its handlers again (they are idempotent)."),
        OperatorAction("reprocess-selected", "Re-process events", roles.REPROCESS_WEBHOOK, "run_reprocess_many",
                       on_object=False,
                       description="Dispatch each selected failed event again; each one is audited."),
    )

    @admin.display(description="payload")
    def payload_pretty(self, event: WebhookEvent):
        return json_pretty(event.payload)

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


@admin.register(PaymentRefund)
class PaymentRefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Refunds operators asked Stripe for (the *Refund through Stripe* action on a payment)."""

    list_display = ["stripe_refund_id", "payment", "amount_cents", "currency", "stripe_status", "requested_by",
                    "created_at"]
    list_filter = ["stripe_status", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=stripe_refund_id", "=payment__public_id", "=payment__user__email"]
    list_select_related = ["payment__user", "requested_by"]


@admin.register(PaymentReversal)
class PaymentReversalAdmin(OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["payment", "kind", "requested", "recovered", "shortfall", "created_at",
                    "resolved_at", "resolved_by"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter), ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=payment__public_id", "stripe_object_id", "payment__user__email"]
    list_select_related = ["payment__user", "resolved_by"]
    date_hierarchy = "created_at"
    readonly_fields = ["runbook"]
    operator_actions = (
        OperatorAction("settle", "Settle shortfall", roles.RESOLVE_BILLING_INCIDENT, "run_settle",
                       offered_when="is_open",
                       description="Record how the energy that could not be clawed back was settled."),
    )

    def is_open(self, reversal: PaymentReversal) -> bool:
        return reversal.shortfall > 0 and reversal.resolved_at is None

    @admin.display(description="runbook")
    def runbook(self, reversal: PaymentReversal):
        if reversal.shortfall == 0:
            return "Nothing to settle: the reversal clawed back all its energy."
        return runbook_section(SHORTFALL_CODE)

    def run_settle(self, request, reversal, data) -> str:
        operator.payment_shortfall_resolve_by_operator(reversal=reversal, actor=request.user, reason=data["reason"])
        return "Shortfall settled."


@admin.register(ReconciliationIncident)
class ReconciliationIncidentAdmin(CsvExportMixin, OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    export_columns = (
        ("id", lambda i: i.pk), ("detected_at", lambda i: i.detected_at), ("last_seen_at", lambda i: i.last_seen_at),
        ("code", lambda i: i.code), ("subject", lambda i: i.subject), ("status", lambda i: i.status),
        ("payment_id", lambda i: i.payment_id), ("times_seen", lambda i: i.times_seen),
        ("detail", lambda i: json.dumps(i.detail, sort_keys=True)), ("resolved_at", lambda i: i.resolved_at),
    )
    list_display = ["code", "subject", "status", "times_seen", "detected_at", "last_seen_at", "resolved_by"]
    list_filter = ["status", "code", ("detected_at", admin.DateFieldListFilter)]
    search_fields = ["subject", "payment__user__email"]
    list_select_related = ["resolved_by"]
    date_hierarchy = "detected_at"
    fields = ["code", "subject", "payment", "status", "detail_pretty", "detected_at", "last_seen_at", "times_seen",
              "resolved_at", "resolved_by", "resolution_note", "runbook"]
    readonly_fields = ["detail_pretty", "runbook"]
    operator_actions = (
        OperatorAction("resolve", "Resolve incident", roles.RESOLVE_BILLING_INCIDENT, "run_resolve",
                       offered_when="is_open"),
    )

    @admin.display(description="detail")
    def detail_pretty(self, incident: ReconciliationIncident):
        return json_pretty(incident.detail)

    @admin.display(description="runbook")
    def runbook(self, incident: ReconciliationIncident):
        return runbook_section(incident.code)

    def is_open(self, incident: ReconciliationIncident) -> bool:
        return incident.status == "open"

    def run_resolve(self, request, incident, data) -> str:
        operator.reconciliation_incident_resolve_by_operator(incident=incident, actor=request.user,
                                                             reason=data["reason"])
        return "Incident resolved."


# --- the Stripe mirror (dj-stripe's tables) ----------------------------------------------

STRIPE_MIRROR_MODELS = (
    djstripe_models.Customer, djstripe_models.Session, djstripe_models.PaymentIntent,
    djstripe_models.Charge, djstripe_models.Refund, djstripe_models.Dispute,
    djstripe_models.Subscription, djstripe_models.Invoice, djstripe_models.Event,
)


def _admin_links(rows) -> str:
    return format_html_join(", ", '<a href="{}">{}</a>', (
        (reverse(f"admin:{r._meta.app_label}_{r._meta.model_name}_change", args=[r.pk]), str(r)) for r in rows))


def _phoenix_rows(row) -> str:
    """The Phoenix rows a mirrored object belongs to (the link back): a customer's user, a
    subscription's access or pro account, a session's, intent's or charge's payment."""
    if isinstance(row, djstripe_models.Customer):
        return _admin_links([row.subscriber] if row.subscriber_id else []) or "-"
    if isinstance(row, djstripe_models.Subscription):
        rows = [*Access.objects.filter(stripe_subscription_id=row.id),
                *ProAccount.objects.filter(stripe_subscription_id=row.id)]
        return _admin_links(rows) or "-"
    return _phoenix_payments(row)


def _phoenix_payments(row) -> str:
    lookup = {
        djstripe_models.Session: "stripe_checkout_session_id", djstripe_models.PaymentIntent:
        "stripe_payment_intent_id",
    }.get(type(row))
    if lookup:
        payments = Payment.objects.filter(**{lookup: row.id})
    elif isinstance(row, djstripe_models.Charge):
        payments = Payment.objects.filter(stripe_payment_intent_id=row.payment_intent_id or "-")
    else:
        return "-"
    return format_html_join(", ", '<a href="{}">{}</a>', (
        (reverse("admin:billing_payment_change", args=[p.pk]), p.public_id) for p in payments)) or "-"


class StripeMirrorAdminMixin(ReadOnlyAdminMixin):
    """dj-stripe's admin for a mirrored model, read-only (the mirror follows Stripe; it is
    never edited here), with the link back to Phoenix's rows."""

    actions = None

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "phoenix_link"]

    @admin.display(description="In Phoenix")
    def phoenix_link(self, row):
        return _phoenix_rows(row)


for _model in [m for m in list(admin.site._registry) if m._meta.app_label == "djstripe"]:
    _original = type(admin.site._registry[_model])
    admin.site.unregister(_model)
    if _model in STRIPE_MIRROR_MODELS:
        admin.site.register(_model, type(f"Mirror{_original.__name__}", (StripeMirrorAdminMixin, _original), {}))


class StripeSubscriptionLinkMixin:
    """On the access and pro account pages (their apps' admins, which know nothing of
    Stripe): the link to the mirrored subscription."""

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "stripe_mirror"]

    @admin.display(description="Stripe mirror")
    def stripe_mirror(self, obj):
        sub_id = obj.stripe_subscription_id
        mirrored = djstripe_models.Subscription.objects.filter(id=sub_id).first() if sub_id else None
        return _admin_links([mirrored]) if mirrored else "not mirrored"


for _model in (Access, ProAccount):
    _original = type(admin.site._registry[_model])
    admin.site.unregister(_model)
    admin.site.register(_model, type(_original.__name__, (StripeSubscriptionLinkMixin, _original), {}))
