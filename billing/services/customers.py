"""One Stripe Customer per Phoenix user, created through Stripe and mirrored by dj-stripe.

The customer is created lazily, on the user's first paying call, and reused by every
Checkout Session, PaymentIntent and subscription of that user (a pro account's seats bill
the owner's customer). dj-stripe's ``Customer`` row (``subscriber`` = the user) is the
record of it; its ``stripe_data`` is Stripe's object as last synced.

Race safety: the user's row is locked (``FOR NO KEY UPDATE``: rows referencing the user
can still be inserted meanwhile) while the mirror is checked and the customer created,
so two concurrent first purchases make one customer. The Stripe idempotency key is the
user's, so even a crash between Stripe's answer and our commit re-finds the same customer
on the next try. This one network call under a row lock is deliberate: it happens once
per user, and only that user's first purchases wait on it.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from djstripe.models import Customer
from djstripe.settings import djstripe_settings

from billing import gateway
from billing.errors import StripeCustomerMissing

logger = structlog.get_logger("phoenix.billing.customers")

META_USER = "phoenix_user_id"


def stripe_customer_of(user) -> Customer | None:
    """The user's mirrored Stripe Customer, if they have one."""
    return Customer.objects.filter(subscriber=user, livemode=settings.STRIPE_LIVE_MODE).first()


@transaction.atomic
def stripe_customer_ensure(*, user) -> Customer:
    """The user's Stripe Customer, created (and mirrored) on the first call."""
    gateway.ensure_configured()
    get_user_model().objects.select_for_update(no_key=True).get(pk=user.pk)
    customer = stripe_customer_of(user)
    if customer is not None:
        return customer
    data = gateway.customer_create(
        email=user.email,
        metadata={META_USER: str(user.public_id), djstripe_settings.SUBSCRIBER_CUSTOMER_KEY: str(user.pk)},
        idempotency_key=f"phoenix-customer-{user.public_id}",
    )
    api_key = gateway.djstripe_api_key()
    customer = gateway.djstripe_call("customer_mirror", Customer.sync_from_stripe_data, data, api_key=api_key)
    if customer.subscriber_id != user.pk:  # dj-stripe links it from the metadata; make sure
        customer.subscriber = user
        customer.save(update_fields=["subscriber"])
    logger.info("stripe_customer_created", user_id=user.pk, customer_id=customer.id)
    return customer


def stripe_customer_portal_open(*, user, request_key: str | None = None) -> dict:
    """A Billing Portal session for the user's customer: 409 ``stripe_customer_missing``
    without one (the portal is for someone who has bought something)."""
    gateway.ensure_configured()
    customer = stripe_customer_of(user)
    if customer is None:
        raise StripeCustomerMissing()
    return gateway.billing_portal_session_create(
        customer_id=customer.id, return_url=settings.BILLING_PORTAL_RETURN_URL,
        idempotency_key=f"phoenix-portal-{request_key}" if request_key else None,
    )


def stripe_customer_erase(*, user) -> str | None:
    """GDPR erasure: clear the customer's personal fields at Stripe and in the mirror.

    The Customer row stays linked to the (anonymized) user: its payments, invoices and
    subscriptions are financial records. Returns the customer id, or None without one.
    """
    customer = stripe_customer_of(user)
    if customer is None:
        return None
    data = gateway.customer_erase_personal_data(customer_id=customer.id)
    gateway.djstripe_call("customer_mirror", Customer.sync_from_stripe_data, data,
                          api_key=gateway.djstripe_api_key())
    logger.info("stripe_customer_erased", user_id=user.pk, customer_id=customer.id)
    return customer.id
