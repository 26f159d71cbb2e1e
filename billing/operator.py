"""Billing operator actions, taken in the admin: each calls the billing
service and writes the `AdminAction` row in the same transaction as the change."""

from __future__ import annotations

from django.db import transaction

from billing.errors import IncidentNotOpen, ShortfallAlreadySettled, WebhookProcessingFailed
from billing.models import PaymentReversal, ReconciliationIncident, WebhookEvent
from billing.services.payments import payment_reversal_resolve
from billing.services.reconciliation import reconciliation_incident_resolve
from billing.services.webhooks import webhook_event_reprocess
from phoenix.core.services import operator_action, operator_reason


def _webhook_state(record: WebhookEvent) -> dict:
    return {"status": record.status, "attempts": record.attempts, "error": record.error[:500]}


@transaction.atomic
def webhook_event_reprocess_by_operator(*, webhook_event: WebhookEvent, actor, reason: str) -> WebhookEvent:
    """Re-play a failed event through `webhook_event_reprocess`. A handler that fails again
    is an outcome, not an error here: the attempt (status failed, new error) and its
    audit row are kept; the handler's own writes were rolled back by its savepoint."""
    reason = operator_reason(reason)
    before = _webhook_state(webhook_event)
    try:
        record = webhook_event_reprocess(webhook_event_id=webhook_event.pk)
    except WebhookProcessingFailed:
        record = WebhookEvent.objects.get(pk=webhook_event.pk)
    operator_action(actor=actor, action="webhook_reprocess", target=record, reason=reason,
                    before=before, after=_webhook_state(record))
    return record


@transaction.atomic
def reconciliation_incident_resolve_by_operator(*, incident: ReconciliationIncident, actor,
                                                reason: str) -> ReconciliationIncident:
    reason = operator_reason(reason)
    if incident.status != "open":
        raise IncidentNotOpen()
    resolved = reconciliation_incident_resolve(incident_id=incident.pk, actor=actor, note=reason)
    operator_action(actor=actor, action="reconciliation_incident_resolve", target=resolved, reason=reason,
                    before={"status": incident.status}, after={"status": resolved.status})
    return resolved


@transaction.atomic
def payment_shortfall_resolve_by_operator(*, reversal: PaymentReversal, actor, reason: str) -> PaymentReversal:
    """Settle what a refund or dispute could not claw back (recovered otherwise, or written off)."""
    reason = operator_reason(reason)
    if reversal.resolved_at is not None:
        raise ShortfallAlreadySettled()
    resolved = payment_reversal_resolve(reversal_id=reversal.pk, actor=actor, note=reason)
    operator_action(actor=actor, action="payment_shortfall_resolve", target=resolved, reason=reason,
                    before={"resolved": False, "shortfall": reversal.shortfall},
                    after={"resolved": True, "shortfall": resolved.shortfall})
    return resolved
