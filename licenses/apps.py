from django.apps import AppConfig


class LicensesConfig(AppConfig):
    name = "licenses"
    verbose_name = "Licenses"

    def ready(self) -> None:
        from licenses import dashboard, visibility
        from phoenix.core.dashboard import DashboardPanel, register_dashboard_panel
        from phoenix.core.visibility import register_activity_visibility

        # A pro owner sees a linked collaborator's activity while they have premium access (wallet asks).
        register_activity_visibility(visibility.collaborator_activity_visible)

        # The admin dashboard's panel.
        register_dashboard_panel(DashboardPanel(key="pro", title="Pro accounts and licenses",
                                                template="admin/dashboard/pro.html",
                                                build=dashboard.pro_panel, order=60))

        # The customer page's pro section and the search by pro account / license public id.
        from licenses import customer

        customer.register()
