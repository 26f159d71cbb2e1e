from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "phoenix.outbound"
    label = "outbound"
    verbose_name = "Outbound webhooks"

    def ready(self) -> None:
        from phoenix.core.dashboard import DashboardPanel, register_dashboard_panel
        from phoenix.outbound import dashboard, metrics

        metrics.register()

        register_dashboard_panel(DashboardPanel(key="webhooks-out", title="Outbound webhooks",
                                                template="admin/dashboard/outbound.html",
                                                build=dashboard.outbound_panel, order=60))

        # The customer page's webhook deliveries (phoenix.core.customer).
        from phoenix.outbound import customer

        customer.register()
