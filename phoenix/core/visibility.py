"""Who may see another user's activity: a policy registry.

The activity (usage events) lives in `wallet`; the relationship that grants sight of it (a
pro owner and a linked collaborator with premium access) lives in `licenses`. The two are
siblings and never import each other, so the app owning the relationship registers its
rule here (from `AppConfig.ready`) and the app owning the activity consults it. With no
policy registered nobody sees anybody's activity (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

# policy(viewer=, subject=, now=) -> True when `viewer` may see `subject`'s activity now.
ActivityVisibilityPolicy = Callable[..., bool]

_policies: list[ActivityVisibilityPolicy] = []


def register_activity_visibility(policy: ActivityVisibilityPolicy) -> None:
    """Add a rule granting sight of activity (idempotent: `ready` may run twice in tests)."""
    if policy not in _policies:
        _policies.append(policy)


def activity_visible(*, viewer, subject, now: datetime | None = None) -> bool:
    """Whether `viewer` may see `subject`'s activity at `now`: some registered rule says so.
    Oneself is not covered here (a user reads their own events through /luna)."""
    if viewer is None or subject is None or not getattr(viewer, "is_authenticated", False):
        return False
    now = now or timezone.now()
    return any(policy(viewer=viewer, subject=subject, now=now) for policy in _policies)


# reader(viewer=, subject=, limit=) -> the latest `limit` events as dicts, or None when hidden.
# Registered by the app owning the activity (wallet) for readers above core that show it
# without importing it (the pro account's admin page, in licenses).
ActivityReader = Callable[..., list[dict] | None]

_readers: list[ActivityReader] = []


def register_activity_reader(reader: ActivityReader) -> None:
    if reader not in _readers:
        _readers.append(reader)


def activity_recent(*, viewer, subject, limit: int = 10) -> list[dict] | None:
    """`subject`'s latest activity as `viewer` may see it, or None when hidden (the reader
    applies `activity_visible` itself; no reader registered: None)."""
    for reader in _readers:
        return reader(viewer=viewer, subject=subject, limit=limit)
    return None
