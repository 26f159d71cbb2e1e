from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "phoenix.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from phoenix.core.dashboard import DashboardPanel, register_dashboard_panel
        from phoenix.core.roles import sync_roles_after_migrate
        from phoenix.core.selectors import health_report

        register_dashboard_panel(DashboardPanel(
            key="platform", title="Platform", template="admin/dashboard/platform.html",
            build=lambda now: health_report(), order=0,
        ))
        # Roles cover models added after their migration ran (phoenix/core/roles.py).
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="core.sync_roles")
