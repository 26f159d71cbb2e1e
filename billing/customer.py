"""billing's section of the customer page (Stripe customer, payments with their Stripe links) and
the search by payment / Stripe id (phoenix.core.customer). Every lookup is a unique or primary
key: a payment's public id, its Checkout Session / PaymentIntent id, dj-stripe's mirror by
Stripe id (customer, subscription, charge); payments by the `(user, -created_at)` index."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from djstripe import models as djstripe_models

from billing.models import Payment, PaymentRefund, PaymentReversal, ReconciliationIncident
from billing.operator import payment_refundable_cents
from billing.services.customers import stripe_customer_of
from phoenix.core import roles
from phoenix.core.customer import (
    CustomerMatch,
    CustomerSection,
    admin_change_url,
    admin_changelist_url,
    query_int,
    query_uuid,
    register_customer_search,
    register_customer_section,
    register_customer_targets,
)
from phoenix.core.money import format_money


def stripe_dashboard_url(kind: str, stripe_id: str) -> str:
    """The object in Stripe's dashboard (its test-mode view unless live)."""
    mode = "" if settings.STRIPE_LIVE_MODE else "test/"
    return f"https://dashboard.stripe.com/{mode}{kind}/{stripe_id}"


def customer_payments(*, user, limit: int, viewer) -> dict:
    customer = stripe_customer_of(user)
    payments = list(Payment.objects.filter(user=user).order_by("-created_at", "-id")[:limit])
    may_refund = viewer.has_perm(roles.REFUND_PAYMENT)
    rows = []
    for p in payments:
        stripe_id = p.stripe_payment_intent_id or p.stripe_checkout_session_id
        kind = "payments" if p.stripe_payment_intent_id else "checkout/sessions"
        rows.append({"payment": p, "url": admin_change_url(p), "amount": format_money(p.amount_cents, p.currency),
                     "refunded": format_money(p.amount_refunded_cents, p.currency) if p.amount_refunded_cents else "",
                     "stripe_id": stripe_id, "stripe_url": stripe_dashboard_url(kind, stripe_id),
                     "refund_url": reverse("admin:billing_payment_operator_refund", args=[p.pk])
                     if may_refund and payment_refundable_cents(p) else ""})
    # The refunds / disputes and reconciliation incidents of the payments shown (their foreign keys).
    shown = [p.pk for p in payments]
    reversals = list(PaymentReversal.objects.filter(payment_id__in=shown).order_by("-created_at", "-id")[:limit])
    refunds = list(PaymentRefund.objects.filter(payment_id__in=shown).select_related("requested_by")
                   .order_by("-created_at", "-id")[:limit])
    incidents = list(ReconciliationIncident.objects.filter(payment_id__in=shown)
                     .order_by("-detected_at", "-id")[:limit])
    return {"reversals": [{"reversal": r, "url": admin_change_url(r)} for r in reversals],
            "refunds": [{"refund": r, "amount": format_money(r.amount_cents, r.currency)} for r in refunds],
            "incidents": [{"incident": i, "url": admin_change_url(i)} for i in incidents],
            "customer_id": customer.id if customer else "",
            "customer_url": stripe_dashboard_url("customers", customer.id) if customer else "",
            "rows": rows, "see_all_url": admin_changelist_url(Payment, user__id__exact=user.pk)}


def _payment_users(kind: str, label: str, **lookup) -> list[CustomerMatch]:
    return [CustomerMatch(user_id=pk, kind=kind, label=label)
            for pk in Payment.objects.filter(**lookup).values_list("user_id", flat=True)]


def customer_search_billing(query: str) -> list[CustomerMatch]:
    if (public_id := query_uuid(query)) is not None:
        return _payment_users("payment public id", str(public_id), public_id=public_id)
    if (payment_id := query_int(query)) is not None:
        return _payment_users("payment id", f"payment {payment_id}", pk=payment_id)
    if query.startswith("pi_"):
        return _payment_users("Stripe payment intent id", query, stripe_payment_intent_id=query)
    if query.startswith("cs_"):
        return _payment_users("Stripe checkout session id", query, stripe_checkout_session_id=query)
    if query.startswith("ch_"):
        intents = djstripe_models.Charge.objects.filter(id=query).values_list("payment_intent_id", flat=True)
        return _payment_users("Stripe charge id", query, stripe_payment_intent_id__in=list(intents))
    if query.startswith("cus_"):
        subscribers = djstripe_models.Customer.objects.filter(id=query, subscriber__isnull=False)
        return [CustomerMatch(user_id=pk, kind="Stripe customer id", label=query)
                for pk in subscribers.values_list("subscriber_id", flat=True)]
    if query.startswith("sub_"):
        # The mirror's subscription names its customer, whose subscriber is the user (a pro
        # account's seats bill the owner's customer: the owner is found).
        subscriptions = djstripe_models.Subscription.objects.filter(id=query, customer__subscriber__isnull=False)
        return [CustomerMatch(user_id=pk, kind="Stripe subscription id", label=query)
                for pk in subscriptions.values_list("customer__subscriber_id", flat=True)]
    return []


def customer_payment_targets(user) -> list[tuple[str, object]]:
    """The latest payments (an operator refunds or re-checks a payment)."""
    pks = Payment.objects.filter(user=user).order_by("-created_at", "-id").values_list("pk", flat=True)[:50]
    return [("billing.payment", pk) for pk in pks]


def register() -> None:
    register_customer_section(CustomerSection(
        key="payments", title="Payments", template="admin/customer/payments.html", build=customer_payments,
        permissions=("billing.view_payment", "billing.view_paymentreversal", "billing.view_reconciliationincident"),
        order=30))
    register_customer_search(customer_search_billing)
    register_customer_targets(customer_payment_targets)
