"""The wallet's panels on the admin dashboard: shapes selector results for the templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse

from phoenix.core.dashboard import chart
from wallet import selectors
from wallet.models import OperationType

# One colour per operation type, so the hourly chart reads the same every day.
TYPE_COLOURS = {
    "credit": "#2e7d32", "debit": "#c62828", "freeze": "#1565c0", "commit": "#6a1b9a",
    "release": "#00838f", "held_correction_up": "#f9a825", "held_correction_down": "#ef6c00",
    "lot_expiry": "#8d6e63",
}


def health_panel(now: datetime) -> dict[str, Any]:
    overview = selectors.wallet_health_overview()
    last_run = overview["last_run"]
    if overview["open_critical"]:
        status = "critical"
    elif overview["open_warning"] or (last_run and last_run.outcome != "ok"):
        status = "warning"
    elif last_run is None:
        status = "unknown"
    else:
        status = "ok"
    return {
        **overview,
        "status": status,
        "last_run_age_minutes": int((now - last_run.finished_at).total_seconds() // 60) if last_run else None,
        "incidents_url": reverse("admin:wallet_incident_changelist") + "?status__exact=open",
        "run_url": reverse("admin:wallet_incident_operator_health-run"),
        "holds_stuck": selectors.holds_stuck(now=now).count(),
        "alert_recipients": len(settings.ADMINS),  # who is mailed a new CRITICAL (mail_admins)
        "holds_stuck_url": reverse("admin:wallet_hold_changelist") + "?stuck=yes",
    }


def _action_label(code: str) -> str:
    """An action's name for a chart (the catalogue is in process memory: no query)."""
    action = selectors.catalogue_action(code)
    return action.label if action is not None else code


def energy_panel(now: datetime) -> dict[str, Any]:
    per_hour = selectors.balance_operations_per_hour(now=now, hours=48)
    by_action = selectors.energy_consumed_by_action(now=now, days=30)
    return {
        "consumed": selectors.energy_consumed_totals(now=now),
        "operations_48h": per_hour["total"],
        "ops_chart": chart(
            chart_id="balance-ops-per-hour", type="bar", labels=per_hour["labels"],
            title=f"Balance operations per hour, last 48 h ({per_hour['total']})", unit="operations",
            x_title="hour (UTC)", empty_text="No balance operation in the last 48 hours.",
            datasets=[{"label": OperationType(op_type).label, "data": counts,
                       "backgroundColor": TYPE_COLOURS.get(op_type, "#757575"), "stack": "ops"}
                      for op_type, counts in per_hour["series"].items()],
        ),
        "consumption_chart": chart(
            chart_id="consumption-by-action", type="bar", labels=[_action_label(code) for code, _ in by_action],
            title="Energy consumed by action, last 30 days (net of refunds)", unit="energy points",
            x_title="action", empty_text="No energy consumed in the last 30 days.",
            datasets=[{"label": "energy consumed (30 d)", "data": [points for _, points in by_action],
                       "backgroundColor": "#6a1b9a"}],
        ),
    }


def energy_lots_panel(now: datetime) -> dict[str, Any]:
    overview = selectors.energy_lots_overview(now=now)
    cents = overview["paid_liability_cents"]
    return {**overview, "paid_liability_eur": f"{cents // 100}.{cents % 100:02d}",
            "lots_url": reverse("admin:wallet_energylot_changelist")}
