"""Operator actions on the webhook endpoints and deliveries, taken in the admin (or the
command line with an actor): each one calls the registry / delivery service and writes the
`AdminAction` row in the same transaction. A secret is never written to the audit trail."""

from __future__ import annotations

from django.db import transaction

from phoenix.core.services import operator_action, operator_reason
from phoenix.outbound import tasks
from phoenix.outbound.catalogue import TEST_EVENT
from phoenix.outbound.models import Delivery, Endpoint
from phoenix.outbound.outbox import emit
from phoenix.outbound.services import delivery as delivery_services
from phoenix.outbound.services import endpoints as endpoint_services


def _state(endpoint: Endpoint) -> dict:
    endpoint.refresh_from_db()
    return {"url": endpoint.url, "event_types": list(endpoint.event_types), "description": endpoint.description,
            "balance_low_threshold": endpoint.balance_low_threshold, "enabled": endpoint.enabled,
            "disabled_reason": endpoint.disabled_reason}


@transaction.atomic
def endpoint_register(*, actor, reason: str, url: str, event_types: list[str], description: str = "",
                      balance_low_threshold: int | None = None) -> Endpoint:
    reason = operator_reason(reason)
    endpoint = endpoint_services.endpoint_create(url=url, event_types=event_types, description=description,
                                                 balance_low_threshold=balance_low_threshold)
    operator_action(actor=actor, action="webhook_endpoint_create", target=endpoint, reason=reason,
                    after=_state(endpoint))
    return endpoint


@transaction.atomic
def endpoint_change(*, endpoint: Endpoint, actor, reason: str, url: str, event_types: list[str],
                    description: str, balance_low_threshold: int | None) -> Endpoint:
    reason = operator_reason(reason)
    before = _state(endpoint)
    endpoint = endpoint_services.endpoint_update(endpoint=endpoint, url=url, event_types=event_types,
                                                 description=description,
                                                 balance_low_threshold=balance_low_threshold)
    operator_action(actor=actor, action="webhook_endpoint_change", target=endpoint, reason=reason,
                    before=before, after=_state(endpoint))
    return endpoint


@transaction.atomic
def endpoint_rotate(*, endpoint: Endpoint, actor, reason: str) -> Endpoint:
    reason = operator_reason(reason)
    endpoint = endpoint_services.endpoint_secret_rotate(endpoint=endpoint)
    operator_action(actor=actor, action="webhook_secret_rotate", target=endpoint, reason=reason,
                    after={"previous_secret_expires_at": endpoint.previous_secret_expires_at.isoformat()})
    return endpoint


@transaction.atomic
def endpoint_set_enabled(*, endpoint: Endpoint, enabled: bool, actor, reason: str) -> bool:
    reason = operator_reason(reason)
    before = _state(endpoint)
    changed = (endpoint_services.endpoint_enable(endpoint=endpoint) if enabled
               else endpoint_services.endpoint_disable(endpoint=endpoint))
    if changed:
        operator_action(actor=actor, action="webhook_endpoint_enable" if enabled else "webhook_endpoint_disable",
                        target=endpoint, reason=reason, before=before, after=_state(endpoint))
        if enabled:  # what waited while it was disabled goes out now
            ids = list(endpoint.deliveries.filter(status="pending").values_list("pk", flat=True))
            transaction.on_commit(lambda: tasks.deliveries_enqueue(ids))
    return changed


@transaction.atomic
def delivery_redeliver(*, delivery: Delivery, actor, reason: str) -> Delivery:
    reason = operator_reason(reason)
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery = delivery_services.delivery_redeliver(delivery=delivery)
    operator_action(actor=actor, action="webhook_redeliver", target=delivery, reason=reason, before=before,
                    after={"status": delivery.status, "event_id": str(delivery.event_id)})
    transaction.on_commit(lambda: tasks.deliveries_enqueue([delivery.pk]))
    return delivery


@transaction.atomic
def endpoint_redeliver_failed(*, endpoint: Endpoint, actor, reason: str) -> list[int]:
    reason = operator_reason(reason)
    ids = delivery_services.endpoint_redeliver_failed(endpoint=endpoint)
    operator_action(actor=actor, action="webhook_redeliver_failed", target=endpoint, reason=reason,
                    after={"deliveries": len(ids)})
    transaction.on_commit(lambda: tasks.deliveries_enqueue(ids))
    return ids


@transaction.atomic
def endpoint_send_test(*, endpoint: Endpoint, actor, reason: str, message: str = "") -> list[int]:
    """A `webhook.test` event to this endpoint only, subscribed or not (an enabled endpoint:
    a disabled one receives nothing)."""
    reason = operator_reason(reason)
    ids = emit(type=TEST_EVENT, subject=f"endpoint:{endpoint.pk}", endpoint_id=endpoint.pk,
               body={"endpoint_id": endpoint.pk, "message": message or "test event sent from the admin"})
    operator_action(actor=actor, action="webhook_send_test", target=endpoint, reason=reason,
                    after={"deliveries": ids})
    return ids
