"""The dj-stripe mirror: Stripe's own objects copied into dj-stripe's ``djstripe_*`` tables.

After our own handlers have committed an event's domain effect, a Celery task
(``billing.sync_stripe_mirror``) calls ``mirror_sync_event``: the event's object and the
objects it names (customer, checkout session, payment intent, charge, refunds, dispute,
subscription, invoice, price, product) are fetched fresh from Stripe and synced with
dj-stripe's ``sync_from_stripe_data`` (an upsert keyed on the Stripe id, so a replay
changes nothing twice). A Stripe outage raises ``StripeUnavailable``: the task retries
with backoff; the domain effect never waits on the mirror.

``mirror_backfill`` re-syncs every object Phoenix knows of (its payments, accesses and
pro accounts' Stripe ids, the mirrored customers): the by-hand ``billing_mirror_sync``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import stripe
import structlog
from django.db import transaction
from djstripe import models as djstripe_models
from djstripe.settings import djstripe_settings

from billing import gateway
from billing.models import Payment, WebhookEvent
from billing.stripe_objects import invoice_subscription_id, object_id
from licenses.models import ProAccount
from phoenix.core.jobs import JobReport, advisory_lock
from subscriptions.models import Access

logger = structlog.get_logger("phoenix.billing.mirror")

# Stripe object type -> dj-stripe model; the order is the sync order (what others point to first).
MIRRORED: dict[str, type] = {
    "customer": djstripe_models.Customer,
    "product": djstripe_models.Product,
    "price": djstripe_models.Price,
    "subscription": djstripe_models.Subscription,
    "invoice": djstripe_models.Invoice,
    "payment_intent": djstripe_models.PaymentIntent,
    "charge": djstripe_models.Charge,
    "refund": djstripe_models.Refund,
    "dispute": djstripe_models.Dispute,
    "checkout.session": djstripe_models.Session,
}

# A field of a Stripe object -> the type of the object it names.
_REFERENCES = {
    "customer": "customer", "payment_intent": "payment_intent", "latest_charge": "charge",
    "charge": "charge", "subscription": "subscription", "invoice": "invoice", "product": "product",
    "price": "price", "latest_invoice": "invoice",
}

BACKFILL_LOCK = "billing.mirror_backfill"


@dataclass
class MirrorSyncReport(JobReport):
    job: str = "billing.sync_stripe_mirror"
    synced: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # named, but unknown to Stripe

    def counts(self) -> dict[str, int]:
        return {"synced": len(self.synced), "missing": len(self.missing)}


def stripe_references(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """``(type, id)`` of the object and of every mirrored object it names."""
    found: list[tuple[str, str]] = []
    kind = obj.get("object")
    if kind in MIRRORED and obj.get("id"):
        found.append((kind, obj["id"]))
    for name, target in _REFERENCES.items():
        if name in obj and (ref := object_id(obj.get(name))):
            found.append((target, ref))
    if kind == "invoice" and (sub := invoice_subscription_id(obj)):
        found.append(("subscription", sub))
    for item in ((obj.get("items") or {}).get("data")) or []:  # a subscription's prices
        price = item.get("price") or {}
        if price.get("id"):
            found.append(("price", price["id"]))
            if ref := object_id(price.get("product")):
                found.append(("product", ref))
    for refund in ((obj.get("refunds") or {}).get("data")) or []:  # a charge's refunds
        found.append(("refund", refund["id"]))
    return found


def _ordered(refs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    order = list(MIRRORED)
    unique = dict.fromkeys(refs)
    return sorted(unique, key=lambda ref: order.index(ref[0]))


def mirror_sync_object(*, kind: str, stripe_id: str, api_key: str) -> dict[str, Any] | None:
    """Fetch one object from Stripe and upsert it (and what it points to) into the mirror;
    returns Stripe's object, or None when Stripe does not know it."""
    model = MIRRORED[kind]
    try:
        data = model.stripe_class.retrieve(
            id=stripe_id, api_key=api_key, expand=model.expand_fields,
            stripe_version=djstripe_settings.STRIPE_API_VERSION,
        )
    except stripe.InvalidRequestError as exc:
        if getattr(exc, "code", None) == "resource_missing":
            return None
        raise
    with transaction.atomic():
        model.sync_from_stripe_data(data, api_key=api_key)
    return data.to_dict()


def mirror_sync_refs(refs: list[tuple[str, str]], *, report: MirrorSyncReport) -> MirrorSyncReport:
    """Sync ``refs`` and, transitively, every mirrored object they name (a checkout
    session's payment intent, that intent's charge, the charge's refunds, ...), each once."""
    api_key = gateway.djstripe_api_key()
    seen: set[tuple[str, str]] = set()
    pending = _ordered(refs)
    while pending:
        ref = pending.pop(0)
        if ref in seen:
            continue
        seen.add(ref)
        kind, stripe_id = ref
        data = gateway.djstripe_call("mirror_sync", mirror_sync_object, kind=kind, stripe_id=stripe_id,
                                     api_key=api_key)
        if data is None:
            report.missing.append(f"{kind}:{stripe_id}")
            continue
        report.synced.append(f"{kind}:{stripe_id}")
        pending = _ordered(pending + [r for r in stripe_references(data) if r not in seen])
    return report


def mirror_sync_event(*, webhook_event_id: int) -> MirrorSyncReport:
    """Sync a verified event into the mirror: the event itself, its object and what that names."""
    record = WebhookEvent.objects.get(pk=webhook_event_id)
    report = MirrorSyncReport()
    api_key = gateway.djstripe_api_key()
    with transaction.atomic():
        gateway.djstripe_call("mirror_event", djstripe_models.Event.sync_from_stripe_data, record.payload,
                              api_key=api_key)
    obj = (record.payload.get("data") or {}).get("object") or {}
    mirror_sync_refs(stripe_references(obj), report=report)
    logger.info("stripe_mirror_synced", stripe_event_id=record.stripe_id, **report.counts())
    return report


def known_stripe_refs() -> list[tuple[str, str]]:
    """Every Stripe object Phoenix's own rows name."""
    refs: list[tuple[str, str]] = []
    for session, intent, charge in Payment.objects.values_list(
        "stripe_checkout_session_id", "stripe_payment_intent_id", "stripe_charge_id"
    ):
        refs += [(k, v) for k, v in (("checkout.session", session), ("payment_intent", intent),
                                     ("charge", charge)) if v]
    subs = list(Access.objects.exclude(stripe_subscription_id="").exclude(stripe_subscription_id=None)
                .values_list("stripe_subscription_id", flat=True))
    subs += list(ProAccount.objects.exclude(stripe_subscription_id="").exclude(stripe_subscription_id=None)
                 .values_list("stripe_subscription_id", flat=True))
    refs += [("subscription", s) for s in subs]
    refs += [("customer", c) for c in djstripe_models.Customer.objects.values_list("id", flat=True)]
    return refs


def mirror_backfill(*, dry_run: bool = False) -> MirrorSyncReport:
    """Re-sync every object Phoenix knows of (one run at a time)."""
    report = MirrorSyncReport(job=BACKFILL_LOCK, dry_run=dry_run)
    with advisory_lock(BACKFILL_LOCK) as acquired:
        if not acquired:
            report.skipped_locked = True
            return report
        refs = _ordered(known_stripe_refs())
        if dry_run:
            report.steps = [f"{kind}:{sid}" for kind, sid in refs]
            return report
        gateway.ensure_configured()
        mirror_sync_refs(refs, report=report)
    logger.info("stripe_mirror_backfilled", **report.counts())
    return report
