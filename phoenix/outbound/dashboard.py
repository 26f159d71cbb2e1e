"""The outbound webhooks panel of the admin dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import reverse

from phoenix.outbound.selectors import outbound_summary


def outbound_panel(now: datetime) -> dict[str, Any]:
    return {**outbound_summary(now=now),
            "urls": {"endpoints": reverse("admin:outbound_endpoint_changelist"),
                     "deliveries": reverse("admin:outbound_delivery_changelist")}}
