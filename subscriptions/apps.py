from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Subscriptions"

    def ready(self) -> None:
        from phoenix.accounts.authentication import register_authentication_relation
        from phoenix.accounts.profile import register_profile_section
        from phoenix.accounts.signals import user_registered
        from phoenix.core.dashboard import DashboardPanel, register_dashboard_panel
        from subscriptions import dashboard, receivers, selectors

        # Registration opens the TRIAL in the same transaction as the user row.
        user_registered.connect(receivers.open_trial_on_registration, dispatch_uid="subscriptions.open_trial")
        register_profile_section("access", selectors.access_profile_section)
        # Every /luna spend asks whether the user is unlimited: the access row comes with the token.
        register_authentication_relation("access")

        # The admin dashboard's panel.
        register_dashboard_panel(DashboardPanel(key="access", title="Access types",
                                                template="admin/dashboard/access.html",
                                                build=dashboard.access_panel, order=50))

        # The customer page's access section (phoenix.core.customer).
        from subscriptions import customer

        customer.register()
