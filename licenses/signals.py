"""Signals `licenses` sends to the layer above it (billing), so it never imports billing.

- ``license_assignment_pending(pending)``: sent after commit when a license was assigned
  to a PREMIUM collaborator (``needs_cancel_existing``). ``pending`` is the
  ``PendingAssignment`` (``collaborator``, ``stripe_subscription_id``, ``license``).
  Billing cancels that personal subscription through Stripe; when Stripe confirms it
  calls ``licenses.services.license_assignment_finalize`` (or ``..._abort`` on failure).
"""

from django.dispatch import Signal

license_assignment_pending = Signal()
