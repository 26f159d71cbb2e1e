"""Signals billing sends to itself, from a lower module to a higher one.

A product kind's fulfilment runs inside ``services.payments`` (it is below billing's
services and tasks), yet a lifetime plan must stop the buyer's monthly subscription
through a retried Celery task: it sends this signal, and ``billing.receivers`` enqueues
the task after commit (connected in ``BillingConfig.ready``).
"""

from django.dispatch import Signal

# kwargs: subscription_id (str), reason (str). Sent inside the fulfilment's transaction.
stripe_subscription_cancel_requested = Signal()

# kwargs: webhook_event_id (int). Sent inside the event's transaction once it is processed
# or acknowledged (again on every redelivery): the mirror syncs after the commit.
webhook_event_settled = Signal()
