from django.apps import AppConfig


class LicensesConfig(AppConfig):
    name = "licenses"
    verbose_name = "Licenses"

    def ready(self) -> None:
        # The admin dashboard's panel (DESIGN.md §9).
        from phoenix.core.dashboard import DashboardPanel, register_dashboard_panel
        from licenses import dashboard

        register_dashboard_panel(DashboardPanel(key="pro", title="Pro accounts and licenses",
                                                template="admin/dashboard/pro.html",
                                                build=dashboard.pro_panel, order=60))
