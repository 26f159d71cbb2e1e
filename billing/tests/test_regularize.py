"""POST /pro/account/regularize: a suspended pro pays the open grouped invoice on Stripe's
hosted page; Stripe's invoice.paid then reactivates the account (DESIGN.md §5)."""

from __future__ import annotations

import time

import pytest

from billing.tests import factories as f
from billing.tests.test_pro_seats import buy_seats, pro_owner, seats
from billing.tests.test_subscription_webhooks import f_token
from licenses import services as license_services
from licenses.models import LicenseKind, LicenseStatus, ProAccount, ProAccountStatus
from subscriptions.selectors import check_premium_access

pytestmark = pytest.mark.django_db

URL = "/pro/account/regularize"


def suspended_pro(client, stripe):
    """3 monthly seats (one assigned) bought through Stripe; the grouped renewal's invoice
    fails: Stripe leaves it open and reports invoice.payment_failed."""
    from billing.tests.conftest import make_buyer

    owner = pro_owner()
    buy_seats(client, stripe, owner, kind="monthly", quantity=3)
    account = ProAccount.objects.get(owner=owner)
    collaborator = make_buyer()
    license_services.collaborator_link(pro_account=account, collaborator=collaborator)
    lic = seats(owner, kind=LicenseKind.MONTHLY).first()
    license_services.license_assign(license=lic, collaborator=collaborator)
    created = int(time.time()) + 60
    invoice = stripe.open_invoice(account.stripe_subscription_id, created=created)
    assert f.post_event(client, f.event("invoice.payment_failed", invoice, created=created)).status_code == 200
    account.refresh_from_db()
    assert account.status == ProAccountStatus.SUSPENDED
    assert not check_premium_access(collaborator)
    return owner, account, collaborator, invoice


def test_regularize_pay_the_open_invoice_then_invoice_paid_reactivates(client, stripe_keys, packs, plans):
    owner, account, collaborator, invoice = suspended_pro(client, stripe_keys)
    assert f_token(owner).get("/pro/account").json()["regularize_required"] is True

    response = f_token(owner).post(URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["invoice_id"] == invoice["id"]
    assert body["hosted_invoice_url"] == invoice["hosted_invoice_url"]
    assert body["hosted_invoice_url"].startswith("https://invoice.stripe.com/")
    assert body["amount_due"] == 3 * 2999 and body["currency"] == "eur" and body["status"] == "suspended"
    [(_, _, params, _)] = [r for r in stripe_keys.requests if r[1] == "/v1/invoices"]
    assert params["subscription"] == account.stripe_subscription_id and params["status"] == "open"

    # The pro pays on the hosted page; Stripe reports invoice.paid.
    paid = stripe_keys.pay_invoice(invoice["id"])
    event = f.event("invoice.paid", paid, created=int(time.time()) + 120)
    assert f.post_event(client, event).status_code == 200
    assert f.post_event(client, event).status_code == 200  # delivered twice: once

    account.refresh_from_db()
    assert account.status == ProAccountStatus.ACTIVE
    assert sorted(seats(owner, kind=LicenseKind.MONTHLY).values_list("status", flat=True)) == [
        LicenseStatus.ACTIVE, LicenseStatus.AVAILABLE, LicenseStatus.AVAILABLE]
    assert check_premium_access(collaborator)
    assert account.events.filter(kind="renewal_paid").count() == 1
    assert f_token(owner).get("/pro/account").json()["regularize_required"] is False
    again = f_token(owner).post(URL)
    assert again.status_code == 409 and again.json()["error"] == "pro_account_not_suspended"


def test_regularize_refused_when_the_account_is_active(client, stripe_keys, packs, plans):
    owner = pro_owner()
    buy_seats(client, stripe_keys, owner, kind="monthly", quantity=1)
    response = f_token(owner).post(URL)
    assert response.status_code == 409
    assert response.json()["error"] == "pro_account_not_suspended"
    assert not [r for r in stripe_keys.requests if r[1] == "/v1/invoices"]


def test_regularize_without_stripe_keys(settings, packs, plans):
    settings.STRIPE_SECRET_KEY = ""
    owner = pro_owner()
    account = ProAccount.objects.get(owner=owner)
    license_services.license_purchase(pro_account=account, kind="monthly", quantity=1, event_time=account.created_at)
    license_services.pro_account_suspend(pro_account=account, actor=None, reason="test")
    response = f_token(owner).post(URL)
    assert response.status_code == 503 and response.json()["error"] == "stripe_not_configured"


def test_regularize_without_an_open_invoice_or_account(client, stripe_keys, packs, plans):
    from billing.tests.conftest import make_buyer

    nobody = make_buyer()
    response = f_token(nobody).post(URL)
    assert response.status_code == 404 and response.json()["error"] == "pro_account_not_found"
    # Suspended by an operator: nothing open at Stripe to pay.
    owner = pro_owner()
    buy_seats(client, stripe_keys, owner, kind="monthly", quantity=1)
    license_services.pro_account_suspend(pro_account=ProAccount.objects.get(owner=owner), actor=None, reason="x")
    response = f_token(owner).post(URL)
    assert response.status_code == 409 and response.json()["error"] == "no_open_invoice"
    from django.test import Client

    assert Client().post(URL).status_code == 401
