from celery import shared_task
from django.utils import timezone

from subscriptions import services


@shared_task(name="subscriptions.expire_access", ignore_result=False)
def expire_access() -> dict:
    """Hourly: trial ends and period ends."""
    return services.access_expire_due(now=timezone.now()).summary()
