from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils import timezone

from phoenix.core.dashboard import dashboard_panels


class PhoenixAdminSite(admin.AdminSite):
    """The admin, whose index is the monitoring dashboard."""

    site_header = "Phoenix back office"
    site_title = "Phoenix"
    index_title = "Dashboard"
    index_template = "admin/phoenix_index.html"

    def index(self, request, extra_context=None):
        now = timezone.now()
        panels = [
            {"key": panel.key, "title": panel.title, "template": panel.template, "data": panel.build(now)}
            for panel in dashboard_panels()
        ]
        return super().index(request, {"dashboard_panels": panels, "dashboard_now": now, **(extra_context or {})})


class PhoenixAdminConfig(AdminConfig):
    """Installed in place of django.contrib.admin: every admin.register uses our site."""

    default_site = "phoenix.core.admin_site.PhoenixAdminSite"
