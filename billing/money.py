"""The money figures of the back office over a date range ``[start, end)``: reads only (a
selector module, beside ``billing.selectors``).

Each figure has ONE definition, written in the README ("Money figures") and in
``money_figures`` below; amounts are integer cents, per currency (lower case, as payments
store it). The query count is fixed whatever the data size (``billing/tests/
test_money_figures.py`` asserts it).

Where a figure comes from:

- payments: ``Payment`` (``fulfilled_at`` is when it succeeded, ``disputed_at`` when a
  dispute opened); refunds: the dated ``PaymentReversal`` rows of kind refund; renewal
  invoices (no ``Payment``: Stripe bills them itself): their processed ``invoice.paid`` events;
- a won dispute: the ``charge.dispute.closed`` event Stripe sends with status ``won``, kept
  in ``WebhookEvent`` (no handler acts on it: the energy a dispute clawed back stays
  clawed back, only the money comes back);
- subscriptions: ``Access`` (PREMIUM now) and its append-only ``AccessEvent`` history; a
  subscription's price is what its checkout charged (the price Stripe keeps billing it
  at), else the individual monthly plan's price;
- seats: ``License`` rows of active pro accounts, priced at the pro monthly plan;
  failed renewals: the domain events the invoice webhooks write;
- paid energy: ``EnergyLot`` rows of category paid, valued at what was paid for them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Substr
from django.utils import timezone

from billing.models import (
    Payment,
    PaymentReversal,
    PaymentStatus,
    ReversalKind,
    WebhookEvent,
    WebhookEventStatus,
)
from billing.products import PLAN, PRO_SEATS
from billing.services.payments import META_KIND
from licenses.models import LicenseEvent, LicenseKind, LicenseStatus, ProAccount, ProAccountStatus
from subscriptions.models import Access, AccessEvent, AccessType, Plan, PlanAudience, PlanKind
from wallet.models import EnergyLot, LotCategory

# A payment that succeeded counts as sold even once refunded (its refunds are counted apart).
SOLD_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)
DISPUTE_CLOSED = "charge.dispute.closed"
INVOICE_PAID = "invoice.paid"
SUBSCRIPTION_KINDS = (PLAN, PRO_SEATS)
# Monthly seats the next grouped renewal bills (canceled / unlinked ones end on that date).
RECURRING_SEAT_STATUSES = (LicenseStatus.AVAILABLE, LicenseStatus.ACTIVE)
# The individual access events that end a subscription: leaving PREMIUM, except for LIFETIME
# (an upgrade: the customer stays, the monthly plan is replaced by a one-off payment).
CHURN_EXCLUDED_TYPES = (AccessType.PREMIUM, AccessType.LIFETIME)
PAYMENT_REFERENCE_PATTERN = r"^payment:[0-9]+$"  # a pack's lots name their payment so
CURRENCY_FIGURES = (
    "gross_cents", "renewals_cents", "refunds_cents", "disputed_cents", "disputes_won_cents", "disputes_lost_cents",
    "net_cents", "mrr_individual_cents", "mrr_seats_cents", "mrr_cents", "suspended_due_cents",
    "paid_energy_points", "paid_energy_value_cents", "refunds_undated_cents",
)

# What a dispute can take: the part of the payment not refunded (Stripe refuses a refund of a
# disputed charge, so the two never overlap).
DISPUTED_AMOUNT = ExpressionWrapper(F("amount_cents") - F("amount_refunded_cents"), output_field=BigIntegerField())


def dispute_won(*, start: datetime | None = None, end: datetime | None = None) -> Exists:
    """Over ``Payment``: Stripe closed a dispute of this payment as won (within the range, if given)."""
    events = WebhookEvent.objects.filter(type=DISPUTE_CLOSED).annotate(
        dispute_status=KT("payload__data__object__status"),
        dispute_intent=KT("payload__data__object__payment_intent"),
    ).filter(dispute_status="won", dispute_intent=OuterRef("stripe_payment_intent_id"))
    if start is not None:
        events = events.filter(stripe_created__gte=start)
    if end is not None:
        events = events.filter(stripe_created__lt=end)
    return Exists(events)


def _monthly_plans() -> tuple[Plan | None, Plan | None]:
    """The active monthly plans sold to individuals and to pros (as ``plan_for`` picks them), 1 query."""
    plans = Plan.objects.filter(kind=PlanKind.MONTHLY, is_active=True).order_by("id")
    found: dict[str, Plan] = {}
    for plan in plans:
        found.setdefault(plan.audience, plan)
    return found.get(PlanAudience.INDIVIDUAL), found.get(PlanAudience.PRO)


def _in(field: str, start: datetime, end: datetime) -> Q:
    return Q(**{f"{field}__gte": start, f"{field}__lt": end})


def _int(value) -> int:
    return int(value or 0)


def money_figures(*, start: datetime, end: datetime, now: datetime | None = None,
                  suspended_limit: int = 20) -> dict[str, Any]:
    """Every money figure of ``[start, end)`` (flows) and of ``now`` (stocks: MRR, suspended
    accounts, paid energy outstanding). 12 queries whatever the data size."""
    now = now or timezone.now()
    figures: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CURRENCY_FIGURES, 0))
    counts: dict[str, int] = {}

    # Gross revenue and disputes opened (1 query).
    sold = Q(status__in=SOLD_STATUSES) & _in("fulfilled_at", start, end)
    disputed = _in("disputed_at", start, end)
    for row in (Payment.objects.filter(sold | disputed).values("currency").order_by()
                .annotate(gross=Sum("amount_cents", filter=sold), sold=Count("id", filter=sold),
                          disputed=Sum(DISPUTED_AMOUNT, filter=disputed), opened=Count("id", filter=disputed))):
        figures[row["currency"]]["gross_cents"] += _int(row["gross"])
        figures[row["currency"]]["disputed_cents"] += _int(row["disputed"])
        counts["payments_sold"] = counts.get("payments_sold", 0) + row["sold"]
        counts["disputes_opened"] = counts.get("disputes_opened", 0) + row["opened"]

    # Renewal invoices of Phoenix's subscriptions paid in the range: not payments (Stripe bills
    # them on its own), known from their processed invoice.paid events; the first invoice of a
    # subscription is its checkout, a payment already (1 query).
    invoice = "payload__data__object__"
    renewals = (WebhookEvent.objects.filter(type=INVOICE_PAID, status=WebhookEventStatus.PROCESSED,
                                            stripe_created__gte=start, stripe_created__lt=end)
                .annotate(reason=KT(f"{invoice}billing_reason"),
                          kind=Coalesce(KT(f"{invoice}parent__subscription_details__metadata__{META_KIND}"),
                                        KT(f"{invoice}subscription_details__metadata__{META_KIND}")),
                          invoice_currency=KT(f"{invoice}currency"),
                          paid=Cast(KT(f"{invoice}amount_paid"), BigIntegerField()))
                .filter(kind__in=SUBSCRIPTION_KINDS).exclude(reason="subscription_create"))
    for row in renewals.values("invoice_currency").order_by().annotate(total=Sum("paid"), n=Count("id")):
        figures[row["invoice_currency"]]["renewals_cents"] += _int(row["total"])
        figures[row["invoice_currency"]]["gross_cents"] += _int(row["total"])
        counts["renewals_paid"] = counts.get("renewals_paid", 0) + row["n"]

    # Disputes won in the range, whenever they opened (1 query).
    for row in (Payment.objects.filter(dispute_won(start=start, end=end), disputed_at__isnull=False)
                .values("currency").order_by().annotate(won=Sum(DISPUTED_AMOUNT), n=Count("id"))):
        figures[row["currency"]]["disputes_won_cents"] += _int(row["won"])
        counts["disputes_won"] = counts.get("disputes_won", 0) + row["n"]

    # Refunds applied in the range (1 query).
    for row in (PaymentReversal.objects.filter(_in("created_at", start, end), kind=ReversalKind.REFUND)
                .values("payment__currency").order_by().annotate(total=Sum("amount_cents"), n=Count("id"))):
        figures[row["payment__currency"]]["refunds_cents"] += _int(row["total"])
        counts["refunds"] = counts.get("refunds", 0) + row["n"]

    # A check, not a figure of the range: refunded money no refund reversal records (so no date
    # puts it in a range). `payment_reverse` writes a row for every refunded cent, so this stays
    # zero unless rows were written by hand or lost (1 query).
    recorded = Subquery(PaymentReversal.objects.filter(payment=OuterRef("pk"), kind=ReversalKind.REFUND)
                        .values("payment").annotate(total=Sum("amount_cents")).values("total"))
    for row in (Payment.objects.filter(amount_refunded_cents__gt=0)
                .annotate(recorded=Coalesce(recorded, 0, output_field=BigIntegerField()))
                .filter(recorded__lt=F("amount_refunded_cents")).values("currency").order_by()
                .annotate(undated=Sum(F("amount_refunded_cents") - F("recorded")))):
        figures[row["currency"]]["refunds_undated_cents"] += _int(row["undated"])

    # MRR of individual subscriptions: PREMIUM accesses whose paid period has not ended (2 queries:
    # the plans, the accesses).
    plan, seat_plan = _monthly_plans()
    checkout = (Payment.objects.filter(product_kind=PLAN, status__in=SOLD_STATUSES)
                .annotate(subscription_id=KT("metadata__stripe__subscription_id"))
                .filter(subscription_id=OuterRef("stripe_subscription_id")).order_by("-id"))
    fallback_price = Value(plan.price_cents if plan else None, output_field=IntegerField())
    fallback_currency = Value(plan.currency.lower() if plan else None, output_field=CharField())
    premium = Access.objects.filter(type=AccessType.PREMIUM, current_period_end__gt=now).annotate(
        price=Coalesce(Subquery(checkout.values("amount_cents")[:1]), fallback_price),
        price_currency=Coalesce(Subquery(checkout.values("currency")[:1]), fallback_currency),
    )
    counts.update(subscriptions_active=0, subscriptions_unpriced=0, subscriptions_canceling=0)
    for row in (premium.values("price_currency").order_by()
                .annotate(n=Count("id"), mrr=Sum("price"), canceling=Count("id", filter=Q(cancel_at_period_end=True)))):
        counts["subscriptions_active"] += row["n"]
        counts["subscriptions_canceling"] += row["canceling"]
        if row["price_currency"] is None:  # no checkout and no plan on sale: no price to count
            counts["subscriptions_unpriced"] += row["n"]
            continue
        figures[row["price_currency"]]["mrr_individual_cents"] += _int(row["mrr"])

    # MRR of seats: monthly seats of active pro accounts x the pro monthly plan; suspended
    # pro accounts and what lifting each costs: its suspended monthly seats x the seat price,
    # one grouped renewal (1 query for the totals, 1 for the first accounts listed).
    monthly = Q(licenses__kind=LicenseKind.MONTHLY)
    suspended_seats = Count("licenses", filter=monthly & Q(licenses__status=LicenseStatus.SUSPENDED))
    pro = ProAccount.objects.filter(status__in=(ProAccountStatus.ACTIVE, ProAccountStatus.SUSPENDED)).aggregate(
        billed=Count("licenses", filter=monthly & Q(status=ProAccountStatus.ACTIVE,
                                                    licenses__status__in=RECURRING_SEAT_STATUSES)),
        suspended_n=Count("id", filter=Q(status=ProAccountStatus.SUSPENDED), distinct=True),
        suspended_seats=Count("licenses", filter=monthly & Q(status=ProAccountStatus.SUSPENDED,
                                                             licenses__status=LicenseStatus.SUSPENDED)),
    )
    seats = pro["billed"]
    price = seat_plan.price_cents if seat_plan else 0
    seat_currency = seat_plan.currency.lower() if seat_plan else ""
    if seat_plan is not None and seats:
        figures[seat_currency]["mrr_seats_cents"] += seats * price
    if seat_plan is not None and pro["suspended_seats"]:
        figures[seat_currency]["suspended_due_cents"] += pro["suspended_seats"] * price
    rows = [
        {"pro_account_id": account.pk, "owner_email": account.owner.email, "suspended_seats": account.seats,
         "due_cents": account.seats * price, "currency": seat_currency}
        for account in ProAccount.objects.filter(status=ProAccountStatus.SUSPENDED).select_related("owner")
        .annotate(seats=suspended_seats).order_by("id")[:suspended_limit]
    ]

    # New and churned subscriptions, failed renewals (individual), in the range (1 query).
    access_events = AccessEvent.objects.filter(_in("event_time", start, end)).aggregate(
        new=Count("id", filter=Q(kind="premium_activated")),
        churned=Count("id", filter=Q(from_type=AccessType.PREMIUM) & ~Q(to_type__in=CHURN_EXCLUDED_TYPES)),
        failed=Count("id", filter=Q(kind="payment_failed")),
    )
    # Failed grouped renewals of pro accounts (1 query).
    pro_failed = LicenseEvent.objects.filter(_in("event_time", start, end), kind="renewal_failed").count()

    # Paid energy outstanding now: paid lots' remaining points not expired, valued at what
    # was paid for that part (price x remaining / amount, rounded down per lot), in the
    # currency of the payment the lot names (1 query).
    payment_id = Case(When(reference__regex=PAYMENT_REFERENCE_PATTERN,
                           then=Cast(Substr("reference", len("payment:") + 1), BigIntegerField())))
    lot_currency = Subquery(Payment.objects.filter(pk=OuterRef("payment_id")).values("currency")[:1])
    lot_value = ExpressionWrapper(F("price_cents") * F("remaining") / F("amount"), output_field=BigIntegerField())
    paid_points = 0
    for row in (EnergyLot.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now),
                                         category=LotCategory.PAID, remaining__gt=0)
                .annotate(payment_id=payment_id).annotate(lot_currency=Coalesce(lot_currency, Value("")))
                .values("lot_currency").order_by().annotate(points=Sum("remaining"), value=Sum(lot_value))):
        paid_points += _int(row["points"])
        figures[row["lot_currency"]]["paid_energy_points"] += _int(row["points"])
        figures[row["lot_currency"]]["paid_energy_value_cents"] += _int(row["value"])

    for figure in figures.values():
        figure["disputes_lost_cents"] = figure["disputed_cents"] - figure["disputes_won_cents"]
        figure["net_cents"] = figure["gross_cents"] - figure["refunds_cents"] - figure["disputes_lost_cents"]
        figure["mrr_cents"] = figure["mrr_individual_cents"] + figure["mrr_seats_cents"]

    return {
        "start": start, "end": end, "now": now,
        "currencies": sorted(figures),
        "by_currency": {currency: figures[currency] for currency in sorted(figures)},
        "payments_sold": counts.get("payments_sold", 0),
        "renewals_paid": counts.get("renewals_paid", 0),
        "refunds": counts.get("refunds", 0),
        "disputes_opened": counts.get("disputes_opened", 0),
        "disputes_won": counts.get("disputes_won", 0),
        "subscriptions": {
            "active": counts["subscriptions_active"], "canceling": counts["subscriptions_canceling"],
            "unpriced": counts["subscriptions_unpriced"],
            "new": access_events["new"], "churned": access_events["churned"],
        },
        "monthly_seats_billed": seats,
        "failed_renewals": {"individual": access_events["failed"], "pro": pro_failed,
                            "total": access_events["failed"] + pro_failed},
        "suspended": {"count": pro["suspended_n"], "seats": pro["suspended_seats"], "rows": rows},
        "paid_energy_points": paid_points,
    }


def sales_by_product(*, start: datetime, end: datetime) -> dict[str, Any]:
    """Payments that succeeded in ``[start, end)``, per pack and per product kind: how many,
    and what each kept so far (its amount - refunded - disputed unless the dispute was won).
    A view of the range's sales, not a revenue figure (net revenue counts each refund and
    dispute in the range it happened). 1 query."""
    sold = Payment.objects.filter(_in("fulfilled_at", start, end), status__in=SOLD_STATUSES)
    lost_to_dispute = Q(disputed_at__isnull=False) & ~dispute_won()
    kept = Sum(Case(When(lost_to_dispute, then=Value(0)), default=F("amount_cents") - F("amount_refunded_cents"),
                    output_field=BigIntegerField()))
    rows = list(sold.values("product_kind", "product_code", "currency")
                .annotate(sold=Count("id"), revenue_cents=kept).order_by())
    packs = sorted((row for row in rows if row["product_kind"] == "energy_pack"),
                   key=lambda row: (-row["revenue_cents"], row["product_code"]))
    by_kind: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        kind = by_kind.setdefault((row["product_kind"], row["currency"]), {
            "product_kind": row["product_kind"], "currency": row["currency"], "sold": 0, "revenue_cents": 0})
        kind["sold"] += row["sold"]
        kind["revenue_cents"] += row["revenue_cents"]
    kinds = [by_kind[key] for key in sorted(by_kind)]
    return {
        "packs": packs,
        "kinds": kinds,
        "packs_sold": sum(row["sold"] for row in packs),
        "packs_revenue_cents": sum(row["revenue_cents"] for row in packs),
        "revenue_cents": sum(row["revenue_cents"] for row in kinds),
        "currencies": sorted({row["currency"] for row in kinds}),
    }

