"""The licenses panel of the admin dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from licenses import selectors


def pro_panel(now: datetime) -> dict[str, Any]:
    counts = selectors.pro_status_counts()
    licenses = [{"status": status, "monthly": kinds["monthly"], "lifetime": kinds["lifetime"],
                 "total": sum(kinds.values())} for status, kinds in counts["licenses"].items()]
    return {"accounts": counts["accounts"], "licenses": licenses,
            "licenses_total": sum(row["total"] for row in licenses)}
