"""Data for the whole-site admin tests (dashboard, every page): every panel gets content, through the services
wherever a service exists (rows only where the row *is* the input, e.g. a received event)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from billing.models import Payment, ReconciliationIncident, WebhookEvent
from billing.services.payments import payment_reverse, payment_succeed
from billing.stripe_payloads import stripe_id
from licenses import services as license_services
from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import DEFAULT_PASSWORD
from wallet import services as wallet_services

_counter = itertools.count(1)


@dataclass
class DashboardData:
    """What was created, so tests can compare the dashboard's numbers with it."""

    consumed: int = 0  # API debits and commits (energy consumed by actions), net of their refunds
    refunded: int = 0
    consumed_by_action: dict[str, int] = field(default_factory=dict)
    packs_sold: int = 0
    packs_revenue_cents: int = 0
    failed_webhooks: int = 0
    reconciliation_open: int = 0
    shortfalls_open: int = 0
    access: dict[str, int] = field(default_factory=dict)
    pro_accounts: dict[str, int] = field(default_factory=dict)
    users: list = field(default_factory=list)


def _consume(data: DashboardData, user, action: str, amount: int, *, via_hold: bool = False):

    if via_hold:
        hold = wallet_services.wallet_freeze(user=user, amount=amount, action_code=action, ttl_seconds=300)
        op = wallet_services.wallet_commit(hold_id=hold.pk, user=user)
    else:
        op = wallet_services.wallet_debit(user=user, amount=amount, source="api", reason="action", reference=action)
    data.consumed += amount
    data.consumed_by_action[action] = data.consumed_by_action.get(action, 0) + amount
    return op


def _pack_paid(*, user, code: str, cents: int):

    payment = Payment.objects.create(user=user, flow="payment_intent", product_kind="energy_pack", product_code=code,
                                     amount_cents=cents, currency="eur", stripe_payment_intent_id=stripe_id("pi"))
    with transaction.atomic():
        return payment_succeed(payment_id=payment.pk)


def dashboard_data_create(*, scale: int = 1, data: DashboardData | None = None) -> DashboardData:
    """`scale` multiplies the rows (users, operations, payments, events, accounts)."""

    data = data or DashboardData()
    now = timezone.now()
    for _ in range(scale):
        n = next(_counter)
        # Three registered users (TRIAL access, welcome grant of 85 points), each consuming.
        users = [user_register(email=f"dash{n}-{i}@example.com", password=DEFAULT_PASSWORD)[0] for i in range(3)]
        data.users.extend(users)
        data.access["TRIAL"] = data.access.get("TRIAL", 0) + 3
        first, second, third = users
        refunded = _consume(data, first, "lettre_motivation", 15)
        _consume(data, first, "analyse_cv_complete", 25, via_hold=True)
        _consume(data, second, "mirror_match", 30)
        _consume(data, third, "conseil_rapide", 5)
        wallet_services.wallet_refund_debit(operation_id=refunded.pk, reason="action failed")
        data.refunded += 15
        # A refunded action consumed nothing: the panels net it out (here: all of that action).
        data.consumed -= 15
        data.consumed_by_action["lettre_motivation"] -= 15
        if not data.consumed_by_action["lettre_motivation"]:
            del data.consumed_by_action["lettre_motivation"]
        # Not consumption: an admin removal and a pending hold.
        wallet_services.wallet_debit(user=third, amount=3, source="admin", reason="goodwill fix")
        wallet_services.wallet_freeze(user=second, amount=10, action_code="optimisation_cv", ttl_seconds=300)

        # Two paid packs, and one refunded after its points were mostly spent (a shortfall).
        for user, code, cents in ((first, "cafe_luna", 299), (first, "repas_luna", 999),
                                  (second, "petit_dej_luna", 599)):
            payment = _pack_paid(user=user, code=code, cents=cents)
            data.packs_sold += 1
            data.packs_revenue_cents += cents
        wallet_services.wallet_debit(user=second, amount=120, source="admin", reason="test: spend before refund")
        with transaction.atomic():
            reversal = payment_reverse(payment_id=payment.pk, kind="refund", stripe_object_id=stripe_id("ch"),
                                       amount_refunded_cents=cents, fully_refunded=True)
        assert reversal.shortfall > 0
        data.packs_revenue_cents -= cents  # sold then refunded: counted as sold, no revenue kept
        data.shortfalls_open += 1
        refunded_payment = payment
        ReconciliationIncident.objects.create(code="payment_without_credit", subject=f"payment:{refunded_payment.pk}",
                                              payment=refunded_payment, detected_at=now, last_seen_at=now)
        data.reconciliation_open += 1
        WebhookEvent.objects.create(stripe_id=stripe_id("evt"), type="invoice.paid", payload={"id": "x"},
                                    status="failed", error="KeyError: 'subscription'", attempts=1, deliveries=1)
        WebhookEvent.objects.create(stripe_id=stripe_id("evt"), type="charge.refunded", payload={"id": "y"},
                                    status="processed", processed_at=now, attempts=1, deliveries=1)
        data.failed_webhooks += 1

        # A pro account with monthly seats, one assigned.
        owner = user_register(email=f"pro{n}@example.com", password=DEFAULT_PASSWORD)[0]
        data.access["TRIAL"] += 1
        account = license_services.pro_account_open(owner=owner, now=now)
        purchase = license_services.license_purchase(pro_account=account, kind="monthly", quantity=2,
                                                     event_time=now, reference=f"cs_dash_{n}")
        license_services.license_assign(license=purchase.licenses[0], collaborator=owner, now=now)
        data.access["TRIAL"] -= 1
        data.access["LICENSED"] = data.access.get("LICENSED", 0) + 1
        data.pro_accounts["active"] = data.pro_accounts.get("active", 0) + 1
    return data
