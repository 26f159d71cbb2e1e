import json
from dataclasses import dataclass
from functools import partial

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django_celery_beat.admin import PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import PeriodicTask

from phoenix.core import operator as core_operator
from phoenix.core.errors import OperatorActionRepeated, PhoenixError, ReasonRequired
from phoenix.core.export import Column, csv_streaming_response
from phoenix.core.models import AdminAction, IdempotentResponse, JobRun
from phoenix.core.roles import CHANGE_PERIODIC_TASK, RUN_PERIODIC_TASK, UNLOCK_ADMIN_LOGIN
from phoenix.core.runbooks import runbook_html, runbook_path
from phoenix.core.services import export_recorded, operator_intent_key, operator_reason


def json_pretty(value) -> SafeString:
    """A JSON field as an operator reads it: indented, keys sorted, in a <pre> (escaped)."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="phoenix-json">{}</pre>', text)


def runbook_section(code: str) -> SafeString:
    """An incident page's runbook: the link to its own page and the runbook itself."""
    html = runbook_html(code)
    if html is None:
        return format_html("No runbook for <code>{}</code> (docs/runbooks/{}.md is missing).", code, code)
    url = reverse("admin:runbook", args=[code])
    return format_html('<p><a id="runbook" href="{}">runbook</a> (<code>docs/runbooks/{}</code>)</p>'
                       '<div class="phoenix-runbook">{}</div>', url, runbook_path(code).name, html)


