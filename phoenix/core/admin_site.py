from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from phoenix.core import customer
from phoenix.core.dashboard import dashboard_panels
from phoenix.core.errors import json_not_found, json_permission_denied
from phoenix.core.runbooks import runbook_codes, runbook_html, runbook_title

# The customer page and the search show a user: the viewer needs to be allowed to view users
# (the support role is); each section adds its own view permissions.
CUSTOMER_VIEW_PERMISSION = "accounts.view_user"
SEARCH_MAX_LENGTH = 254  # the longest id searched: an e-mail address


class PhoenixAdminSite(admin.AdminSite):
    """The admin, whose index is the monitoring dashboard."""

    site_header = "Phoenix back office"
    site_title = "Phoenix"
    index_title = "Dashboard"
    index_template = "admin/phoenix_index.html"

    def index(self, request, extra_context=None):
        now = timezone.now()
        panels = [
            {"key": panel.key, "title": panel.title, "template": panel.template,
             "data": panel.build(now, request.GET) if panel.takes_query else panel.build(now)}
            for panel in dashboard_panels()
        ]
        return super().index(request, {"dashboard_panels": panels, "dashboard_now": now, **(extra_context or {})})

    def get_urls(self):
        return [
            path("customer/search/", self.admin_view(self.customer_search_view), name="customer_search"),
            path("customer/<uuid:public_id>/", self.admin_view(self.customer_view), name="customer"),
            path("runbooks/", self.admin_view(self.runbooks_view), name="runbooks"),
            path("runbooks/<str:code>/", self.admin_view(self.runbook_view), name="runbook"),
            *super().get_urls(),
        ]

    def _require_customer_view(self, request) -> None:
        if not request.user.has_perm(CUSTOMER_VIEW_PERMISSION):
            raise PermissionDenied

    def customer_search_view(self, request):
        """One box for every id: exactly one user found -> their page; several -> a list."""
        self._require_customer_view(request)
        query = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
        matches = customer.customer_search(query) if query else []
        users = get_user_model().objects.in_bulk([m.user_id for m in matches])
        rows = [{"match": m, "user": users[m.user_id]} for m in matches if m.user_id in users]
        if len(rows) == 1:
            return HttpResponseRedirect(reverse("admin:customer", args=[rows[0]["user"].public_id]))
        context = {**self.each_context(request), "title": "Search", "subtitle": query,
                   "query": query, "rows": rows}
        return TemplateResponse(request, "admin/phoenix/customer_search.html", context)

    def customer_view(self, request, public_id):
        """A read-only page: viewing a customer changes nothing (no audit row, GET only)."""
        self._require_customer_view(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        user = get_user_model().objects.filter(public_id=public_id).first()
        if user is None:
            raise Http404(f"No customer with public id {public_id}.")
        sections = [
            {"key": s.key, "title": s.title, "template": s.template,
             "data": s.build(user=user, limit=customer.SECTION_LIMIT, viewer=request.user)}
            for s in customer.customer_sections(viewer=request.user)
        ]
        context = {**self.each_context(request), "title": f"Customer {user.email}", "customer": user,
                   "sections": sections, "section_limit": customer.SECTION_LIMIT}
        return TemplateResponse(request, "admin/phoenix/customer.html", context)

    def runbooks_view(self, request):
        """Every runbook (docs/runbooks/), for any staff user: they are documentation."""
        rows = [{"code": code, "title": runbook_title(code)} for code in runbook_codes()]
        context = {**self.each_context(request), "title": "Runbooks", "runbooks": rows}
        return TemplateResponse(request, "admin/phoenix/runbooks.html", context)

    def runbook_view(self, request, code: str):
        html = runbook_html(code)
        if html is None:
            raise Http404(f"No runbook for {code!r}.")
        context = {**self.each_context(request), "title": f"Runbook: {code}", "code": code, "runbook": html}
        return TemplateResponse(request, "admin/phoenix/runbook.html", context)


def _admin_error(request, *, status: int, title: str, detail: str, fallback, exception):
    """Inside the admin (a staff user under its prefix): the page in the admin chrome; elsewhere
    the API's JSON answer (`fallback`)."""
    admin_prefix = reverse("admin:index")
    user = getattr(request, "user", None)
    if not (request.path.startswith(admin_prefix) and user is not None and user.is_active and user.is_staff):
        return fallback(request, exception)
    context = {**admin.site.each_context(request), "title": title, "detail": detail}
    response = TemplateResponse(request, "admin/phoenix/error.html", context, status=status)
    return response.render()


def admin_permission_denied(request, exception=None):
    return _admin_error(request, status=403, title="Permission denied",
                        detail="Your role does not allow this page or action. Ask an administrator "
                               "for the role that includes it.",
                        fallback=json_permission_denied, exception=exception)


def admin_not_found(request, exception=None):
    return _admin_error(request, status=404, title="Not found",
                        detail="Nothing here: the object may have been removed, or the address is wrong.",
                        fallback=json_not_found, exception=exception)


class PhoenixAdminConfig(AdminConfig):
    """Installed in place of django.contrib.admin: every admin.register uses our site."""

    default_site = "phoenix.core.admin_site.PhoenixAdminSite"
