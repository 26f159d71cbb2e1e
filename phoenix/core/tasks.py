from celery import shared_task

from phoenix.core import services


@shared_task(name="core.worker_heartbeat", ignore_result=False)
def worker_heartbeat() -> str:
    """Scheduled by beat: proves a worker consumes the queue (shown by /health/)."""
    return services.worker_heartbeat_record().isoformat()
