"""Every write on individual access, by topic: ``access`` (the state machine's transitions,
billing- and license-driven) and ``jobs`` (the hourly expiry). Each public name is importable
from ``subscriptions.services``; the errors are in ``subscriptions.errors``."""

from subscriptions.services.access import (
    TRIAL_DAYS,
    TRIAL_EXTEND_MAX_DAYS,
    AccessChange,
    access_activate_premium,
    access_end_premium,
    access_end_trial,
    access_extend_trial,
    access_grant_license,
    access_grant_lifetime,
    access_lock,
    access_open_trial,
    access_payment_failed,
    access_reactivate_license,
    access_renew_premium,
    access_resume,
    access_revoke_license,
    access_set_cancel_at_period_end,
    access_suspend_license,
    access_transition_record,
    trial_end_extended,
)
from subscriptions.services.jobs import EXPIRY_JOB_LOCK, access_expire_due

__all__ = [
    "EXPIRY_JOB_LOCK", "TRIAL_DAYS", "TRIAL_EXTEND_MAX_DAYS", "AccessChange", "access_activate_premium",
    "access_end_premium", "access_end_trial", "access_expire_due", "access_extend_trial", "access_grant_license",
    "access_grant_lifetime", "access_lock", "access_open_trial",
    "access_payment_failed", "access_reactivate_license", "access_renew_premium", "access_resume",
    "access_revoke_license", "access_set_cancel_at_period_end", "access_suspend_license",
    "access_transition_record", "trial_end_extended",
]
