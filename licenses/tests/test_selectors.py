from datetime import UTC, date, datetime

import pytest

from licenses.grouped_dates import anchored_date, next_grouped_date, previous_grouped_date, prorated_amount_cents


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("year", "month", "expected"), [
    (2027, 2, date(2027, 2, 28)),   # February, common year
    (2028, 2, date(2028, 2, 29)),   # February, leap year
    (2027, 4, date(2027, 4, 30)),   # 30-day month
    (2027, 3, date(2027, 3, 31)),
])
def test_anchor_day_31_falls_on_the_months_last_day(year, month, expected):
    assert anchored_date(year=year, month=month, anchor_day=31) == expected


def test_next_grouped_dates_follow_the_anchor_not_the_clipped_date():
    first = next_grouped_date(anchor_day=31, after=at(2027, 1, 31, 10))
    assert first == at(2027, 2, 28)
    second = next_grouped_date(anchor_day=31, after=first)
    assert second == at(2027, 3, 31)  # back to the 31st, not the 28th
    third = next_grouped_date(anchor_day=31, after=second)
    assert third == at(2027, 4, 30)
    assert next_grouped_date(anchor_day=31, after=at(2027, 12, 31, 1)) == at(2028, 1, 31)
    assert previous_grouped_date(anchor_day=31, before=at(2027, 3, 31)) == at(2027, 2, 28)


def test_next_grouped_date_is_strictly_after():
    assert next_grouped_date(anchor_day=15, after=at(2027, 5, 15)) == at(2027, 6, 15)
    assert next_grouped_date(anchor_day=15, after=at(2027, 5, 14, 23, 59)) == at(2027, 5, 15)


def test_proration_in_integer_cents():
    start, end = at(2027, 4, 1), at(2027, 5, 1)  # 30 days
    assert prorated_amount_cents(price_cents=3000, cycle_start=start, cycle_end=end, at=at(2027, 4, 16)) == 1500
    assert prorated_amount_cents(price_cents=2999, cycle_start=start, cycle_end=end, at=start) == 2999
    assert prorated_amount_cents(price_cents=2999, cycle_start=start, cycle_end=end, at=end) == 0
    # 2999 * 15/30 = 1499.5 -> rounded half up
    assert prorated_amount_cents(price_cents=2999, cycle_start=start, cycle_end=end, at=at(2027, 4, 16)) == 1500
    # 2999 * 10/30 = 999.67 -> 1000
    assert prorated_amount_cents(price_cents=2999, cycle_start=start, cycle_end=end, at=at(2027, 4, 21)) == 1000
    assert isinstance(prorated_amount_cents(price_cents=2999, cycle_start=start, cycle_end=end, at=at(2027, 4, 21)),
                      int)
    # clamped outside the cycle
    assert prorated_amount_cents(price_cents=2999, cycle_start=start, cycle_end=end, at=at(2027, 3, 1)) == 2999
    assert prorated_amount_cents(price_cents=2999, cycle_start=start, cycle_end=end, at=at(2027, 6, 1)) == 0
    with pytest.raises(ValueError):
        prorated_amount_cents(price_cents=2999, cycle_start=end, cycle_end=start, at=start)