class ReadOnlyAdminMixin:
    """Audit tables: visible, searchable, never written through the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CsvExportMixin:
    """An "Export CSV" button on the changelist: the rows the current filters and search select
    (the changelist's own queryset), streamed (phoenix.core.export), for a staff user who may
    view the model; each export is an AdminAction (who, which table, which filters)."""

    export_columns: tuple[Column, ...] = ()
    change_list_template = "admin/phoenix/change_list_operator.html"

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_export_csv"
        return [path("export.csv", self.admin_site.admin_view(self.export_csv_view), name=name), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        if self.export_columns and self.has_view_permission(request):
            url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_export_csv")
            query = request.GET.urlencode()
            extra_context = {**(extra_context or {}), "export_url": f"{url}?{query}" if query else url}
        return super().changelist_view(request, extra_context=extra_context)

    def export_csv_view(self, request):
        if not (request.user.is_active and request.user.is_staff and self.has_view_permission(request)):
            raise PermissionDenied
        queryset = self.get_changelist_instance(request).queryset  # filters and search applied
        with transaction.atomic():
            export_recorded(actor=request.user, model=self.model, filters=request.GET.urlencode(),
                            columns=[header for header, _ in self.export_columns])
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        return csv_streaming_response(queryset=queryset, columns=self.export_columns,
                                      filename=f"{self.opts.model_name}-{stamp}.csv")


@admin.register(AdminAction)
class AdminActionAdmin(CsvExportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    export_columns = (
        ("id", lambda a: a.pk), ("created_at", lambda a: a.created_at), ("actor_email", lambda a: a.actor.email),
        ("action", lambda a: a.action), ("target_type", lambda a: a.target_type), ("target_id", lambda a: a.target_id),
        ("target", lambda a: a.target_repr), ("reason", lambda a: a.reason),
        ("before", lambda a: json.dumps(a.before, sort_keys=True, default=str)),
        ("after", lambda a: json.dumps(a.after, sort_keys=True, default=str)),
    )
    list_display = ("created_at", "actor", "action", "target_type", "target_id", "target_repr", "reason")
    list_filter = ("action", "target_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("reason", "target_id", "target_repr", "actor__email", "action")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)


@admin.register(IdempotentResponse)
class IdempotentResponseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "principal", "key", "status_code")
    list_filter = ("status_code", ("created_at", admin.DateFieldListFilter))
    search_fields = ("principal", "key")
    date_hierarchy = "created_at"


# --- Operator actions ---------------------------------------------------------------------
# An operator action is a page of its own: the operator states a reason (and the action's
# fields), the admin calls one operator service, which changes state through the domain
# services and writes the AdminAction row in the same transaction. Permissions are the role
# permissions of phoenix/core/roles.py: a user without it is not offered the button and gets
# a 403 from the page.


class OperatorForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000,
        help_text="Why you do this (ticket, context). Kept in the audit trail.",
    )

    def clean_reason(self) -> str:
        try:
            return operator_reason(self.cleaned_data["reason"])
        except ReasonRequired as exc:
            raise forms.ValidationError(exc.detail) from None


@dataclass(frozen=True)
class OperatorAction:
    name: str  # URL slug
    label: str  # button and page title
    permission: str  # "app_label.codename"
    method: str  # ModelAdmin method (request, target, cleaned_data) -> message, or (message, level)
    form_class: type[forms.Form] = OperatorForm
    on_object: bool = True  # False: acts on the collection (optionally on ?ids=...)
    offered_when: str | None = None  # ModelAdmin method (obj) -> bool: show the button?
    description: str = ""
    initial_from: str | None = None  # ModelAdmin method (obj) -> dict: the form's initial values
    # True: the method gets data["intent_key"] (operator_intent_key of the form's fields) and the
    # form a hidden "repeat" ordinal; a re-posted intent is refused until confirmed.
    intent_keyed: bool = False


class IntentKeyedForm(OperatorForm):
    """An operator form whose effect is keyed by its intent (see `operator_intent_key`). `repeat`
    counts the operator's "do it again" confirmations; it is 0 on a fresh form."""

    repeat = forms.IntegerField(widget=forms.HiddenInput, initial=0, min_value=0, required=False)


class OperatorActionsMixin:
    operator_actions: tuple[OperatorAction, ...] = ()
    change_form_template = "admin/phoenix/change_form_operator.html"
    change_list_template = "admin/phoenix/change_list_operator.html"

    def _operator_url_name(self, action: OperatorAction) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_operator_{action.name}"

    def get_urls(self):
        urls = []
        for action in self.operator_actions:
            view = self.admin_site.admin_view(partial(self.operator_view, action=action))
            route = f"<path:object_id>/operator/{action.name}/" if action.on_object else f"operator/{action.name}/"
            urls.append(path(route, view, name=self._operator_url_name(action)))
        return urls + super().get_urls()

    def operator_allowed(self, request, action: OperatorAction) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(action.permission)

    def _operator_buttons(self, request, obj=None) -> list[dict[str, str]]:
        buttons = []
        for action in self.operator_actions:
            if action.on_object != (obj is not None) or not self.operator_allowed(request, action):
                continue
            if action.offered_when and obj is not None and not getattr(self, action.offered_when)(obj):
                continue
            args = [quote(obj.pk)] if obj is not None else []
            buttons.append({"label": action.label,
                            "url": reverse(f"admin:{self._operator_url_name(action)}", args=args)})
        return buttons

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        buttons = self._operator_buttons(request, obj) if obj else []
        extra_context = {**(extra_context or {}), "operator_buttons": buttons}
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "operator_buttons": self._operator_buttons(request)}
        return super().changelist_view(request, extra_context)

    def operator_view(self, request, object_id=None, *, action: OperatorAction):
        if not self.operator_allowed(request, action):
            raise PermissionDenied
        if action.on_object:
            target = self.get_object(request, unquote(object_id))
            if target is None:
                raise Http404(f"No {self.opts.verbose_name} with id {object_id!r}.")
            done_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[quote(target.pk)])
        else:
            ids = [i for i in request.GET.get("ids", "").split(",") if i]
            target = list(self.get_queryset(request).filter(pk__in=ids)) if ids else None
            done_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")

        initial = getattr(self, action.initial_from)(target) if action.initial_from and action.on_object else None
        form = action.form_class(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            if action.intent_keyed:
                fields = {k: v for k, v in data.items() if k != "repeat"}
                data = {**data, "intent_key": operator_intent_key(
                    action=action.name, target=target, fields=fields, repeat=data.get("repeat") or 0)}
            try:
                message = getattr(self, action.method)(request, target, data)
            except OperatorActionRepeated as exc:
                # Back + resubmit lands here: nothing was done. The form comes back with the
                # next repeat ordinal, so submitting it is the operator's explicit "do it again".
                again = request.POST.copy()
                again["repeat"] = str((data.get("repeat") or 0) + 1)
                form = action.form_class(again, initial=initial)
                form.is_valid()
                form.add_error(None, f"{exc.detail} ({exc.code})")
            except PhoenixError as exc:
                # The service refused (state changed, insufficient energy, ...): nothing was
                # written; say why on the same page.
                form.add_error(None, f"{exc.detail} ({exc.code})")
            else:
                # A method may say how its outcome reads: (message, messages.WARNING) for a
                # done action whose news is bad (e.g. checks re-run, the finding still there).
                message, level = message if isinstance(message, tuple) else (message, messages.SUCCESS)
                self.message_user(request, message, level)
                return HttpResponseRedirect(done_url)

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": action.label,
            "action": action,
            "single_target": target if action.on_object else None,
            "targets": [target] if action.on_object else (target or []),
            "form": form,
            "done_url": done_url,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/phoenix/operator_action.html", context)


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("finished_at", "job", "outcome", "started_at", "summary")
    list_filter = ("job", "outcome", ("finished_at", admin.DateFieldListFilter))
    search_fields = ("job",)
    date_hierarchy = "finished_at"


# --- Admin brute force (django-axes): the lockouts, read-only, with the audited unlock ---------


@admin.register(AccessAttempt)
class AccessAttemptAdmin(ReadOnlyAdminMixin, OperatorActionsMixin, admin.ModelAdmin):
    list_display = ("attempt_time", "ip_address", "username", "failures_since_start", "path_info")
    list_filter = (("attempt_time", admin.DateFieldListFilter),)
    search_fields = ("ip_address", "username")
    operator_actions = (
        OperatorAction("unlock", "Unlock this login", UNLOCK_ADMIN_LOGIN, "operator_unlock",
                       description="Drop the failed attempts of this IP and username: they may log in again."),
    )

    def operator_unlock(self, request, attempt, data) -> str:
        core_operator.admin_login_unlock(attempt=attempt, actor=request.user, reason=data["reason"])
        return f"Unlocked {attempt.username} from {attempt.ip_address}."


@admin.register(AccessFailureLog)
class AccessFailureLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("attempt_time", "ip_address", "username", "locked_out", "path_info")
    list_filter = ("locked_out", ("attempt_time", admin.DateFieldListFilter))
    search_fields = ("ip_address", "username")


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("attempt_time", "logout_time", "ip_address", "username", "path_info")
    search_fields = ("ip_address", "username")


# --- Beat schedules: every change audited; running one is its own permission ------------------


class AuditedPeriodicTaskForm(PeriodicTaskForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=2000,
                             help_text="Why you change this schedule. Kept in the audit trail.")

    def clean_reason(self) -> str:
        try:
            return operator_reason(self.cleaned_data["reason"])
        except ReasonRequired as exc:
            raise forms.ValidationError(exc.detail) from None


class AuditedPeriodicTaskAdmin(OperatorActionsMixin, PeriodicTaskAdmin):
    """django-celery-beat's admin without its bulk actions (offered to anyone who may view the
    list, and unaudited): enable, disable and run are operator actions with a reason; an
    edit needs a reason too. Only change permission edits (no role has it); finance may run."""

    form = AuditedPeriodicTaskForm
    actions = ()
    fieldsets = (*PeriodicTaskAdmin.fieldsets, ("Audit", {"fields": ("reason",)}))
    operator_actions = (
        OperatorAction("enable", "Enable", CHANGE_PERIODIC_TASK, "operator_enable", offered_when="is_disabled"),
        OperatorAction("disable", "Disable", CHANGE_PERIODIC_TASK, "operator_disable", offered_when="is_enabled"),
        OperatorAction("run", "Run now", RUN_PERIODIC_TASK, "operator_run",
                       description="Queue the schedule's task once now (the schedule is unchanged)."),
    )

    def is_enabled(self, task) -> bool:
        return task.enabled

    def is_disabled(self, task) -> bool:
        return not task.enabled

    def operator_enable(self, request, task, data) -> str:
        core_operator.periodic_task_set_enabled(task=task, enabled=True, actor=request.user, reason=data["reason"])
        return f"Enabled {task.name}."

    def operator_disable(self, request, task, data) -> str:
        core_operator.periodic_task_set_enabled(task=task, enabled=False, actor=request.user, reason=data["reason"])
        return f"Disabled {task.name}."

    def operator_run(self, request, task, data) -> str:
        core_operator.periodic_task_run(task=task, actor=request.user, reason=data["reason"])
        return f"Queued {task.task}."

    def save_model(self, request, obj, form, change):
        core_operator.periodic_task_save(task=obj, actor=request.user, reason=form.cleaned_data["reason"],
                                         created=not change)

    def delete_model(self, request, obj):
        core_operator.periodic_task_delete(task=obj, actor=request.user, reason="deleted through the admin")

    def delete_queryset(self, request, queryset):
        for task in queryset:
            self.delete_model(request, task)


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, AuditedPeriodicTaskAdmin)
