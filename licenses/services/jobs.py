"""The scheduled jobs of `licenses`: the grouped billing date and the pro
trial expiry. Each returns a `JobReport`; a run that finds its lock held does nothing."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from licenses.grouped_dates import next_grouped_date
from licenses.models import ENDING, License, ProAccount, ProAccountStatus
from licenses.selectors import JobStep, grouped_billing_plan, pro_trial_expiry_plan
from licenses.services.common import end_license, license_event, lock_account
from licenses.services.invitations import invitation_expire
from licenses.signals import billable_seats_changed
from phoenix.core.jobs import JobReport, advisory_lock

GROUPED_JOB_LOCK = "licenses.grouped_billing_run"  # also the name its reports carry
TRIAL_JOB_LOCK = "licenses.pro_trial_expiry_run"


def grouped_billing_run(*, now: datetime, dry_run: bool = False) -> JobReport:
    """The hourly grouped billing date processing. The report's steps are the ones done
    (dry run: the ones that would be done; one planning function feeds both). Each step
    runs in its own transaction and is re-checked under lock; a step no longer due is
    skipped. A run overlapping another one changes nothing and reports ``skipped_locked``."""
    if dry_run:
        return JobReport(job=GROUPED_JOB_LOCK, now=now, dry_run=True, steps=grouped_billing_plan(now=now))
    with advisory_lock(GROUPED_JOB_LOCK) as acquired:
        if not acquired:
            return JobReport(job=GROUPED_JOB_LOCK, now=now, skipped_locked=True)
        done = [step for step in grouped_billing_plan(now=now) if _apply_grouped_step(step=step, now=now)]
    # Each step committed on its own: one notice per account whose monthly seats were
    # deleted, so billing re-aligns the Stripe quantity once (it skips when Stripe agrees).
    for pro_account_id in dict.fromkeys(s.pro_account_id for s in done if s.action == "delete_license"):
        billable_seats_changed.send(sender=ProAccount, pro_account_id=pro_account_id, reason="grouped_date")
    return JobReport(job=GROUPED_JOB_LOCK, now=now, steps=done)


@transaction.atomic
def _apply_grouped_step(*, step: JobStep, now: datetime) -> bool:
    account = lock_account(step.pro_account_id)
    if step.action == "advance_grouped_date":
        if account.next_billing_at is None or account.next_billing_at > now:
            return False
        old = account.next_billing_at
        account.next_billing_at = next_grouped_date(anchor_day=account.billing_anchor_day, after=now)
        account.save(update_fields=["next_billing_at", "updated_at"])
        license_event(account, "grouped_date_advanced", now=now,
                             **{"from": old.isoformat(), "to": account.next_billing_at.isoformat()})
        return True
    lic = License.objects.select_for_update(of=("self",)).filter(
        pk=step.license_id, pro_account=account, status__in=ENDING, effective_at__lte=now
    ).select_related("assignee").first()
    if lic is None:
        return False
    end_license(lic, account=account, now=now)
    return True


def pro_trial_expiry_run(*, now: datetime, dry_run: bool = False) -> JobReport:
    """The hourly pro trial expiry: trial accounts past ``trial_ends_at`` -> expired; pending
    invitations past ``expires_at`` -> expired."""
    if dry_run:
        return JobReport(job=TRIAL_JOB_LOCK, now=now, dry_run=True, steps=pro_trial_expiry_plan(now=now))
    with advisory_lock(TRIAL_JOB_LOCK) as acquired:
        if not acquired:
            return JobReport(job=TRIAL_JOB_LOCK, now=now, skipped_locked=True)
        done = [step for step in pro_trial_expiry_plan(now=now) if _apply_trial_expiry(step=step, now=now)]
    return JobReport(job=TRIAL_JOB_LOCK, now=now, steps=done)


@transaction.atomic
def _apply_trial_expiry(*, step: JobStep, now: datetime) -> bool:
    account = lock_account(step.pro_account_id)
    if step.action == "expire_invitation":
        return invitation_expire(account=account, public_id=step.info["invitation"], now=now)
    if account.status != ProAccountStatus.TRIAL or account.trial_ends_at > now:
        return False
    account.status = ProAccountStatus.EXPIRED
    account.save(update_fields=["status", "updated_at"])
    license_event(account, "trial_expired", now=now, from_status=ProAccountStatus.TRIAL, to_status=account.status)
    return True
