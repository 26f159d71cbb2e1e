"""All of billing's pro-seat work at Stripe: buying seats, the grouped
subscription's quantity following the billable monthly seats, and a suspended pro
regularizing by paying the open invoice. (What a seat checkout delivers is the product
kind ``billing.products.pro_seats``; the Stripe events are ``billing.webhooks``.)

- Purchase: lifetime seats and the first monthly seats go through Checkout
  (``payment_checkout_start``); later monthly seats raise the grouped subscription's
  quantity at Stripe with proration, and the seats exist at once.
- Quantity: ``licenses`` sends ``billable_seats_changed`` after commit (a monthly seat
  canceled/unlinked, or deleted on the grouped date); ``billing.receivers`` enqueues
  ``billing.sync_pro_seat_quantity`` (Celery, retried with backoff), which sets the
  subscription item's quantity to ``licenses.selectors.billable_monthly_seat_count``
  with ``proration_behavior: none`` (the current cycle is paid; the next invoice bills
  the new count). Absolute and skipped when Stripe already agrees, so replays and
  duplicate notices change nothing. The quantity set (or seen) is recorded on the
  account for the daily reconciliation (``seat_quantity_mismatch``). When the retries
  run out, an open ``ReconciliationIncident`` ``seat_quantity_sync_failed`` is raised for
  an admin.
- Regularize: the open invoice of the grouped subscription and its ``hosted_invoice_url``;
  once paid, Stripe's ``invoice.paid`` reactivates the account (``pro_renewal_paid``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from django.core.mail import mail_admins
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing import gateway
from billing.errors import NoOpenInvoice, SeatPurchaseInProgress, StripeUnavailable
from billing.models import IncidentStatus, Payment, ReconciliationIncident
from billing.products import PRO_SEATS
from billing.services.payments import payment_checkout_start
from billing.stripe_objects import subscription_first_item
from licenses.errors import InvalidQuantity, ProAccountNotActive, ProAccountNotSuspended
from licenses.models import LicenseKind, ProAccount, ProAccountStatus
from licenses.selectors import (
    billable_monthly_seat_count,
    license_purchase_quote,
    pro_account_for_owner,
    pro_account_for_stripe_subscription,
)
from licenses.services import license_purchase, pro_account_record_stripe_seat_quantity
from phoenix.core.jobs import advisory_lock

logger = structlog.get_logger("phoenix.billing.pro_seats")

SYNC_FAILED = "seat_quantity_sync_failed"
REGULARIZE_NOT_SUSPENDED = "The pro account is not suspended: there is nothing to regularize."
ENDED_STATUSES = ("canceled", "incomplete_expired")


def seat_lock_name(pro_account_id: int) -> str:
    """One Stripe quantity change per account at a time (shared with seat purchases)."""
    return f"billing.pro_seats:{pro_account_id}"


def pro_account_subject(pro_account_id: int) -> str:
    return f"pro_account:{pro_account_id}"


# --- buying seats ---------------------------------------------------------------------


@dataclass(frozen=True)
class SeatPurchase:
    """``checkout``: pay on Stripe Checkout (``payment``, ``checkout_url``); ``added``:
    monthly seats added to the grouped subscription with proration (``licenses``,
    ``quote``), billed on the grouped date."""

    outcome: str
    payment: Payment | None = None
    checkout_url: str = ""
    licenses: list = field(default_factory=list)
    quote: Any = None


def pro_seats_purchase(*, owner, kind: str, quantity: int, now: datetime | None = None,
                       request_key: str | None = None) -> SeatPurchase:
    """Buy ``quantity`` seats of ``kind`` for the owner's pro account.

    Lifetime seats, and the first monthly seats (which start the grouped cycle), go
    through Checkout. Later monthly seats raise the grouped subscription's quantity at
    Stripe, prorated to the grouped date (the price ``license_purchase_quote`` shows),
    and the seats exist at once.
    """
    gateway.ensure_configured()
    if not 1 <= quantity <= 1000:
        raise InvalidQuantity()
    account = pro_account_for_owner(owner)
    if kind == LicenseKind.LIFETIME or account.billing_anchor_day is None or not account.stripe_subscription_id:
        payment, url = payment_checkout_start(
            user=owner, product_kind=PRO_SEATS, product_code=kind, quantity=quantity,
            request_key=request_key,
        )
        return SeatPurchase("checkout", payment=payment, checkout_url=url)
    if account.status == ProAccountStatus.SUSPENDED:
        raise ProAccountNotActive(status=account.status)

    now = now or timezone.now()
    # Stripe has no "add N": read the quantity, write quantity + N. One purchase per
    # account at a time (a try-lock, not a row lock: nothing waits across the network).
    with advisory_lock(seat_lock_name(account.pk)) as acquired:
        if not acquired:
            raise SeatPurchaseInProgress()
        license_purchase_quote(pro_account=account, kind=kind, quantity=quantity, now=now)  # plan set?
        subscription = gateway.subscription_retrieve(subscription_id=account.stripe_subscription_id)
        item = subscription_first_item(subscription)
        if item is None:
            raise StripeUnavailable("The grouped subscription has no item.", code="stripe_request_refused")
        key = request_key or uuid.uuid4()
        gateway.subscription_item_set_quantity(
            item_id=item["id"], quantity=int(item.get("quantity") or 0) + quantity,
            proration_date=int(now.timestamp()), idempotency_key=f"phoenix-seats-{key}",
        )
        result = license_purchase(pro_account=account, kind=kind, quantity=quantity, event_time=now,
                                  reference=f"seats:{key}")
        pro_account_record_stripe_seat_quantity(pro_account=account, quantity=int(item.get("quantity") or 0)
                                                + quantity, observed_at=timezone.now())
    return SeatPurchase("added", licenses=result.licenses, quote=result.quote)


# --- quantity follows the billable monthly seats --------------------------------------


def pro_seat_quantity_sync(*, pro_account_id: int, now: datetime | None = None) -> str:
    """Set the grouped subscription's quantity to the billable monthly seats.

    Returns ``updated``, ``unchanged`` (Stripe already agrees: no write),
    ``no_subscription`` or ``subscription_ended``. Stripe errors propagate (the task
    retries); another quantity change in progress raises ``SeatPurchaseInProgress``.
    """
    account = ProAccount.objects.filter(pk=pro_account_id).first()
    if account is None or not account.stripe_subscription_id:
        return "no_subscription"
    gateway.ensure_configured()
    # Stripe is called outside any transaction; the try-lock keeps a concurrent seat
    # purchase (read quantity, write quantity + N) from interleaving with this write.
    with advisory_lock(seat_lock_name(account.pk)) as acquired:
        if not acquired:
            raise SeatPurchaseInProgress()
        target = billable_monthly_seat_count(pro_account=account)
        subscription = gateway.subscription_retrieve(subscription_id=account.stripe_subscription_id)
        if subscription.get("status") in ENDED_STATUSES:
            logger.info("seat_quantity_subscription_ended", pro_account=account.pk,
                        subscription=account.stripe_subscription_id)
            return "subscription_ended"
        item = subscription_first_item(subscription)
        if item is None:
            raise StripeUnavailable("The grouped subscription has no item.", code="stripe_request_refused")
        current = int(item.get("quantity") or 0)
        outcome = "unchanged"
        if current != target:
            if target > current:
                # Seats are added (and prorated) by the purchase itself; more billable seats
                # than Stripe bills means Stripe was changed elsewhere: bill them from the
                # next cycle, and say so.
                logger.warning("seat_quantity_raised_without_proration", pro_account=account.pk,
                               stripe_quantity=current, billable=target)
            gateway.subscription_item_set_quantity_without_proration(
                item_id=item["id"], quantity=target, idempotency_key=f"phoenix-seat-quantity-{uuid.uuid4()}",
            )
            outcome = "updated"
        pro_account_record_stripe_seat_quantity(pro_account=account, quantity=target,
                                                observed_at=now or timezone.now())
    logger.info("seat_quantity_synced", pro_account=account.pk, outcome=outcome, stripe_quantity=current,
                billable=target)
    return outcome


def pro_seat_quantity_sync_failed(*, pro_account_id: int, reason: str, detail: str = "",
                                  now: datetime | None = None) -> ReconciliationIncident:
    """The retries ran out: log, and open (or bump) an incident an admin sees on the
    dashboard and in the reconciliation incidents list (mailed when opened)."""
    now = now or timezone.now()
    subject = pro_account_subject(pro_account_id)
    info = {"reason": reason, "error": detail}
    logger.error("seat_quantity_sync_failed", pro_account=pro_account_id, reason=reason, error=detail)
    with transaction.atomic():
        incident = ReconciliationIncident.objects.select_for_update().filter(
            code=SYNC_FAILED, subject=subject, status=IncidentStatus.OPEN).first()
        if incident is not None:
            ReconciliationIncident.objects.filter(pk=incident.pk).update(
                last_seen_at=now, times_seen=F("times_seen") + 1, detail=info)
            incident.refresh_from_db()
            return incident
        try:
            with transaction.atomic():
                incident = ReconciliationIncident.objects.create(
                    code=SYNC_FAILED, subject=subject, detail=info, detected_at=now, last_seen_at=now)
        except IntegrityError:  # opened concurrently
            return ReconciliationIncident.objects.get(code=SYNC_FAILED, subject=subject, status=IncidentStatus.OPEN)
        transaction.on_commit(lambda: mail_admins(
            "Billing: a pro seat quantity could not be set at Stripe",
            f"{subject}: {reason} {detail}\nThe grouped subscription may bill seats that were "
            "canceled; set its quantity to the billable monthly seats.",
            fail_silently=True,
        ))
    return incident


def pro_seat_quantity_observed(*, subscription: dict[str, Any], observed_at: datetime) -> bool:
    """A subscription event reported the grouped subscription: record its quantity."""
    account = pro_account_for_stripe_subscription(subscription.get("id") or "")
    item = subscription_first_item(subscription)
    if account is None or item is None or subscription.get("status") in ENDED_STATUSES:
        return False
    return pro_account_record_stripe_seat_quantity(
        pro_account=account, quantity=int(item.get("quantity") or 0), observed_at=observed_at)


# --- regularize a suspended account ---------------------------------------------------


def pro_account_regularize(*, owner) -> dict[str, Any]:
    """The open invoice a suspended pro must pay (Stripe's hosted invoice page).

    Without Stripe keys: 503 ``stripe_not_configured``; no pro account: 404; not
    suspended: 409 ``pro_account_not_suspended``; nothing open at Stripe: 409
    ``no_open_invoice``. Paying it sends ``invoice.paid``, which reactivates the account.
    """
    gateway.ensure_configured()
    account = pro_account_for_owner(owner)
    if account.status != ProAccountStatus.SUSPENDED:
        raise ProAccountNotSuspended(REGULARIZE_NOT_SUSPENDED, status=account.status)
    if not account.stripe_subscription_id:
        raise NoOpenInvoice()
    invoices = gateway.invoices_open_for_subscription(subscription_id=account.stripe_subscription_id)
    invoices = [i for i in invoices if i.get("status") == "open" and i.get("hosted_invoice_url")]
    if not invoices:
        raise NoOpenInvoice()
    invoice = max(invoices, key=lambda i: int(i.get("created") or 0))
    logger.info("pro_regularize_invoice", pro_account=account.pk, invoice=invoice["id"])
    return {
        "status": account.status,
        "invoice_id": invoice["id"],
        "amount_due": int(invoice.get("amount_due") or 0),
        "currency": str(invoice.get("currency") or ""),
        "hosted_invoice_url": invoice["hosted_invoice_url"],
        "attempt_count": int(invoice.get("attempt_count") or 0),
    }
