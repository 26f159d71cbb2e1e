"""Wallet admin: the ledger is read-only (every change goes through the services, from
the operator actions below); the energy catalogues are editable data."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from rest_framework.renderers import JSONRenderer

from phoenix.core import roles
from phoenix.core.admin import (
    CsvExportMixin,
    IntentKeyedForm,
    OperatorAction,
    OperatorActionsMixin,
    OperatorForm,
    ReadOnlyAdminMixin,
    json_pretty,
    runbook_section,
)
from phoenix.core.admin_scale import ScaleAdminMixin
from wallet import operator, selectors
from wallet.api.serializers import StatementSerializer
from wallet.models import (
    OPERATION_EFFECTS,
    ApiKeySpendCounter,
    BalanceOperation,
    EnergyAction,
    EnergyLot,
    EnergyPack,
    EnergyValidity,
    HealthCheckpoint,
    Hold,
    HoldExtension,
    HoldStatus,
    Incident,
    LotConsumption,
    OperationRollup,
    OperationRollupCursor,
    SpendCounter,
    SpendVelocityLimit,
    SpendVelocityOverride,
    UsageEvent,
    Wallet,
)
from wallet.services.velocity import INCIDENT_CODE as VELOCITY_INCIDENT_CODE
from wallet.statement import statement_verify

# Operations shown inline on a wallet: the latest few; the full ledger is one click away.
RECENT_OPERATIONS = 20


class HealthRunForm(OperatorForm):
    full = forms.BooleanField(
        required=False, label="Full re-verification",
        help_text="Re-verify every operation of every wallet from genesis (as the daily run does) instead of "
                  "only what changed since each wallet's checkpoint (as the hourly run does). Slower.")

    field_order = ["full", "reason"]


class WalletAdjustForm(IntentKeyedForm):
    direction = forms.ChoiceField(choices=[("credit", "Credit (add energy)"), ("debit", "Debit (remove energy)")])
    amount = forms.IntegerField(min_value=1, max_value=10**9, help_text="Energy points.")

    field_order = ["direction", "amount", "reason"]


class WalletGrantForm(IntentKeyedForm):
    category = forms.ChoiceField(choices=[(c.value, c.label) for c in operator.GRANT_CATEGORIES])
    amount = forms.IntegerField(min_value=1, max_value=10**9, help_text="Energy points.")
    expires_at = forms.DateTimeField(required=False, help_text="When the granted energy expires (UTC).")
    never_expires = forms.BooleanField(required=False, help_text="Tick instead of a date: the lot never expires.")

    field_order = ["category", "amount", "expires_at", "never_expires", "reason"]

    def clean(self):
        data = super().clean()
        if bool(data.get("expires_at")) == bool(data.get("never_expires")):
            raise forms.ValidationError("Give an expiry date, or tick 'never expires' (one of the two).")
        if data.get("expires_at") and data["expires_at"] <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return data


class LotsInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = EnergyLot
    fk_name = "wallet"
    verbose_name_plural = "energy lots (soonest expiry first; /luna/energy/lots lists the exact consumption order)"
    fields = ("id", "category", "amount", "remaining", "reserved", "priority", "expires_at", "reference",
              "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("wallet__user").order_by(
            "expires_at", "priority", "created_at", "id")


class RecentOperationsFormSet(forms.BaseInlineFormSet):
    def get_queryset(self):
        if not hasattr(self, "_recent"):
            self._recent = super().get_queryset().select_related("wallet__user").order_by("-seq")[:RECENT_OPERATIONS]
        return self._recent


class RecentOperationsInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = BalanceOperation
    formset = RecentOperationsFormSet
    verbose_name_plural = f"latest {RECENT_OPERATIONS} operations"
    fields = ("seq", "created_at", "type", "amount", "balance_after", "held_after", "source", "reference",
              "reason", "actor")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Wallet)
class WalletAdmin(ScaleAdminMixin, OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "user", "balance", "held", "available", "last_seq", "updated_at")
    search_fields = ("id", "user__email", "user__public_id")
    list_select_related = ("user",)
    sortable_by = ("id",)
    fields = ("user", "balance", "held", "available", "last_seq", "last_hash", "created_at", "updated_at",
              "ledger", "statement")
    readonly_fields = fields
    inlines = [LotsInline, RecentOperationsInline]
    operator_actions = (
        OperatorAction("grant", "Grant energy", roles.ADJUST_WALLET, "run_grant", WalletGrantForm, intent_keyed=True,
                       description="Grant a promotional or goodwill lot with its expiry (source=admin)."),
        OperatorAction("adjust", "Adjust balance", roles.ADJUST_WALLET, "run_adjust", WalletAdjustForm,
                       intent_keyed=True,
                       description="Credit or debit energy points, recorded as a source=admin operation "
                                   "(a credit is a never-expiring goodwill lot; a debit draws the lots in order)."),
        OperatorAction("correct-warning", "Auto-correct WARNING", roles.CORRECT_WALLET_WARNING, "run_correct",
                       description="Set held back to the sum of pending holds, through the health job's "
                                   "correction path (refused when the wallet has CRITICAL findings)."),
    )

    @admin.display(description="available")
    def available(self, obj: Wallet) -> int:
        return obj.available

    @admin.display(description="ledger")
    def ledger(self, obj: Wallet) -> str:
        url = reverse("admin:wallet_balanceoperation_changelist") + f"?wallet__id__exact={obj.pk}"
        return format_html('<a href="{}">all {} operations</a>', url, obj.last_seq)

    @admin.display(description="statement")
    def statement(self, obj: Wallet) -> str:
        url = reverse("admin:wallet_wallet_statement", args=[obj.pk])
        return format_html('<a href="{}">verifiable statement (JSON, verified)</a>', url)

    def get_urls(self):
        view = self.admin_site.admin_view(self.statement_view)
        return [path("<int:wallet_id>/statement/", view, name="wallet_wallet_statement"), *super().get_urls()]

    def statement_view(self, request, wallet_id: int):
        """The same statement as GET /luna/energy/statement/{user_id}, for an operator to hand a user;
        verified before it is served (`X-Statement-Verified`)."""
        wallet = get_object_or_404(Wallet.objects.select_related("user"), pk=wallet_id)
        if not self.has_view_permission(request, wallet):
            raise PermissionDenied
        body = StatementSerializer(selectors.wallet_statement(user=wallet.user)).data
        rendered = JSONRenderer().render(body)
        problems = statement_verify(json.loads(rendered))
        response = HttpResponse(rendered, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="statement-{wallet.user.public_id}.json"'
        response["X-Statement-Verified"] = "false" if problems else "true"
        return response

    def run_adjust(self, request, wallet, data) -> str:
        op = operator.wallet_adjust(wallet=wallet, direction=data["direction"], amount=data["amount"],
                                    actor=request.user, reason=data["reason"], intent_key=data["intent_key"])
        return f"{op.type} of {op.amount} points recorded (operation {op.pk}); available now {op.available_after}."

    def run_grant(self, request, wallet, data) -> str:
        op = operator.wallet_grant(wallet=wallet, category=data["category"], amount=data["amount"],
                                   expires_at=None if data["never_expires"] else data["expires_at"],
                                   actor=request.user, reason=data["reason"], intent_key=data["intent_key"])
        return f"{data['category']} lot of {op.amount} points granted (operation {op.pk})."

    def run_correct(self, request, wallet, data) -> str:
        op = operator.wallet_warning_correct(wallet=wallet, actor=request.user, reason=data["reason"])
        return f"held corrected by {op.type} of {op.amount} (operation {op.pk})."


class StuckHoldFilter(admin.SimpleListFilter):
    """Pending holds past their deadline: the expiry job should have released them."""

    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request, model_admin):
        return [("yes", "pending past its deadline")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=selectors.holds_stuck(now=timezone.now()).values("pk"))
        return queryset


@admin.register(Hold)
class HoldAdmin(ScaleAdminMixin, OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "wallet", "amount", "captured_amount", "status", "action_code", "expires_at", "created_at")
    list_filter = (StuckHoldFilter, "status", "source", ("created_at", admin.DateFieldListFilter),
                   ("expires_at", admin.DateFieldListFilter))
    search_fields = ("id", "wallet__user__email", "wallet__user__public_id", "idempotency_key")
    list_select_related = ("wallet__user",)  # the names say whose
    sortable_by = ("expires_at",)
    operator_actions = (
        OperatorAction("release", "Release hold", roles.RELEASE_HOLD, "run_release", offered_when="is_pending",
                       description="Give the held energy back (the action did not happen)."),
    )

    def is_pending(self, hold: Hold) -> bool:
        return hold.status == HoldStatus.PENDING

    def run_release(self, request, hold, data) -> str:
        op = operator.hold_release_stuck(hold=hold, actor=request.user, reason=data["reason"])
        return f"hold released (operation {op.pk}); available now {op.available_after}."


@admin.register(BalanceOperation)
class BalanceOperationAdmin(CsvExportMixin, ScaleAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    export_columns = (
        ("id", lambda o: o.pk), ("created_at", lambda o: o.created_at), ("user_email", lambda o: o.wallet.user.email),
        ("user_public_id", lambda o: o.wallet.user.public_id), ("seq", lambda o: o.seq), ("type", lambda o: o.type),
        # Signed: what the operation did to the balance and to the held energy.
        ("balance_change", lambda o: OPERATION_EFFECTS[o.type][0] * o.amount),
        ("held_change", lambda o: OPERATION_EFFECTS[o.type][1] * o.amount),
        ("balance_after", lambda o: o.balance_after), ("held_after", lambda o: o.held_after),
        ("source", lambda o: o.source), ("reason", lambda o: o.reason), ("reference", lambda o: o.reference),
        ("hold_id", lambda o: o.hold_id), ("refund_of_id", lambda o: o.refund_of_id),
        ("actor_email", lambda o: o.actor.email if o.actor_id else ""), ("hash", lambda o: o.hash),
    )
    list_display = ("id", "user_email", "seq", "type", "amount", "balance_after", "held_after", "source",
                    "reference", "actor", "created_at")
    list_filter = ("type", "source", ("created_at", admin.DateFieldListFilter))
    search_fields = ("id", "reference", "idempotency_key", "wallet__user__email", "wallet__user__public_id")
    list_select_related = ("wallet__user", "actor")
    sortable_by = ("id",)

    @admin.display(description="user")
    def user_email(self, obj: BalanceOperation) -> str:
        return obj.wallet.user.email


@admin.register(UsageEvent)
class UsageEventAdmin(CsvExportMixin, ScaleAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The event store (append-only): every performed action, free and unlimited ones too, and
    the compensating event of each refunded one (`refund_of`, negative energy)."""

    export_columns = (
        ("id", lambda e: e.pk), ("created_at", lambda e: e.created_at), ("user_email", lambda e: e.user.email),
        ("user_public_id", lambda e: e.user.public_id), ("action_code", lambda e: e.action_code),
        ("category", lambda e: e.category), ("source_app", lambda e: e.source_app),
        ("energy_consumed", lambda e: e.energy_consumed), ("unlimited", lambda e: e.unlimited),
        ("operation_id", lambda e: e.operation_id), ("refund_of_id", lambda e: e.refund_of_id),
    )

    list_display = ("id", "created_at", "user", "action_code", "category", "source_app", "energy_consumed",
                    "unlimited", "operation", "refund_of")
    # category and source_app have no choices: their filter would be a DISTINCT over the table.
    list_filter = ("unlimited", ("created_at", admin.DateFieldListFilter))
    search_fields = ("id", "user__email", "user__public_id", "idempotency_key")
    list_select_related = ("user", "operation__wallet__user", "refund_of__user")  # the names say whose
    sortable_by = ("id", "created_at")


