"""Writes shared by every app: the operator-action audit row, job runs, the worker heartbeat."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from phoenix.core.errors import OperatorActionRepeated, ReasonRequired
from phoenix.core.models import AdminAction, JobRun

WORKER_HEARTBEAT_KEY = "core:worker-heartbeat"
WORKER_HEARTBEAT_TTL_S = 24 * 3600

__all__ = ["ReasonRequired", "operator_action", "operator_intent_done", "operator_intent_key", "operator_reason",
           "job_run_record", "worker_heartbeat_record"]


def worker_heartbeat_record(*, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    cache.set(WORKER_HEARTBEAT_KEY, now.isoformat(), timeout=WORKER_HEARTBEAT_TTL_S)
    return now


def operator_reason(reason: str | None) -> str:
    """The one rule for an operator's reason: required, surrounding blanks dropped."""
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired()
    return reason


def operator_intent_key(*, action: str, target, fields: dict, repeat: int = 0) -> str:
    """The idempotency key of an operator's intent: the action, its target, the form's fields
    (reason included) and the repeat ordinal. Derived, never a per-render token, so the same
    submission re-posted after Back maps to the same key (one effect); `repeat` is the number of
    times the operator confirmed "do it again", so each confirmed repeat is once too."""
    body = json.dumps({"action": action, "target": [target._meta.label_lower, str(target.pk)],
                       "fields": {k: str(v) for k, v in sorted(fields.items())}, "repeat": int(repeat)},
                      sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:40]


def operator_intent_done(*, done_at: datetime, what: str, **extra) -> OperatorActionRepeated:
    """The refusal of an intent already carried out (`what`: what it did, and when): the
    operator is told, and the admin offers "do it again" (a new repeat ordinal, a new key)."""
    ago = int((timezone.now() - done_at).total_seconds())
    return OperatorActionRepeated(f"This exact action was done {ago} s ago ({what}); nothing was changed now. "
                                  "Submit again to do it once more.", **extra)


def operator_action(
    *,
    actor,
    action: str,
    target,
    reason: str,
    before: dict | None = None,
    after: dict | None = None,
) -> AdminAction:
    """Write the audit row of an operator action, in the caller's transaction (so there is
    no change without its row, and no row for a change that rolled back)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("operator_action must run inside the transaction of the change it audits")
    return AdminAction.objects.create(
        actor=actor,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:255],
        reason=operator_reason(reason),
        before=before or {},
        after=after or {},
    )


def export_recorded(*, actor, model, filters: str, columns: list[str]) -> AdminAction:
    """The audit row of a CSV export: who took which table, under which filters (the data
    leaves the back office, so it is an operator action like a change)."""
    return AdminAction.objects.create(
        actor=actor, action="export_csv", target_type=model._meta.label_lower, target_id="*",
        target_repr=f"CSV export of {model._meta.verbose_name_plural}"[:255],
        reason="export", after={"filters": filters[:2000], "columns": columns},
    )


def job_run_record(*, job: str, started_at: datetime, outcome: str, summary: dict | None = None,
                   finished_at: datetime | None = None) -> JobRun:
    """Note that a scheduled job finished (the dashboard shows the latest per job)."""
    finished_at = max(finished_at or timezone.now(), started_at)
    return JobRun.objects.create(job=job, started_at=started_at, finished_at=finished_at,
                                 outcome=outcome, summary=summary or {})
