"""Reading Stripe objects (plain dicts) in the shapes Stripe sends them. No I/O.

Stripe moved fields in API version 2025-03-31.basil, which Phoenix's events use
(``billing.stripe_payloads.API_VERSION``): an invoice names its subscription under
``parent.subscription_details`` (no top-level ``subscription``), and a subscription's
billing period lives on its items (``items.data[].current_period_end``). The readers here
take the current shape first and the older one as a fallback, so an endpoint pinned to an
older version still works.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any


def timestamp(value: int | float | None) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def object_id(value: Any) -> str:
    """An expandable field: an id string, or the expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def activation_reference(subscription_id: str) -> str:
    """The reference of a subscription's activation: the same from its checkout and from its
    first invoice, which both announce it."""
    return f"subscription:{subscription_id}"


def add_one_month(moment: datetime) -> datetime:
    """Stripe's monthly step: same day next month, clipped to the month's last day."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- subscriptions ---------------------------------------------------------------------


def subscription_period_end(subscription: dict[str, Any]) -> datetime | None:
    ends = [item.get("current_period_end") for item in _items(subscription)]
    ends = [end for end in ends if end]
    return timestamp(max(ends)) if ends else timestamp(subscription.get("current_period_end"))


def subscription_first_item(subscription: dict[str, Any]) -> dict[str, Any] | None:
    items = _items(subscription)
    return items[0] if items else None


def _items(subscription: dict[str, Any]) -> list[dict[str, Any]]:
    return list(((subscription.get("items") or {}).get("data")) or [])


# --- invoices --------------------------------------------------------------------------


def invoice_subscription_id(invoice: dict[str, Any]) -> str:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return object_id(details.get("subscription")) or object_id(invoice.get("subscription"))


def invoice_subscription_metadata(invoice: dict[str, Any]) -> dict[str, str]:
    """The subscription's metadata as the invoice snapshot it (Phoenix puts the user and
    product there at checkout)."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    legacy = invoice.get("subscription_details") or {}
    return dict(details.get("metadata") or legacy.get("metadata") or {})


def invoice_period_end(invoice: dict[str, Any]) -> datetime | None:
    """The end of the period an invoice pays for: its subscription lines' ``period.end``.

    Not ``invoice.period_end``: for a subscription invoice that is the end of the period
    *before* (when its usage was collected). Proration lines are skipped: they cover part
    of the current period, not the new one.
    """
    lines = list(((invoice.get("lines") or {}).get("data")) or [])
    regular = [line for line in lines if not _is_proration(line)] or lines
    ends = [(line.get("period") or {}).get("end") for line in regular]
    ends = [end for end in ends if end]
    return timestamp(max(ends)) if ends else None


def _is_proration(line: dict[str, Any]) -> bool:
    details = (line.get("parent") or {}).get("subscription_item_details") or {}
    return bool(details.get("proration") or line.get("proration"))
