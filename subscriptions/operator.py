"""Operator actions on individual access, taken in the admin: extend or end a trial.

Each one locks the Access row, goes through the access state machine
(`subscriptions.services`, which records the `AccessEvent` of the timeline) and writes the
`AdminAction` row (who, what, why, before/after) in the same transaction as the change.

The intent key (`operator_intent_key` of the form) is the access event's reference, so a
re-posted form (Back + resubmit, double click) is refused with `operator_action_repeated`;
the unique (access, kind, reference) of the events backs it under concurrency.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from phoenix.core.services import operator_action, operator_intent_done, operator_reason
from subscriptions import services
from subscriptions.models import Access, AccessEvent


def _refuse_if_done(*, access: Access, key: str | None) -> None:
    if key and (done := AccessEvent.objects.filter(access=access, reference=key).first()):
        raise operator_intent_done(done_at=done.created_at, what=f"access event {done.pk}, {done.kind}",
                                   access_event_id=done.pk)


def _access_state(access: Access) -> dict:
    return {"type": access.type,
            "trial_ends_at": access.trial_ends_at.isoformat() if access.trial_ends_at else None}


def _locked(access: Access) -> Access:
    return Access.objects.select_for_update().select_related("user").get(pk=access.pk)


@transaction.atomic
def trial_extend(*, access: Access, actor, reason: str, days: int | None = None, until: datetime | None = None,
                 intent_key: str | None = None, now: datetime | None = None) -> AccessEvent:
    """Move a running trial's end later: by `days` or to `until` (one of the two; the rules are
    `services.trial_end_extended`). Not a trial: ``not_trial``; nothing is written."""
    reason = operator_reason(reason)
    now = now or timezone.now()
    locked = _locked(access)
    key = f"admin-trial-extend:{intent_key}" if intent_key else ""
    _refuse_if_done(access=locked, key=key)
    before = _access_state(locked)
    event = services.access_extend_trial(user=locked.user, now=now, days=days, until=until, reference=key)
    operator_action(actor=actor, action="trial_extend", target=event.access, reason=reason, before=before,
                    after={**_access_state(event.access), "access_event_id": event.pk, "days": days,
                           "until": until.isoformat() if until else None})
    return event


@transaction.atomic
def trial_end(*, access: Access, actor, reason: str, intent_key: str | None = None,
              now: datetime | None = None) -> AccessEvent:
    """End a running trial now (TRIAL -> what the state machine gives an ended trial, normally
    EXPIRED). Not a trial: ``not_trial``; nothing is written."""
    reason = operator_reason(reason)
    now = now or timezone.now()
    locked = _locked(access)
    key = f"admin-trial-end:{intent_key}" if intent_key else ""
    _refuse_if_done(access=locked, key=key)
    before = _access_state(locked)
    event = services.access_end_trial(user=locked.user, now=now, reference=key)
    operator_action(actor=actor, action="trial_end", target=event.access, reason=reason, before=before,
                    after={**_access_state(event.access), "access_event_id": event.pk})
    return event
