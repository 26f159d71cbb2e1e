from django import forms
from django.contrib import admin
from django.utils import timezone

from phoenix.core import roles
from phoenix.core.admin import IntentKeyedForm, OperatorAction, OperatorActionsMixin, ReadOnlyAdminMixin
from subscriptions import operator
from subscriptions.models import Access, AccessEvent, AccessType, Plan
from subscriptions.services import TRIAL_EXTEND_MAX_DAYS


class TrialExtendForm(IntentKeyedForm):
    days = forms.IntegerField(required=False, min_value=1, max_value=TRIAL_EXTEND_MAX_DAYS,
                              help_text="Days added to the current trial end (to now if it already ran out).")
    until = forms.DateTimeField(required=False, help_text="Or: the new trial end (UTC), later than the current one.")

    field_order = ["days", "until", "reason"]

    def clean(self):
        data = super().clean()
        if "days" in self.errors or "until" in self.errors:
            return data  # the field's own error says it
        if (data.get("days") is None) == (data.get("until") is None):
            raise forms.ValidationError("Give a number of days or a date (one of the two).")
        if data.get("until") and data["until"] <= timezone.now():
            raise forms.ValidationError("The new trial end must be in the future.")
        return data


class AccessEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AccessEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "from_type", "to_type", "event_time", "reference")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("access__user")  # each row's name


@admin.register(Access)
class AccessAdmin(OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "type", "license_status", "trial_ends_at", "current_period_end",
                    "cancel_at_period_end", "updated_at")
    list_filter = ("type", "license_status", "cancel_at_period_end", ("updated_at", admin.DateFieldListFilter))
    search_fields = ("user__email", "=user__public_id", "stripe_subscription_id")
    list_select_related = ("user",)
    inlines = [AccessEventInline]
    operator_actions = (
        OperatorAction("trial-extend", "Extend trial", roles.MANAGE_TRIAL, "run_trial_extend", TrialExtendForm,
                       offered_when="is_trial", intent_keyed=True,
                       description=f"Move the trial's end later: by 1 to {TRIAL_EXTEND_MAX_DAYS} days, or to a "
                                   "date (recorded as a trial_extended access event)."),
        OperatorAction("trial-end", "End trial now", roles.MANAGE_TRIAL, "run_trial_end", IntentKeyedForm,
                       offered_when="is_trial", intent_keyed=True,
                       description="End the trial now, as the hourly job ends a trial that ran out (normally "
                                   "to EXPIRED; recorded as a trial_ended access event)."),
    )

    def is_trial(self, access: Access) -> bool:
        return access.type == AccessType.TRIAL

    def run_trial_extend(self, request, access, data) -> str:
        event = operator.trial_extend(access=access, days=data["days"], until=data["until"], actor=request.user,
                                      reason=data["reason"], intent_key=data["intent_key"])
        return f"Trial extended to {event.access.trial_ends_at:%Y-%m-%d %H:%M} UTC (access event {event.pk})."

    def run_trial_end(self, request, access, data) -> str:
        event = operator.trial_end(access=access, actor=request.user, reason=data["reason"],
                                   intent_key=data["intent_key"])
        return f"Trial ended: the access is now {event.access.type} (access event {event.pk})."


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
