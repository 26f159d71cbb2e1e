from dataclasses import dataclass
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from phoenix.core.errors import PhoenixError, ReasonRequired
from phoenix.core.models import AdminAction, IdempotentResponse, JobRun
from phoenix.core.services import operator_reason


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
    method: str  # ModelAdmin method (request, target, cleaned_data) -> message
    form_class: type[forms.Form] = OperatorForm
    on_object: bool = True  # False: acts on the collection (optionally on ?ids=...)
    offered_when: str | None = None  # ModelAdmin method (obj) -> bool: show the button?
    description: str = ""
    initial_from: str | None = None  # ModelAdmin method (obj) -> dict: the form's initial values


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
            try:
                message = getattr(self, action.method)(request, target, form.cleaned_data)
            except PhoenixError as exc:
                # The service refused (state changed, insufficient energy, ...): nothing was
                # written; say why on the same page.
                form.add_error(None, f"{exc.detail} ({exc.code})")
            else:
                self.message_user(request, message, messages.SUCCESS)
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
