from __future__ import annotations

from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from phoenix.core.errors import PhoenixError

WORKER_HEARTBEAT_KEY = "core:worker-heartbeat"
WORKER_HEARTBEAT_TTL_S = 24 * 3600


def worker_heartbeat_record(*, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    cache.set(WORKER_HEARTBEAT_KEY, now.isoformat(), timeout=WORKER_HEARTBEAT_TTL_S)
    return now


class ReasonRequired(PhoenixError):
    code = "reason_required"
    default_detail = "Operator actions need a reason."


def admin_action_record(
    *,
    actor,
    action: str,
    target,
    reason: str,
    before: dict | None = None,
    after: dict | None = None,
):
    """Write the audit row of an operator action, in the caller's transaction."""
    from phoenix.core.models import AdminAction

    if not (reason or "").strip():
        raise ReasonRequired()
    return AdminAction.objects.create(
        actor=actor,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:255],
        reason=reason.strip(),
        before=before or {},
        after=after or {},
    )


def job_run_record(*, job: str, started_at: datetime, outcome: str, summary: dict | None = None,
                   finished_at: datetime | None = None):
    """Note that a scheduled job finished (the dashboard shows the latest per job)."""
    from phoenix.core.models import JobRun

    finished_at = max(finished_at or timezone.now(), started_at)
    return JobRun.objects.create(job=job, started_at=started_at, finished_at=finished_at,
                                 outcome=outcome, summary=summary or {})
