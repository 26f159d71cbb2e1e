"""Every write on pro accounts and licenses: the license rules (README, "Design in brief").

- One transaction per service. Rows are locked in one order everywhere:
  ProAccount -> License (id order) -> PendingAssignment -> the collaborator's Access
  (through `subscriptions.services`). Two assignments racing for one license serialize
  on the license row; two licenses racing for one collaborator serialize on their Access
  row, and the partial UNIQUE on ``License.assignee`` backs both.
- A collaborator's access changes only through `subscriptions.services`.
- Every change writes a ``LicenseEvent`` (append-only). Billing-driven services
  (purchase, renewal paid/failed, finalize) take the Stripe ``event_time`` and an optional
  ``reference`` (event / checkout id): a replayed reference or an event older than the
  newest one applied changes nothing.

By topic: ``accounts`` (opening, Stripe facts), ``invitations`` (invite, accept with
consent, decline, revoke), ``memberships`` (collaborators), ``pool``
(purchase, assignment, cancel/unlink), ``suspension`` (renewal paid/failed, operator
suspension), ``jobs`` (the scheduled runs), ``common`` (locks, event rows, a license's end).
Every public name stays importable from ``licenses.services``; the errors are in
``licenses.errors``.
"""

from licenses.services.accounts import (
    PRO_TRIAL_DAYS,
    pro_account_open,
    pro_account_record_stripe_seat_quantity,
    pro_account_set_stripe_subscription,
)
from licenses.services.invitations import (
    invitation_accept,
    invitation_decline,
    invitation_for_token,
    invitation_respond_by_token,
    invitation_revoke,
    invitation_send,
    invitation_token,
)
from licenses.services.jobs import GROUPED_JOB_LOCK, TRIAL_JOB_LOCK, grouped_billing_run, pro_trial_expiry_run
from licenses.services.memberships import collaborator_link, collaborator_unlink
from licenses.services.pool import (
    AssignResult,
    PurchaseResult,
    license_assign,
    license_assignment_abort,
    license_assignment_finalize,
    license_cancel,
    license_purchase,
    license_unlink,
)
from licenses.services.suspension import (
    BillingResult,
    pro_account_reactivate,
    pro_account_suspend,
    pro_renewal_failed,
    pro_renewal_paid,
)

__all__ = [
    "GROUPED_JOB_LOCK",
    "PRO_TRIAL_DAYS",
    "TRIAL_JOB_LOCK",
    "AssignResult",
    "BillingResult",
    "PurchaseResult",
    "collaborator_link",
    "collaborator_unlink",
    "grouped_billing_run",
    "invitation_accept",
    "invitation_decline",
    "invitation_for_token",
    "invitation_respond_by_token",
    "invitation_revoke",
    "invitation_send",
    "invitation_token",
    "license_assign",
    "license_assignment_abort",
    "license_assignment_finalize",
    "license_cancel",
    "license_purchase",
    "license_unlink",
    "pro_account_open",
    "pro_account_reactivate",
    "pro_account_record_stripe_seat_quantity",
    "pro_account_set_stripe_subscription",
    "pro_account_suspend",
    "pro_renewal_failed",
    "pro_renewal_paid",
    "pro_trial_expiry_run",
]
