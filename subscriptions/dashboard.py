"""The access panel of the admin dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from phoenix.core.dashboard import chart
from subscriptions import selectors
from subscriptions.models import AccessType

TYPE_COLOURS = {"TRIAL": "#1565c0", "PREMIUM": "#6a1b9a", "LIFETIME": "#2e7d32", "LICENSED": "#00838f",
                "EXPIRED": "#9e9e9e"}


def access_panel(now: datetime) -> dict[str, Any]:
    counts = selectors.access_type_counts()
    return {
        **counts,
        "chart": chart(chart_id="access-types", type="doughnut", title="Users by access type", unit="users",
                       empty_text="No user yet.", labels=[AccessType(t).label for t in counts["by_type"]],
                       datasets=[{"label": "users", "data": list(counts["by_type"].values()),
                                  "backgroundColor": [TYPE_COLOURS.get(t, "#757575") for t in counts["by_type"]]}]),
    }
