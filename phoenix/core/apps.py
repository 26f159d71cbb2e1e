from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "phoenix.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from phoenix.core.dashboard import DashboardPanel, register_dashboard_panel
        from phoenix.core.selectors import health_report

        register_dashboard_panel(DashboardPanel(
            key="platform", title="Platform", template="admin/dashboard/platform.html",
            build=lambda now: health_report(), order=0,
        ))