@admin.register(Incident)
class IncidentAdmin(CsvExportMixin, OperatorActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    export_columns = (
        ("id", lambda i: i.pk), ("detected_at", lambda i: i.detected_at), ("last_seen_at", lambda i: i.last_seen_at),
        ("severity", lambda i: i.severity), ("code", lambda i: i.code), ("status", lambda i: i.status),
        ("user_email", lambda i: i.wallet.user.email), ("times_seen", lambda i: i.times_seen),
        ("detail", lambda i: json.dumps(i.detail, sort_keys=True)), ("resolved_at", lambda i: i.resolved_at),
    )
    list_display = ("id", "severity", "code", "wallet", "status", "times_seen", "detected_at", "last_seen_at")
    list_filter = ("status", "severity", "code", ("detected_at", admin.DateFieldListFilter))
    search_fields = ("code", "wallet__user__email", "resolution_note")
    list_select_related = ("wallet__user",)
    date_hierarchy = "detected_at"
    fields = ("wallet", "code", "severity", "status", "detail_pretty", "correction", "detected_at", "last_seen_at",
              "times_seen", "resolved_at", "resolution_note", "runbook")
    readonly_fields = ("detail_pretty", "runbook")
    operator_actions = (
        OperatorAction("health-run", "Run health check now", roles.RUN_HEALTH_CHECK, "run_health", on_object=False,
                       form_class=HealthRunForm,
                       description="Detect anomalies in every wallet now, auto-correct WARNINGs and record "
                                   "CRITICALs (as the hourly job does)."),
        OperatorAction("rerun-checks", "Re-run checks", roles.RESOLVE_INCIDENT, "run_rerun_checks",
                       offered_when="is_open_health_finding",
                       description="After a repair: run the health check on this wallet only. The finding gone, "
                                   "the incident is resolved; still there, it stays open and you are told what "
                                   "is still wrong. Refused while a health run is in progress."),
        OperatorAction("resolve", "Resolve incident", roles.RESOLVE_INCIDENT, "run_resolve", offered_when="is_open",
                       description="Close the incident once investigated; the reason is its resolution note."),
        OperatorAction("lift-breaker", "Lift spend-velocity breaker", roles.RESOLVE_INCIDENT, "run_lift",
                       offered_when="is_open_velocity",
                       description="Zero the user's current spend window (they may spend again at once) and "
                                   "resolve this incident."),
    )

    def is_open(self, incident: Incident) -> bool:
        return incident.status == "open"

    def is_open_health_finding(self, incident: Incident) -> bool:
        return incident.status == "open" and incident.code in operator.HEALTH_CHECK_CODES

    @admin.display(description="detail")
    def detail_pretty(self, incident: Incident):
        return json_pretty(incident.detail)

    @admin.display(description="runbook")
    def runbook(self, incident: Incident):
        return runbook_section(incident.code)

    def run_rerun_checks(self, request, incident, data):
        result = operator.incident_checks_rerun(incident=incident, actor=request.user, reason=data["reason"])
        return result.describe(), (messages.SUCCESS if result.finding_gone else messages.WARNING)

    def is_open_velocity(self, incident: Incident) -> bool:
        return incident.status == "open" and incident.code == VELOCITY_INCIDENT_CODE

    def run_lift(self, request, incident, data) -> str:
        operator.velocity_breaker_lift(wallet=incident.wallet, actor=request.user, reason=data["reason"])
        return "Breaker lifted."

    def run_health(self, request, _target, data) -> str:
        report = operator.wallet_health_run_now(actor=request.user, reason=data["reason"], full=data["full"])
        return (f"Health check done ({report.mode}, {report.operations_verified} operation(s) verified): "
                f"{len(report.critical)} critical, {len(report.warnings)} warning finding(s), "
                f"{len(report.corrections)} correction(s).")

    def run_resolve(self, request, incident, data) -> str:
        operator.incident_resolve(incident=incident, actor=request.user, reason=data["reason"])
        return "Incident resolved."


@admin.register(EnergyAction)
class EnergyActionAdmin(admin.ModelAdmin):
    list_display = ("code", "label", "category", "cost", "overrun_cap_percent", "source_app", "is_active")
    list_editable = ("cost", "overrun_cap_percent", "is_active")
    list_filter = ("category", "source_app", "is_active")
    search_fields = ("code", "label")


@admin.register(EnergyPack)
class EnergyPackAdmin(admin.ModelAdmin):
    list_display = ("code", "label", "price_cents", "currency", "energy_points", "first_purchase_bonus_percent",
                    "validity_days", "badge", "is_unlimited", "is_active")
    list_editable = ("price_cents", "energy_points", "validity_days", "is_active")
    search_fields = ("code", "label")


@admin.register(EnergyLot)
class EnergyLotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "wallet", "category", "amount", "remaining", "reserved", "priority", "expires_at",
                    "created_at")
    list_filter = ("category", ("expires_at", admin.DateFieldListFilter))
    search_fields = ("=wallet__id", "wallet__user__email", "reference")
    list_select_related = ("wallet__user",)


