import pytest

from phoenix.core.money import format_money


@pytest.mark.parametrize(("cents", "currency", "text"), [
    (1234567, "eur", "12,345.67 EUR"),
    (0, "eur", "0.00 EUR"),
    (5, "usd", "0.05 USD"),
    (-150, "eur", "-1.50 EUR"),  # a floor division would print -2.50
    (-5, "eur", "-0.05 EUR"),
    (100000000, "", "1,000,000.00"),
])
def test_money_reads_cents_as_an_amount(cents, currency, text):
    assert format_money(cents, currency) == text
