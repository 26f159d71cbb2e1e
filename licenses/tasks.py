from celery import shared_task
from django.utils import timezone

from licenses import services


@shared_task(name="licenses.grouped_billing", ignore_result=False)
def grouped_billing() -> dict:
    """Hourly: canceled/unlinked seats due on the grouped billing date."""
    return services.grouped_billing_run(now=timezone.now()).summary()


@shared_task(name="licenses.pro_trial_expiry", ignore_result=False)
def pro_trial_expiry() -> dict:
    """Hourly: pro trials ended without a purchase."""
    return services.pro_trial_expiry_run(now=timezone.now()).summary()
