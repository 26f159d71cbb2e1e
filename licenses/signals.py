"""Signals `licenses` sends to the layer above it (billing), so it never imports billing.

- ``license_assignment_pending(pending)``: sent after commit when a license was assigned
  to a PREMIUM collaborator (``needs_cancel_existing``). ``pending`` is the
  ``PendingAssignment`` (``collaborator``, ``stripe_subscription_id``, ``license``).
  Billing cancels that personal subscription through Stripe; when Stripe confirms it
  calls ``licenses.services.license_assignment_finalize`` (or ``..._abort`` on failure).
- ``billable_seats_changed(pro_account_id, reason)``: sent after commit when the monthly
  seats a pro account pays for changed: a monthly seat canceled/unlinked (it stops being
  billed from the next grouped date) or deleted on the grouped date. Billing sets the
  grouped Stripe subscription's quantity to
  ``licenses.selectors.billable_monthly_seat_count`` (no proration).
"""

from django.dispatch import Signal

license_assignment_pending = Signal()
billable_seats_changed = Signal()
