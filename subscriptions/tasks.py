from celery import shared_task

from subscriptions import services


@shared_task(name="subscriptions.expire_access", ignore_result=False)
def expire_access() -> int:
    """Hourly: trial ends and period ends (DESIGN.md §8)."""
    from django.utils import timezone

    try:
        return len(services.access_expire_due(now=timezone.now()))
    except services.JobAlreadyRunning:
        return 0
