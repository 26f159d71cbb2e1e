"""The admin dashboard's wallet reads.

Each reader is a fixed number of aggregate queries, whatever the number of wallets or
operations: counts and sums are grouped in the database, never looped over rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import BigIntegerField, Case, Count, ExpressionWrapper, F, Q, Sum, When
from django.db.models.functions import TruncHour
from django.utils import timezone

from phoenix.core.selectors import job_run_latest
from wallet.models import (
    BalanceOperation,
    EnergyLot,
    Incident,
    IncidentSeverity,
    IncidentStatus,
    LotCategory,
    OperationType,
    Wallet,
)

# Energy consumed by the satellites' actions: direct debits and hold captures made
# through the API. Admin removals, clawbacks and health corrections are not consumption.
CONSUMPTION_TYPES = ("debit", "commit")
CONSUMPTION_SOURCE = "api"


def _consumption_q():
    return Q(type__in=CONSUMPTION_TYPES, source=CONSUMPTION_SOURCE)


def wallet_health_overview() -> dict[str, Any]:
    """Health now: open incidents by severity, the last health run and its result. 3 queries."""
    counts = Incident.objects.filter(status=IncidentStatus.OPEN).aggregate(
        critical=Count("id", filter=Q(severity=IncidentSeverity.CRITICAL)),
        warning=Count("id", filter=Q(severity=IncidentSeverity.WARNING)),
    )
    totals = Wallet.objects.aggregate(wallets=Count("id"), balance=Sum("balance"), held=Sum("held"))
    last_run = job_run_latest("wallet.health_check")  # wallet.services.jobs.HEALTH_JOB
    return {
        "open_critical": counts["critical"],
        "open_warning": counts["warning"],
        "last_run": last_run,
        "last_run_critical": last_run.summary.get("critical", 0) if last_run else None,
        "last_run_warning": last_run.summary.get("warnings", 0) if last_run else None,
        "wallets": totals["wallets"],
        "balance": totals["balance"] or 0,
        "held": totals["held"] or 0,
    }


def _consumption_refund_q():
    """The credits refunding a consumption (a consume's debit or a commit)."""
    return Q(type="credit", refund_of__type__in=CONSUMPTION_TYPES, refund_of__source=CONSUMPTION_SOURCE)


def energy_consumed_totals(*, now: datetime) -> dict[str, int]:
    """Energy consumed today (since local midnight), over 7 and 30 days, net of the refunds of
    consumptions made in the same period (a refunded action consumed nothing), and refunded
    over 7 days (every refund). One aggregate query."""
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    consumed, given_back = _consumption_q(), _consumption_refund_q()
    refund = Q(type="credit", refund_of__isnull=False)
    totals = BalanceOperation.objects.filter(created_at__gte=month, created_at__lte=now).aggregate(
        today=Sum("amount", filter=consumed & Q(created_at__gte=today)),
        week=Sum("amount", filter=consumed & Q(created_at__gte=week)),
        month=Sum("amount", filter=consumed),
        back_today=Sum("amount", filter=given_back & Q(created_at__gte=today)),
        back_week=Sum("amount", filter=given_back & Q(created_at__gte=week)),
        back_month=Sum("amount", filter=given_back),
        refunded_week=Sum("amount", filter=refund & Q(created_at__gte=week)),
    )
    totals = {key: value or 0 for key, value in totals.items()}
    return {
        "today": totals["today"] - totals["back_today"],
        "week": totals["week"] - totals["back_week"],
        "month": totals["month"] - totals["back_month"],
        "refunded_week": totals["refunded_week"],
    }


def balance_operations_per_hour(*, now: datetime, hours: int = 48) -> dict[str, Any]:
    """Operation counts per hour and type over the last `hours` hours (one GROUP BY)."""
    end = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    buckets = [end - timedelta(hours=offset) for offset in range(hours - 1, -1, -1)]
    rows = (
        BalanceOperation.objects.filter(created_at__gte=buckets[0], created_at__lte=now)
        .annotate(hour=TruncHour("created_at"))
        .values("hour", "type")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[str, dict[datetime, int]] = {}
    for row in rows:  # at most hours x types rows
        counts.setdefault(row["type"], {})[timezone.localtime(row["hour"])] = row["n"]
    return {
        "labels": [bucket.strftime("%a %H:00") for bucket in buckets],
        "series": {op_type: [per_hour.get(bucket, 0) for bucket in buckets]
                   for op_type, per_hour in sorted(counts.items())},
        "total": sum(sum(per_hour.values()) for per_hour in counts.values()),
    }


def energy_consumed_by_action(*, now: datetime, days: int = 30, limit: int = 15) -> list[tuple[str, int]]:
    """[(action code, points)] consumed over `days` days net of the refunds of consumptions,
    biggest first, actions netted to nothing left out (one GROUP BY). The action code is the
    operation's reference (the API writes it there; a refund copies it)."""
    rows = (
        BalanceOperation.objects.filter(_consumption_q() | _consumption_refund_q(),
                                        created_at__gte=now - timedelta(days=days), created_at__lte=now)
        .values("reference")
        .annotate(points=Sum(Case(When(type="credit", then=-F("amount")), default=F("amount"),
                                  output_field=BigIntegerField())))
        .filter(points__gt=0)
        .order_by("-points", "reference")[:limit]
    )
    return [(row["reference"] or "(none)", row["points"]) for row in rows]




def energy_lots_overview(*, now: datetime) -> dict[str, Any]:
    """Energy outstanding by lot category (paid energy a liability in EUR at what was paid for
    it), expiring within 7 / 30 days, and expired this month (breakage). 3 queries."""
    live = EnergyLot.objects.filter(remaining__gt=0)
    by_category = dict(live.values_list("category").annotate(total=Sum("remaining")).order_by())
    # What the unconsumed part of each paid lot cost: price * remaining / amount (rounded down per lot).
    lot_value = ExpressionWrapper(F("price_cents") * F("remaining") / F("amount"), output_field=BigIntegerField())
    expiring = live.aggregate(
        liability_cents=Sum(lot_value, filter=Q(category=LotCategory.PAID)),
        days_7=Sum("remaining", filter=Q(expires_at__gt=now, expires_at__lte=now + timedelta(days=7))),
        days_30=Sum("remaining", filter=Q(expires_at__gt=now, expires_at__lte=now + timedelta(days=30))),
    )
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    expired = BalanceOperation.objects.filter(type=OperationType.LOT_EXPIRY, created_at__gte=month_start,
                                              created_at__lte=now).aggregate(total=Sum("amount"))["total"]
    return {
        "outstanding": {category: int(by_category.get(category) or 0) for category in LotCategory.values},
        "paid_liability_cents": int(expiring["liability_cents"] or 0),
        "expiring_7_days": int(expiring["days_7"] or 0),
        "expiring_30_days": int(expiring["days_30"] or 0),
        "expired_this_month": int(expired or 0),
    }
