"""Billing's panels on the admin dashboard: money at a glance, and every open incident
(billing sits on top of wallet, so it can show the wallet's too)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from billing import money, selectors
from phoenix.core.dashboard import chart
from phoenix.core.money import format_money
from wallet import selectors as wallet_selectors

PACK_COLOURS = ["#6a1b9a", "#1565c0", "#2e7d32", "#ef6c00", "#00838f", "#c62828"]
RANGE_DAYS = (7, 30, 90)
DEFAULT_RANGE_DAYS = 30


@dataclass(frozen=True)
class MoneyRange:
    start: datetime
    end: datetime
    days: int | None  # one of RANGE_DAYS, or None for a chosen from/to
    error: str = ""

    @property
    def label(self) -> str:
        if self.days is not None:
            return f"last {self.days} days"
        last_day = (self.end - timedelta(microseconds=1)).date()
        return f"{self.start.date().isoformat()} to {last_day.isoformat()}"


def money_range(now: datetime, query: Mapping[str, str] | None) -> MoneyRange:
    """The panel's range ``[start, end)``: ``?money_days=7|30|90`` (ending now), or
    ``?money_from=YYYY-MM-DD&money_to=YYYY-MM-DD`` (whole days, both included: the end is
    the day after ``money_to``; no ``money_to``: until now). Default: the last 30 days."""
    query = query or {}
    default = MoneyRange(now - timedelta(days=DEFAULT_RANGE_DAYS), now, DEFAULT_RANGE_DAYS)
    first, last = query.get("money_from", "").strip(), query.get("money_to", "").strip()
    if first or last:
        try:
            start_day = date.fromisoformat(first)
            end = _midnight(date.fromisoformat(last) + timedelta(days=1)) if last else now
        except ValueError:
            return replace(default, error="Dates are written YYYY-MM-DD, from a first day (to a last day).")
        start = _midnight(start_day)
        if start >= end:
            return replace(default, error="The first day comes before the last day.")
        return MoneyRange(start, end, None)
    days = query.get("money_days", "")
    if days:
        if not days.isdigit() or int(days) not in RANGE_DAYS:
            return replace(default, error=f"A range of {', '.join(map(str, RANGE_DAYS))} days.")
        return MoneyRange(now - timedelta(days=int(days)), now, int(days))
    return default


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def money_panel(now: datetime, query: Mapping[str, str] | None = None) -> dict[str, Any]:
    chosen = money_range(now, query)
    figures = money.money_figures(start=chosen.start, end=chosen.end, now=now)
    sales = money.sales_by_product(start=chosen.start, end=chosen.end)
    packs = sales["packs"]
    labels = [f"{row['product_code']} ({row['currency'].upper()})" for row in packs]
    by_currency = [
        {"currency": currency.upper() or "?", **row,
         **{key.removesuffix("_cents"): format_money(value, currency)
            for key, value in row.items() if key.endswith("_cents")}}
        for currency, row in figures["by_currency"].items()
    ]
    suspended = [{**row, "due": format_money(row["due_cents"], row["currency"]),
                  "url": reverse("admin:licenses_proaccount_change", args=[row["pro_account_id"]])}
                 for row in figures["suspended"]["rows"]]
    return {
        **sales,
        "range": chosen,
        "range_days": RANGE_DAYS,
        "figures": figures,
        "by_currency": by_currency,
        "suspended_rows": suspended,
        "suspended_url": reverse("admin:licenses_proaccount_changelist") + "?status__exact=suspended",
        "refunds_undated": [row for row in by_currency if row["refunds_undated_cents"]],
        "packs_revenue": _amounts(packs),
        "revenue": _amounts(sales["kinds"]),
        "kinds_display": [{**row, "revenue": format_money(row["revenue_cents"], row["currency"])}
                          for row in sales["kinds"]],
        "revenue_chart": chart(
            chart_id="revenue-by-pack", type="doughnut", labels=labels, title=f"Kept revenue by pack, {chosen.label}",
            unit="/".join(sorted({row["currency"].upper() for row in packs})) or "EUR",
            empty_text="No pack sold in this range.",
            datasets=[{"label": f"kept ({chosen.label})", "data": [row["revenue_cents"] / 100 for row in packs],
                       "backgroundColor": PACK_COLOURS[: max(len(packs), 1)]}],
        ),
    }


def _amounts(rows: list[dict[str, Any]]) -> str:
    """Per-currency totals of ``revenue_cents``, as money (``0.00 EUR`` when there is none)."""
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["currency"]] = totals.get(row["currency"], 0) + row["revenue_cents"]
    return " + ".join(format_money(cents, currency) for currency, cents in sorted(totals.items())) \
        or format_money(0, "eur")


def incidents_panel(now: datetime) -> dict[str, Any]:
    health = wallet_selectors.wallet_incidents_open_counts()
    billing = selectors.billing_incidents_overview()
    total = (health["open_critical"] + health["open_warning"] + billing["reconciliation_open"]
             + billing["shortfalls_open"])
    return {
        **billing,
        "wallet_critical": health["open_critical"],
        "wallet_warning": health["open_warning"],
        "total_open": total,
        "urls": {
            "wallet": reverse("admin:wallet_incident_changelist") + "?status__exact=open",
            "reconciliation": reverse("admin:billing_reconciliationincident_changelist") + "?status__exact=open",
            "shortfalls": reverse("admin:billing_paymentreversal_changelist") + "?resolved_at__isnull=True",
            "webhooks": reverse("admin:billing_webhookevent_changelist") + "?status__exact=failed",
        },
    }
