"""Pure date and money arithmetic of the grouped billing date. No I/O.

The grouped billing date falls at 00:00 UTC on the account's anchor day; a day past a
month's end falls on that month's last day (31 -> Feb 28/29, Apr 30), and the next one
is always computed from the anchor day, never from the previous (clipped) date.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta


def anchored_date(*, year: int, month: int, anchor_day: int) -> date:
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def _shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def next_grouped_date(*, anchor_day: int, after: datetime) -> datetime:
    """The first grouped billing date strictly after ``after``."""
    year, month = after.astimezone(UTC).year, after.astimezone(UTC).month
    while True:
        candidate = _at_midnight(anchored_date(year=year, month=month, anchor_day=anchor_day))
        if candidate > after:
            return candidate
        year, month = _shift_month(year, month, 1)


def previous_grouped_date(*, anchor_day: int, before: datetime) -> datetime:
    """The grouped billing date one cycle before ``before`` (itself a grouped date)."""
    year, month = _shift_month(before.astimezone(UTC).year, before.astimezone(UTC).month, -1)
    return _at_midnight(anchored_date(year=year, month=month, anchor_day=anchor_day))


def prorated_amount_cents(
    *, price_cents: int, cycle_start: datetime, cycle_end: datetime, at: datetime
) -> int:
    """What a seat costs from ``at`` to ``cycle_end``, for a cycle priced ``price_cents``.

    Integer arithmetic on whole seconds, rounded half up to the cent; ``at`` outside the
    cycle is clamped (before it: the full price, after it: nothing).
    """
    if price_cents < 0:
        raise ValueError("price_cents must be >= 0")
    if cycle_end <= cycle_start:
        raise ValueError("cycle_end must be after cycle_start")
    second = timedelta(seconds=1)
    cycle = (cycle_end - cycle_start) // second
    remaining = max(0, min(cycle, (cycle_end - at) // second))
    return (price_cents * remaining * 2 + cycle) // (2 * cycle)
