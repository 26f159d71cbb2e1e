"""The hourly access expiry job: trial ends and paid period ends."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from phoenix.core.jobs import JobReport, advisory_lock
from subscriptions.models import Access
from subscriptions.selectors import ExpiryStep, access_expiry_plan, fallback_type
from subscriptions.services.access import access_transition_record

EXPIRY_JOB_LOCK = "subscriptions.access_expire_due"  # also the name its reports carry


def access_expire_due(*, now: datetime, dry_run: bool = False) -> JobReport:
    """Trial ends and period ends due at ``now``. The report's steps are the ones done
    (or, dry run, that would be done): the same planning function feeds both, so a dry run
    lists what the real run then does. Each step is its own transaction, re-checked under
    lock. A run overlapping another one changes nothing and reports ``skipped_locked``."""
    if dry_run:
        return JobReport(job=EXPIRY_JOB_LOCK, now=now, dry_run=True, steps=access_expiry_plan(now=now))
    with advisory_lock(EXPIRY_JOB_LOCK) as acquired:
        if not acquired:
            return JobReport(job=EXPIRY_JOB_LOCK, now=now, skipped_locked=True)
        plan = access_expiry_plan(now=now)
        return JobReport(job=EXPIRY_JOB_LOCK, now=now,
                         steps=[step for step in plan if _apply_expiry(step=step, now=now)])


@transaction.atomic
def _apply_expiry(*, step: ExpiryStep, now: datetime) -> bool:
    access = Access.objects.select_for_update().get(pk=step.access_id)
    if (access.type != step.from_type or not step.still_due(access, now=now)
            or fallback_type(access, now=now) != step.to_type):
        return False  # changed since planning (a payment arrived): the next run re-plans
    from_type = access.type
    access.type = step.to_type
    access.cancel_at_period_end = False
    access_transition_record(access, kind=step.reason, from_type=from_type, event_time=now)
    return True
