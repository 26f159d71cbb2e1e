from django.apps import AppConfig
from djstripe.apps import DjstripeAppConfig


class StripeMirrorConfig(DjstripeAppConfig):
    """dj-stripe, named for what it is in Phoenix: the admin index shows its tables as the
    "Stripe mirror" group (billing.admin keeps the ones an operator needs, read-only)."""

    default = False  # listed by its dotted path in INSTALLED_APPS
    verbose_name = "Stripe mirror"


class BillingConfig(AppConfig):
    default = True  # "billing" in INSTALLED_APPS (this module holds two configs)
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Webhook handlers (billing.webhooks.HANDLERS) and product kinds
        # (billing.products.PRODUCT_KINDS) are listed explicitly: nothing to register here.
        from billing import dashboard, metrics, receivers, signals
        from licenses.signals import billable_seats_changed, license_assignment_pending
        from phoenix.accounts.signals import user_erased
        from phoenix.core.dashboard import DashboardPanel, register_dashboard_panel

        license_assignment_pending.connect(
            receivers.on_license_assignment_pending, dispatch_uid="billing.cancel_personal_subscription"
        )
        billable_seats_changed.connect(receivers.on_billable_seats_changed,
                                       dispatch_uid="billing.sync_pro_seat_quantity")
        signals.stripe_subscription_cancel_requested.connect(
            receivers.on_stripe_subscription_cancel_requested, dispatch_uid="billing.cancel_stripe_subscription"
        )
        signals.webhook_event_settled.connect(receivers.on_webhook_event_settled,
                                              dispatch_uid="billing.sync_stripe_mirror")
        user_erased.connect(receivers.on_user_erased, dispatch_uid="billing.erase_stripe_customer")

        metrics.register()  # failed webhook events, reconciliation mismatches (phoenix.core.metrics)

        # The admin dashboard's money and open-incident panels.
        register_dashboard_panel(DashboardPanel(key="incidents", title="Open incidents",
                                                template="admin/dashboard/incidents.html",
                                                build=dashboard.incidents_panel, order=20))
        register_dashboard_panel(DashboardPanel(key="money", title="Money",
                                                template="admin/dashboard/money.html",
                                                build=dashboard.money_panel, order=40, takes_query=True))

        # The customer page's payments section and the search by payment / Stripe id.
        from billing import customer

        customer.register()
