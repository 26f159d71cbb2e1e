from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Webhook handlers and product kinds register themselves on import.
        from billing import webhooks
        from billing.services.subscriptions import on_license_assignment_pending
        from licenses.signals import license_assignment_pending

        webhooks.autodiscover()
        # A license assigned to a PREMIUM collaborator: billing cancels their personal
        # subscription through Stripe (licenses never imports billing, DESIGN.md §1).
        license_assignment_pending.connect(
            on_license_assignment_pending, dispatch_uid="billing.cancel_personal_subscription"
        )
        # Monthly seats canceled/unlinked/deleted: billing lowers the grouped Stripe
        # subscription's quantity to the billable seats (no proration).
        from billing.services.pro_seats import on_billable_seats_changed
        from licenses.signals import billable_seats_changed

        billable_seats_changed.connect(on_billable_seats_changed, dispatch_uid="billing.sync_pro_seat_quantity")

        # The admin dashboard's money and open-incident panels (DESIGN.md §9).
        from billing import dashboard
        from phoenix.core.dashboard import DashboardPanel, register_dashboard_panel

        register_dashboard_panel(DashboardPanel(key="incidents", title="Open incidents",
                                                template="admin/dashboard/incidents.html",
                                                build=dashboard.incidents_panel, order=20))
        register_dashboard_panel(DashboardPanel(key="money", title="Money, last 30 days",
                                                template="admin/dashboard/money.html",
                                                build=dashboard.money_panel, order=40))
