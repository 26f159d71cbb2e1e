from django.apps import AppConfig


class LicensesConfig(AppConfig):
    name = "licenses"
    verbose_name = "Licenses"

    def ready(self) -> None:
        from licenses import dashboard
        from phoenix.core.dashboard import DashboardPanel, register_dashboard_panel

        # The admin dashboard's panel.
        register_dashboard_panel(DashboardPanel(key="pro", title="Pro accounts and licenses",
                                                template="admin/dashboard/pro.html",
                                                build=dashboard.pro_panel, order=60))
