from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Webhook handlers and product kinds register themselves on import.
        from billing import webhooks

        webhooks.autodiscover()
