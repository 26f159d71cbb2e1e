"""A collaborator's activity as their pro owner sees it: the usage events, gated by the
visibility policy `licenses` registers in `phoenix.core.visibility` (wallet never imports
licenses; it asks the policy)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from phoenix.core.visibility import activity_visible
from wallet.errors import ActivityNotFound
from wallet.models import EnergyAction, UsageEvent


def collaborator_activity(
    *, viewer, subject_id, since: datetime | None = None, until: datetime | None = None,
    source_app: str | None = None, now: datetime | None = None,
) -> QuerySet[UsageEvent]:
    """`subject_id`'s performed actions (refunded ones netted out), newest first, each with its
    catalogue `label`; filtered by period (`since` <= created_at < `until`) and app.

    ActivityNotFound (404) unless the policy lets `viewer` see them NOW: the same answer for
    an unknown id as for a user the viewer may not (or no longer) see.
    """
    try:
        public_id = uuid.UUID(str(subject_id))
    except ValueError:
        raise ActivityNotFound() from None
    subject = get_user_model().objects.filter(public_id=public_id, is_active=True).first()
    if subject is None or not activity_visible(viewer=viewer, subject=subject, now=now or timezone.now()):
        raise ActivityNotFound()
    events = UsageEvent.objects.performed().filter(user_id=subject.pk)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    if source_app:
        events = events.filter(source_app=source_app)
    label = EnergyAction.objects.filter(code=OuterRef("action_code")).values("label")[:1]
    return events.annotate(label=Subquery(label)).order_by("-id")


def collaborator_activity_recent(*, viewer, subject, limit: int = 10) -> list[dict] | None:
    """The reader registered in phoenix.core.visibility: the latest `limit` events of
    `collaborator_activity`, or None when the viewer may not see them."""
    try:
        events = collaborator_activity(viewer=viewer, subject_id=subject.public_id)
    except ActivityNotFound:
        return None
    return [{"event_id": e.pk, "action": e.action_code, "label": e.label, "category": e.category,
             "source_app": e.source_app, "energy_consumed": e.energy_consumed, "created_at": e.created_at}
            for e in events[:limit]]