@admin.register(EnergyValidity)
class EnergyValidityAdmin(admin.ModelAdmin):
    """The validity of the welcome grant and the first-purchase bonus (one row)."""

    list_display = ("id", "welcome_validity_days", "bonus_validity_days", "updated_at")

    def has_add_permission(self, request):
        return not EnergyValidity.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LotConsumption)
class LotConsumptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Which lots each operation drew, restored, reserved or unreserved (append-only)."""

    list_display = ("id", "operation", "lot", "kind", "amount", "created_at")
    list_filter = ("kind",)
    search_fields = ("=operation__id", "=lot__id")
    list_select_related = ("operation__wallet__user", "lot__wallet__user")


@admin.register(SpendVelocityLimit)
class SpendVelocityLimitAdmin(admin.ModelAdmin):
    """The spend-velocity breaker's defaults (one row)."""

    list_display = ("id", "window_seconds", "max_energy", "max_actions", "max_energy_per_api_key", "updated_at")

    def has_add_permission(self, request):
        return not SpendVelocityLimit.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SpendVelocityOverride)
class SpendVelocityOverrideAdmin(admin.ModelAdmin):
    """A user's own breaker limits (blank: the default)."""

    list_display = ("user", "max_energy", "max_actions", "note", "updated_at")
    search_fields = ("user__email", "=user__public_id")
    raw_id_fields = ("user",)


