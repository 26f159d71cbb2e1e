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
