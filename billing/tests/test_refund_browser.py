"""Headless Chromium: an operator refunds a payment from the customer page; the local Stripe
server sees one refund and sends its signed events to the live server; the energy is clawed
back once; the customer page shows the refund (screenshot in artifacts/screenshots/)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By

from billing.models import PaymentRefund, PaymentStatus
from billing.tests import factories as f
from billing.tests.helpers import WELCOME, balance, buy_pack
from phoenix.accounts.tests.factories import UserFactory
from tests.test_admin_browser import _login, _screenshot, browser, click_through, needs_chromium  # noqa: F401

PACK_POINTS = 110


@pytest.mark.slow
@needs_chromium
@pytest.mark.django_db(transaction=True)
def test_refund_from_the_customer_page_reaches_stripe_once_and_claws_back_once(
        request, client, live_server, browser, buyer, stripe_keys, plans):  # noqa: F811
    payment, _event = buy_pack(client, stripe_keys, buyer)
    assert balance(buyer) == WELCOME + PACK_POINTS
    staff = UserFactory(email="finance-browser@example.com", is_staff=True, is_superuser=True)
    _login(browser, live_server, staff)

    browser.get(f"{live_server.url}{reverse('admin:customer', args=[buyer.public_id])}")
    payments = browser.find_element(By.ID, "section-payments")
    click_through(browser, payments.find_element(By.LINK_TEXT, "Refund"))
    amount = browser.find_element(By.NAME, "amount")
    assert amount.get_attribute("value") == "2.99"  # what is left to refund
    browser.find_element(By.NAME, "reason").send_keys("ticket 21: pack bought by mistake")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit].default"))
    assert "sent to Stripe" in browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text

    assert len(stripe_keys.refunds) == 1
    [refund] = stripe_keys.refunds.values()
    assert (refund["amount"], refund["payment_intent"]) == (299, payment.stripe_payment_intent_id)
    # Stripe delivers refund.created and charge.refunded, signed; then once more (a redelivery).
    webhook_url = f"{live_server.url}/stripe/webhook/"
    events = list(stripe_keys.events)
    assert [s for _t, s in stripe_keys.send_events(webhook_url, secret=f.WEBHOOK_SECRET)] == [200, 200]
    stripe_keys.events.extend(events)
    assert [s for _t, s in stripe_keys.send_events(webhook_url, secret=f.WEBHOOK_SECRET)] == [200, 200]

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED and payment.amount_refunded_cents == 299
    assert [r.requested for r in payment.reversals.all()] == [PACK_POINTS]
    assert balance(buyer) == WELCOME
    assert PaymentRefund.objects.get().stripe_refund_id == refund["id"]

    browser.get(f"{live_server.url}{reverse('admin:customer', args=[buyer.public_id])}")
    payments = browser.find_element(By.ID, "section-payments")
    text = payments.text
    assert "Refunds requested from the admin" in text and refund["id"] in text
    assert "2.99 EUR" in text and "Refunded" in text and f"{PACK_POINTS} / {PACK_POINTS}" in text
    assert payments.find_elements(By.LINK_TEXT, "Refund") == []  # nothing left to refund
    browser.execute_script("arguments[0].scrollIntoView()", payments)
    _screenshot(request, browser, "customer-refunded.png")