@admin.register(SpendCounter)
class SpendCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "window_start", "energy", "actions", "updated_at")
    search_fields = ("user__email", "=user__public_id")


@admin.register(ApiKeySpendCounter)
class ApiKeySpendCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("api_key_prefix", "window_start", "energy", "max_energy", "updated_at")
    search_fields = ("=api_key_prefix",)


@admin.register(HoldExtension)
class HoldExtensionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every renewal of a hold's lease (append-only)."""

    list_display = ("id", "hold", "expires_at_before", "expires_at_after", "source", "created_at")
    list_select_related = ("hold__wallet__user",)
    search_fields = ("=hold__id",)


@admin.register(OperationRollup)
class OperationRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The dashboard's hourly rollups (written by the rollup job; read-only, for checking)."""

    list_display = ("hour", "type", "category", "reference", "operations", "amount")
    list_filter = ("category", "type", ("hour", admin.DateFieldListFilter))
    search_fields = ("=reference",)
    sortable_by = ("hour",)


@admin.register(OperationRollupCursor)
class OperationRollupCursorAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("rolled_through", "refreshed_at")


@admin.register(HealthCheckpoint)
class HealthCheckpointAdmin(ScaleAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """How far the health check has verified each wallet (written only by the health runs)."""

    list_display = ("wallet", "verified_seq", "replay_balance", "replay_held", "verified_at")
    list_select_related = ("wallet__user",)
    search_fields = ("wallet__id", "wallet__user__email", "wallet__user__public_id")
    sortable_by = ("verified_at",)
