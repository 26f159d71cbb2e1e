"""Outbound webhooks admin: every change to an endpoint is an audited operator action (a
reason, an AdminAction row); deliveries and their attempts are read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from phoenix.core import roles
from phoenix.core.admin import OperatorAction, OperatorActionsMixin, OperatorForm, ReadOnlyAdminMixin
from phoenix.outbound import operator
from phoenix.outbound.catalogue import SUBSCRIBABLE_TYPES
from phoenix.outbound.models import URL_MAX_LENGTH, Delivery, DeliveryAttempt, Endpoint, Event, SubjectSequence


class EndpointForm(OperatorForm):
    url = forms.CharField(max_length=URL_MAX_LENGTH + 1, widget=forms.TextInput(attrs={"size": 80}))
    event_types = forms.MultipleChoiceField(choices=[(name, name) for name in SUBSCRIBABLE_TYPES],
                                            widget=forms.CheckboxSelectMultiple)
    description = forms.CharField(max_length=255, required=False)
    balance_low_threshold = forms.IntegerField(min_value=0, required=False,
                                               help_text="Empty: WEBHOOK_BALANCE_LOW_DEFAULT.")
    field_order = ["url", "event_types", "description", "balance_low_threshold", "reason"]


class TestEventForm(OperatorForm):
    message = forms.CharField(max_length=255, required=False)


def _fields(data) -> dict:
    return {"url": data["url"], "event_types": list(data["event_types"]), "description": data["description"],
            "balance_low_threshold": data["balance_low_threshold"]}


@admin.register(Endpoint)
class EndpointAdmin(OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "url", "description", "enabled", "disabled_reason", "failing_since", "created_at")
    list_filter = ("enabled", "disabled_reason")
    search_fields = ("url", "description")
    readonly_fields = ("url", "description", "event_types", "balance_low_threshold", "enabled", "disabled_reason",
                       "disabled_at", "failing_since", "previous_secret_expires_at", "created_at", "updated_at")
    fields = readonly_fields  # the secrets never show
    operator_actions = (
        OperatorAction("create", "Add endpoint", roles.MANAGE_WEBHOOK_ENDPOINT, "run_create", EndpointForm,
                       on_object=False, description="Register a receiver; its secret is shown once."),
        OperatorAction("change", "Change endpoint", roles.MANAGE_WEBHOOK_ENDPOINT, "run_change", EndpointForm,
                       initial_from="endpoint_initial"),
        OperatorAction("rotate", "Rotate secret", roles.MANAGE_WEBHOOK_ENDPOINT, "run_rotate",
                       description="A new secret, shown once; the old one keeps signing during the overlap "
                                   "(WEBHOOK_SECRET_OVERLAP_HOURS)."),
        OperatorAction("disable", "Disable", roles.MANAGE_WEBHOOK_ENDPOINT, "run_disable", offered_when="is_enabled"),
        OperatorAction("enable", "Enable", roles.MANAGE_WEBHOOK_ENDPOINT, "run_enable", offered_when="is_disabled"),
        OperatorAction("redeliver-failed", "Redeliver every failed event", roles.MANAGE_WEBHOOK_ENDPOINT,
                       "run_redeliver_failed"),
        OperatorAction("test", "Send test event", roles.MANAGE_WEBHOOK_ENDPOINT, "run_test", TestEventForm),
    )

    def endpoint_initial(self, endpoint: Endpoint) -> dict:
        return {"url": endpoint.url, "event_types": list(endpoint.event_types), "description": endpoint.description,
                "balance_low_threshold": endpoint.balance_low_threshold}

    def is_enabled(self, endpoint: Endpoint) -> bool:
        return endpoint.enabled

    def is_disabled(self, endpoint: Endpoint) -> bool:
        return not endpoint.enabled

    def _show_secret_once(self, request, endpoint: Endpoint) -> None:
        self.message_user(request, f"Secret of endpoint {endpoint.pk} (shown once, copy it now): {endpoint.secret}",
                          messages.WARNING)

    def run_create(self, request, _target, data) -> str:
        endpoint = operator.endpoint_register(actor=request.user, reason=data["reason"], **_fields(data))
        self._show_secret_once(request, endpoint)
        return f"Endpoint {endpoint.pk} registered."

    def run_change(self, request, endpoint, data) -> str:
        operator.endpoint_change(endpoint=endpoint, actor=request.user, reason=data["reason"], **_fields(data))
        return "Endpoint changed."

    def run_rotate(self, request, endpoint, data) -> str:
        endpoint = operator.endpoint_rotate(endpoint=endpoint, actor=request.user, reason=data["reason"])
        self._show_secret_once(request, endpoint)
        return f"Secret rotated; the previous one is valid until {endpoint.previous_secret_expires_at:%Y-%m-%d %H:%M}."

    def run_disable(self, request, endpoint, data) -> str:
        operator.endpoint_set_enabled(endpoint=endpoint, enabled=False, actor=request.user, reason=data["reason"])
        return "Endpoint disabled."

    def run_enable(self, request, endpoint, data) -> str:
        operator.endpoint_set_enabled(endpoint=endpoint, enabled=True, actor=request.user, reason=data["reason"])
        return "Endpoint enabled."

    def run_redeliver_failed(self, request, endpoint, data) -> str:
        ids = operator.endpoint_redeliver_failed(endpoint=endpoint, actor=request.user, reason=data["reason"])
        return f"{len(ids)} failed deliveries queued again."

    def run_test(self, request, endpoint, data) -> str:
        ids = operator.endpoint_send_test(endpoint=endpoint, actor=request.user, reason=data["reason"],
                                          message=data["message"])
        return f"Test event queued ({len(ids)} delivery)." if ids else "Nothing sent: the endpoint is disabled."


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "type", "subject", "sequence", "id")
    list_filter = ("type",)
    search_fields = ("subject", "id")
    date_hierarchy = "created_at"


class AttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "started_at", "status_code", "latency_ms", "succeeded", "error", "response_body")
    readonly_fields = fields
    extra = 0


@admin.register(Delivery)
class DeliveryAdmin(OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "event", "endpoint", "status", "attempts", "last_status_code", "next_attempt_at",
                    "delivered_at")
    list_filter = ("status", "endpoint")
    search_fields = ("event__id", "event__subject")
    list_select_related = ("event", "endpoint")
    inlines = [AttemptInline]
    operator_actions = (
        OperatorAction("redeliver", "Redeliver", roles.MANAGE_WEBHOOK_ENDPOINT, "run_redeliver",
                       description="Send this event to this endpoint again now (a fresh retry schedule)."),
    )

    def run_redeliver(self, request, delivery, data) -> str:
        operator.delivery_redeliver(delivery=delivery, actor=request.user, reason=data["reason"])
        return "Delivery queued again."


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("started_at", "delivery", "number", "status_code", "latency_ms", "succeeded", "error")
    list_filter = ("succeeded", "status_code")
    date_hierarchy = "started_at"


@admin.register(SubjectSequence)
class SubjectSequenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("subject", "last_sequence")
    search_fields = ("subject",)
