"""Amounts of money as people read them. Money is integer minor units (cents) everywhere;
this is the one place that turns cents into text (admin pages, dashboard, exports)."""

from __future__ import annotations


def format_money(cents: int, currency: str = "") -> str:
    """``1234567, "eur"`` -> ``"12,345.67 EUR"`` (a minus sign in front of a negative amount;
    no currency: the number alone)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    text = f"{sign}{whole:,}.{part:02d}"
    return f"{text} {currency.upper()}" if currency else text
