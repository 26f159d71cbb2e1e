"""Billing's panels on the admin dashboard: money at a glance, and every open incident
(billing sits on top of wallet, so it can show the wallet's too)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import reverse

from billing import selectors
from phoenix.core.dashboard import chart
from wallet import selectors as wallet_selectors

PACK_COLOURS = ["#6a1b9a", "#1565c0", "#2e7d32", "#ef6c00", "#00838f", "#c62828"]


def _money(cents: int) -> str:
    return f"{cents // 100:,}.{cents % 100:02d}"


def money_panel(now: datetime) -> dict[str, Any]:
    overview = selectors.revenue_overview(now=now, days=30)
    packs = overview["packs"]
    labels = [f"{row['product_code']} ({row['currency'].upper()})" for row in packs]
    return {
        **overview,
        "packs_revenue": _money(overview["packs_revenue_cents"]),
        "revenue": _money(overview["revenue_cents"]),
        "currency": "/".join(c.upper() for c in overview["currencies"]) or "EUR",
        "kinds_display": [{**row, "revenue": _money(row["revenue_cents"])} for row in overview["kinds"]],
        "revenue_chart": chart(
            chart_id="revenue-by-pack", type="doughnut", labels=labels, title="Revenue by pack, last 30 days",
            unit="/".join(c.upper() for c in overview["currencies"]) or "EUR",
            empty_text="No pack sold in the last 30 days.",
            datasets=[{"label": "revenue (30 d)", "data": [row["revenue_cents"] / 100 for row in packs],
                       "backgroundColor": PACK_COLOURS[: max(len(packs), 1)]}],
        ),
    }


def incidents_panel(now: datetime) -> dict[str, Any]:
    health = wallet_selectors.wallet_health_overview()
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
