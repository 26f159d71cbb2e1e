"""Headless Chromium: an operator adjusts a balance, presses Back and submits the same form
again; the wallet is credited once and the page says the action was already done. A goodwill
grant with an expiry becomes its own lot, shown on the customer page."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By

from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from phoenix.core.models import AdminAction
from tests.test_admin_browser import _login, browser, click_through, needs_chromium  # noqa: F401 (the fixture)
from wallet.models import EnergyLot, LotCategory, Wallet

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def _fill_adjust(driver, *, amount: int, reason: str) -> None:
    driver.find_element(By.NAME, "direction").send_keys("Credit")
    amount_input = driver.find_element(By.NAME, "amount")
    amount_input.clear()
    amount_input.send_keys(str(amount))
    reason_input = driver.find_element(By.NAME, "reason")
    reason_input.clear()
    reason_input.send_keys(reason)
    click_through(driver, driver.find_element(By.CSS_SELECTOR, "input[type=submit].default"))


@pytest.mark.slow
@needs_chromium
@pytest.mark.django_db(transaction=True)
def test_back_and_resubmit_of_adjust_balance_credits_once(live_server, browser):  # noqa: F811
    staff = UserFactory(email="operator@example.com", is_staff=True, is_superuser=True)
    member, _token = user_register(email="member-browser@example.com", password=DEFAULT_PASSWORD)
    wallet = Wallet.objects.get(user=member)
    start = wallet.balance
    _login(browser, live_server, staff)

    browser.get(f"{live_server.url}/admin/wallet/wallet/{wallet.pk}/operator/adjust/")
    _fill_adjust(browser, amount=40, reason="ticket 7: goodwill")
    assert "recorded" in browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text
    browser.back()  # the form page again; the operator submits the same intent once more
    _fill_adjust(browser, amount=40, reason="ticket 7: goodwill")
    errors = browser.find_element(By.CSS_SELECTOR, "ul.errorlist.nonfield").text
    assert "was done" in errors and "operator_action_repeated" in errors
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "adjust-back-resubmit.png"))

    wallet.refresh_from_db()
    assert wallet.balance == start + 40
    assert AdminAction.objects.filter(action="wallet_credit", target_id=str(wallet.pk)).count() == 1


@pytest.mark.slow
@needs_chromium
@pytest.mark.django_db(transaction=True)
def test_a_goodwill_grant_with_an_expiry_shows_as_its_own_lot_on_the_customer_page(live_server, browser):  # noqa: F811
    staff = UserFactory(email="operator-grant@example.com", is_staff=True, is_superuser=True)
    member, _token = user_register(email="member-grant@example.com", password=DEFAULT_PASSWORD)
    wallet = Wallet.objects.get(user=member)
    start = wallet.balance
    _login(browser, live_server, staff)

    browser.get(f"{live_server.url}/admin/wallet/wallet/{wallet.pk}/operator/grant/")
    browser.find_element(By.NAME, "category").send_keys("Goodwill")
    browser.find_element(By.NAME, "amount").send_keys("25")
    browser.find_element(By.NAME, "expires_at").send_keys("2031-06-30 12:00")
    browser.find_element(By.NAME, "reason").send_keys("ticket 9: outage compensation")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit].default"))
    assert "lot of 25 points granted" in browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text

    lot = EnergyLot.objects.get(wallet=wallet, category=LotCategory.GOODWILL)
    assert (lot.amount, lot.expires_at) == (25, datetime(2031, 6, 30, 12, 0, tzinfo=UTC))
    wallet.refresh_from_db()
    assert wallet.balance == start + 25
    browser.get(f"{live_server.url}{reverse('admin:customer', args=[member.public_id])}")
    section = browser.find_element(By.ID, "section-wallet").text
    assert "Goodwill" in section or "goodwill" in section
    assert "2031" in section  # the lot's expiry, beside the welcome lot's
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "grant-with-expiry.png"))
    action = AdminAction.objects.get(action="wallet_grant", target_id=str(wallet.pk))
    assert action.after["expires_at"] == "2031-06-30T12:00:00+00:00"
    assert action.reason == "ticket 9: outage compensation"
