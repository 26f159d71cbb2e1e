from celery import shared_task
from django.utils import timezone

from licenses import services
from subscriptions.services import JobAlreadyRunning


@shared_task(name="licenses.grouped_billing", ignore_result=False)
def grouped_billing() -> int:
    """Hourly: canceled/unlinked seats due on the grouped billing date (DESIGN.md §8)."""
    try:
        return len(services.grouped_billing_run(now=timezone.now()))
    except JobAlreadyRunning:
        return 0


@shared_task(name="licenses.pro_trial_expiry", ignore_result=False)
def pro_trial_expiry() -> int:
    """Hourly: pro trials ended without a purchase."""
    try:
        return len(services.pro_trial_expiry_run(now=timezone.now()))
    except JobAlreadyRunning:
        return 0
