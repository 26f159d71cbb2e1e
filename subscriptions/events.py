"""The access.changed outbound webhook event (phoenix.outbound), emitted by the one place
every access transition is recorded, in its transaction."""

from __future__ import annotations

from django.utils import timezone

from phoenix.outbound.outbox import emit, user_subject
from subscriptions.models import Access
from subscriptions.selectors import access_is_premium, access_is_unlimited


def access_flags(access: Access | None) -> dict | None:
    if access is None:
        return None
    now = timezone.now()
    return {"type": access.type, "premium": access_is_premium(access, now=now),
            "unlimited": access_is_unlimited(access, now=now)}


def access_stored_flags(access: Access) -> dict | None:
    """The flags of the row as stored (before the in-memory change is saved)."""
    return access_flags(Access.objects.filter(pk=access.pk).first()) if access.pk else None


def access_changed_emit(*, access: Access, before: dict | None, kind: str) -> None:
    """Only when type, premium or unlimited changed (a renewal is not news)."""
    after = access_flags(access)
    if before == after:
        return
    emit(type="access.changed", subject=user_subject(access.user_id),
         body={"user_id": access.user_id, "kind": kind, "from": before, "to": after})
