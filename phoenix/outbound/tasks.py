"""Thin Celery tasks of the outbound webhooks."""

from __future__ import annotations

from celery import shared_task

from phoenix.outbound.services import delivery


def deliveries_enqueue(delivery_ids: list[int]) -> None:
    """One task per delivery: endpoints are independent (a slow one delays no other)."""
    for delivery_id in delivery_ids:
        deliver.delay(delivery_id)


@shared_task(name="outbound.deliver", ignore_result=True)
def deliver(delivery_id: int) -> None:
    delivery.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="outbound.dispatch", ignore_result=False)
def dispatch() -> dict:
    """Beat, every minute: what is due (retries, and anything a killed worker left)."""
    return delivery.deliveries_dispatch(enqueue=deliveries_enqueue).summary()
