"""Shared by billing tests: ledger assertions (read through wallet's public models), Stripe
event builders and the flows several test files start from (a PREMIUM user, a pro with seats)."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

from billing.models import Payment, PaymentStatus, ReconciliationIncident, WebhookEvent, WebhookEventStatus
from billing.services import payments as svc
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.stripe_server import LocalStripe
from conftest import token_client_for
from licenses import services as license_services
from licenses.models import License, LicenseKind, LicenseStatus, ProAccount, ProAccountStatus
from subscriptions.models import Access, AccessType
from subscriptions.selectors import check_premium_access
from wallet.models import BalanceOperation, OperationType
from wallet.selectors import wallet_balance


def balance(user) -> int:
    return wallet_balance(user)["balance"]


def credits_for(payment) -> list:
    return list(BalanceOperation.objects.filter(
        reference=f"payment:{payment.pk}", type=OperationType.CREDIT
    ))


def debits_for(payment) -> list:
    return list(BalanceOperation.objects.filter(
        reference=f"payment:{payment.pk}", type=OperationType.DEBIT
    ))


WELCOME = 85


def create_intent(client_, product="cafe_luna"):
    response = client_.post("/billing/create-intent", {"product": product}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


DAY = 86400


def pro_owner():
    owner = make_buyer()
    response = f_token(owner).post("/pro/account")
    assert response.status_code == 201, response.content
    return owner


def buy_seats(client, stripe, owner, *, kind, quantity, now=None):
    """The owner buys seats through the API; a checkout is paid and Stripe reports it."""
    response = f_token(owner).post("/pro/licenses/purchase", {"kind": kind, "quantity": quantity}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    if body["outcome"] == "checkout":
        payment = Payment.objects.get(public_id=body["payment_id"])
        session = stripe.complete_session(payment.stripe_checkout_session_id, now=now)
        assert f.post_event(client, f.event("checkout.session.completed", session, created=now)).status_code == 200
    return body


def seats(owner, **filters):
    return License.objects.filter(pro_account__owner=owner, **filters)


def seats_metadata(owner, kind="monthly", quantity=2):
    return {**f.phoenix_metadata(user=owner, kind="pro_seats", code=kind), "phoenix_quantity": str(quantity)}


def pro_with_assigned_seats(client):
    """2 monthly seats (one assigned) and 1 lifetime seat (assigned), bought through
    Stripe events (no keys: signed events only)."""
    owner = make_buyer()
    account = license_services.pro_account_open(owner=owner)
    start = ts(datetime.now(UTC).replace(microsecond=0))
    monthly = f.subscription_checkout_session(subscription_id="sub_test_grouped", metadata=seats_metadata(owner),
                                              amount=2 * 2999)
    assert f.post_event(client, f.event("checkout.session.completed", monthly, created=start)).status_code == 200
    lifetime = f.checkout_session(metadata=seats_metadata(owner, "lifetime", 1), amount=29900)
    assert f.post_event(client, f.event("checkout.session.completed", lifetime, created=start)).status_code == 200
    account.refresh_from_db()
    assert account.stripe_subscription_id == "sub_test_grouped"
    monthly_holder, lifetime_holder = make_buyer(), make_buyer()
    for user, kind in ((monthly_holder, LicenseKind.MONTHLY), (lifetime_holder, LicenseKind.LIFETIME)):
        license_services.collaborator_link(pro_account=account, collaborator=user)
        lic = License.objects.filter(pro_account=account, kind=kind, status=LicenseStatus.AVAILABLE).first()
        assert license_services.license_assign(license=lic, collaborator=user).outcome == "assigned"
    return owner, account, monthly_holder, lifetime_holder, start


def grouped_invoice(event_type, owner, *, created, invoice_id="in_test_grouped_2", status="paid",
                    reason="subscription_cycle"):
    invoice = f.invoice(subscription_id="sub_test_grouped", metadata=seats_metadata(owner), quantity=2,
                        billing_reason=reason, period_start=created, status=status, invoice_id=invoice_id)
    return f.event(event_type, invoice, created=created)


def premium_collaborator_and_pool(client, stripe):
    collaborator = make_buyer()
    _, sub, _ = start_monthly(client, stripe, collaborator)
    owner = pro_owner()
    buy_seats(client, stripe, owner, kind="lifetime", quantity=1)
    invited = f_token(owner).post("/pro/invitations", {"email": collaborator.email}, format="json")
    assert invited.status_code == 202, invited.content
    response = f_token(collaborator).post(f"/pro/invitations/{invited.json()['id']}/accept",
                                          {"premium_cancel_consent": True}, format="json")
    assert response.status_code == 200, response.content
    lic = seats(owner).get()
    return collaborator, owner, lic, sub


REGULARIZE_URL = "/pro/account/regularize"


def suspended_pro(client, stripe):
    """3 monthly seats (one assigned) bought through Stripe; the grouped renewal's invoice
    fails: Stripe leaves it open and reports invoice.payment_failed."""

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


SUB_ITEMS = "/v1/subscription_items/"


def quantity_writes(stripe) -> list[dict]:
    return [params for method, path, params, _ in stripe.requests if method == "POST" and path.startswith(SUB_ITEMS)]


def stripe_quantity(stripe, account) -> int:
    return int(stripe.subscriptions[account.stripe_subscription_id]["items"]["data"][0]["quantity"])


def monthly_pro(client, stripe, *, quantity=3):
    owner = pro_owner()
    buy_seats(client, stripe, owner, kind="monthly", quantity=quantity)
    account = ProAccount.objects.get(owner=owner)
    assert stripe_quantity(stripe, account) == quantity
    assert account.stripe_seat_quantity == quantity  # recorded by the checkout's fulfilment
    return owner, account


def cancel_monthly(owner, n):
    canceled = []
    for lic in seats(owner, kind=LicenseKind.MONTHLY, status=LicenseStatus.AVAILABLE).order_by("id")[:n]:
        canceled.append(license_services.license_cancel(license=lic, actor=owner))
    return canceled


def grouped_date(account):
    account.refresh_from_db()
    return account.next_billing_at + timedelta(hours=1)


def account_with_known_quantity(quantity=2):
    owner = make_buyer()
    account = license_services.pro_account_open(owner=owner)
    license_services.license_purchase(pro_account=account, kind="monthly", quantity=quantity,
                                      event_time=account.created_at)
    license_services.license_purchase(pro_account=account, kind="lifetime", quantity=1,
                                      event_time=account.created_at)
    license_services.pro_account_set_stripe_subscription(pro_account=account,
                                                         stripe_subscription_id=f.stripe_id("sub"))
    license_services.pro_account_record_stripe_seat_quantity(pro_account=account, quantity=quantity,
                                                             observed_at=account.created_at)
    account.refresh_from_db()
    return owner, account


ALL = list(PaymentStatus.values)


LEGAL = {
    ("pending", "succeeded"), ("pending", "failed"), ("pending", "canceled"),
    ("succeeded", "refunded"),
}


ILLEGAL = [(a, b) for a, b in itertools.product(ALL, ALL) if (a, b) not in LEGAL]


def payment_in(status: str) -> Payment:
    """Walk a fresh payment to ``status`` through legal steps only."""
    payment = f.PaymentFactory()
    path = {"pending": [], "succeeded": ["succeeded"], "failed": ["failed"],
            "canceled": ["canceled"], "refunded": ["succeeded", "refunded"]}[status]
    for step in path:
        svc.payment_transition(payment=payment, to_status=step)
    return payment


def succeeded_payment(user) -> Payment:
    payment = f.PaymentFactory(user=user)
    return svc.payment_succeed(payment_id=payment.pk)


def codes() -> set[tuple[str, str]]:
    return set(ReconciliationIncident.objects.values_list("code", "subject"))


def access(user) -> Access:
    return Access.objects.get(user=user)


def plan_metadata(user, code="luna_unlimited"):
    return f.phoenix_metadata(user=user, kind="plan", code=code)


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def start_monthly(client, stripe: LocalStripe, user, *, now: int | None = None):
    """The user buys the monthly plan through the API, pays, and Stripe reports it."""
    response = f_token(user).post("/billing/checkout", {"product": "luna_unlimited"}, format="json")
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(public_id=response.json()["payment_id"])
    session = stripe.complete_session(payment.stripe_checkout_session_id, now=now)
    event = f.event("checkout.session.completed", session, created=now)
    assert f.post_event(client, event).status_code == 200
    return payment, stripe.subscriptions[session["subscription"]], event


def f_token(user):
    return token_client_for(user)


def invoice_event(event_type, *, user, sub_id, period_start, period_end=None, reason="subscription_cycle",
                  created=None, invoice_id=None, status="paid", code="luna_unlimited"):
    invoice = f.invoice(subscription_id=sub_id, metadata=plan_metadata(user, code), billing_reason=reason,
                        period_start=period_start, period_end=period_end, status=status,
                        invoice_id=invoice_id)
    return f.event(event_type, invoice, created=created or period_start)


def premium_user(client, user, *, sub_id="sub_test_premium", start=None):
    """PREMIUM through Stripe events alone (checkout completed without Stripe keys).
    Events start after the sign-up trial, so ending PREMIUM falls back to EXPIRED."""
    start = start or ts(datetime.now(UTC).replace(microsecond=0) + timedelta(days=8))
    session = f.subscription_checkout_session(subscription_id=sub_id, metadata=plan_metadata(user))
    event = invoice_event("invoice.paid", user=user, sub_id=sub_id, period_start=start,
                          period_end=start + 31 * DAY, reason="subscription_create", created=start)
    assert f.post_event(client, event).status_code == 200
    assert f.post_event(client, f.event("checkout.session.completed", session, created=start + 2)).status_code == 200
    row = access(user)
    assert row.type == AccessType.PREMIUM and row.stripe_subscription_id == sub_id
    return start


def sub_event(event_type, *, user, sub_id="sub_test_premium", created, previous=None, **fields):
    sub = f.subscription(subscription_id=sub_id, metadata=plan_metadata(user), **fields)
    return f.event(event_type, sub, created=created, previous_attributes=previous)


def completed_event(user, *, code="cafe_luna", amount=299, **kwargs):
    session = f.checkout_session(metadata=f.phoenix_metadata(user=user, code=code), amount=amount,
                                 client_reference_id=str(user.public_id), **kwargs)
    return f.event("checkout.session.completed", session)


def nothing_processed() -> bool:
    return not WebhookEvent.objects.exclude(status=WebhookEventStatus.RECEIVED).exists()


def bought(client, user):
    payload = completed_event(user)
    assert f.post_event(client, payload).status_code == 200
    return Payment.objects.get(stripe_checkout_session_id=payload["data"]["object"]["id"])


def buy_pack(client, stripe, user, *, product="cafe_luna"):
    """The user buys a pack through the API, pays, and Stripe reports it."""
    response = f_token(user).post("/billing/checkout", {"product": product}, format="json")
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(public_id=response.json()["payment_id"])
    session = stripe.complete_session(payment.stripe_checkout_session_id)
    event = f.event("checkout.session.completed", session)
    assert f.post_event(client, event).status_code == 200
    payment.refresh_from_db()
    return payment, event
