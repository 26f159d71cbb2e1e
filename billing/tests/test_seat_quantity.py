"""The grouped subscription's quantity follows the billable monthly seats (canceled or
unlinked seats stop being billed at the grouped date), through the local Stripe server;
the daily reconciliation reports a quantity mismatch (DESIGN.md §5, §6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from billing.models import IncidentStatus, ReconciliationIncident
from billing.services.reconciliation import payments_reconcile
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.test_pro_seats import buy_seats, pro_owner, seats
from licenses import services as license_services
from licenses.models import LicenseKind, LicenseStatus, ProAccount
from licenses.selectors import billable_monthly_seat_count

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


@pytest.mark.django_db(transaction=True)
def test_canceled_monthly_seats_lower_the_quantity_once_without_proration(stripe_keys, packs, plans, eager_celery):
    client = Client()
    owner, account = monthly_pro(client, stripe_keys)

    cancel_monthly(owner, 2)

    # Lowered at once for the next period: nothing prorated, the canceled seats stay until
    # the grouped date (this cycle is paid).
    assert stripe_quantity(stripe_keys, account) == 1
    assert quantity_writes(stripe_keys) == [{"quantity": "2", "proration_behavior": "none"},
                                            {"quantity": "1", "proration_behavior": "none"}]
    assert stripe_keys.prorations == []
    assert seats(owner, status=LicenseStatus.CANCELED).count() == 2
    account.refresh_from_db()
    assert account.stripe_seat_quantity == 1

    at = grouped_date(account)
    steps = license_services.grouped_billing_run(now=at)
    assert [s.action for s in steps].count("delete_license") == 2
    assert license_services.grouped_billing_run(now=at) == []  # the job runs again: nothing

    assert seats(owner).count() == 1
    assert stripe_quantity(stripe_keys, account) == 1
    assert len(quantity_writes(stripe_keys)) == 2  # once per cancellation, none at the date
    assert not ReconciliationIncident.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_grouped_date_deleting_canceled_seats_lowers_a_quantity_still_too_high(
        stripe_keys, packs, plans, eager_celery, monkeypatch):
    """The notice at cancel time was lost (before this fix, or a broker outage): the grouped
    date processing lowers the quantity, exactly once even if the job runs twice."""
    from billing import tasks

    client = Client()
    owner, account = monthly_pro(client, stripe_keys)
    with monkeypatch.context() as m:
        m.setattr(tasks.sync_pro_seat_quantity, "delay_on_commit", lambda **kw: None)
        cancel_monthly(owner, 2)
    assert stripe_quantity(stripe_keys, account) == 3 and quantity_writes(stripe_keys) == []

    at = grouped_date(account)
    first = license_services.grouped_billing_run(now=at)
    second = license_services.grouped_billing_run(now=at)

    assert [s.action for s in first].count("delete_license") == 2 and second == []
    assert stripe_quantity(stripe_keys, account) == 1 == billable_monthly_seat_count(pro_account=account)
    assert quantity_writes(stripe_keys) == [{"quantity": "1", "proration_behavior": "none"}]
    # Another notice (a replayed task) reads Stripe, finds it agrees, writes nothing.
    assert tasks.sync_pro_seat_quantity.apply(kwargs={"pro_account_id": account.pk}).get() == "unchanged"
    assert len(quantity_writes(stripe_keys)) == 1


@pytest.mark.django_db(transaction=True)
def test_unlinked_monthly_seat_lowers_the_quantity(stripe_keys, packs, plans, eager_celery):
    client = Client()
    owner, account = monthly_pro(client, stripe_keys, quantity=2)
    collaborator = make_buyer()
    license_services.collaborator_link(pro_account=account, collaborator=collaborator)
    lic = seats(owner, kind=LicenseKind.MONTHLY).first()
    license_services.license_assign(license=lic, collaborator=collaborator)

    license_services.collaborator_unlink(pro_account=account, collaborator=collaborator, actor=collaborator)

    assert stripe_quantity(stripe_keys, account) == 1


@pytest.mark.django_db(transaction=True)
def test_lifetime_seats_never_change_the_quantity(stripe_keys, packs, plans, eager_celery):
    client = Client()
    owner, account = monthly_pro(client, stripe_keys, quantity=2)
    buy_seats(client, stripe_keys, owner, kind="lifetime", quantity=2)
    collaborator = make_buyer()
    license_services.collaborator_link(pro_account=account, collaborator=collaborator)
    lifetime = seats(owner, kind=LicenseKind.LIFETIME).first()
    license_services.license_assign(license=lifetime, collaborator=collaborator)
    requests_before = len(stripe_keys.requests)

    license_services.license_cancel(license=lifetime, actor=owner)
    at = grouped_date(account)
    steps = license_services.grouped_billing_run(now=at)

    assert [s.action for s in steps if s.license_id] == ["return_to_pool"]
    lifetime.refresh_from_db()
    assert lifetime.status == LicenseStatus.AVAILABLE
    assert stripe_quantity(stripe_keys, account) == 2
    assert quantity_writes(stripe_keys) == []
    assert len(stripe_keys.requests) == requests_before  # Stripe not even asked


@pytest.mark.django_db(transaction=True)
def test_stripe_down_the_task_retries_then_succeeds(stripe_keys, packs, plans, eager_celery):
    client = Client()
    owner, account = monthly_pro(client, stripe_keys)
    stripe_keys.failures.extend([500, 500, 500])  # one task attempt (the client retries twice)
    before = len(stripe_keys.requests)

    cancel_monthly(owner, 1)

    assert stripe_quantity(stripe_keys, account) == 2
    reads = [p for m, p, _, _ in stripe_keys.requests[before:] if m == "GET"]
    assert len(reads) == 4  # 3 failed (first attempt), then the retry's read
    assert len(quantity_writes(stripe_keys)) == 1
    assert not ReconciliationIncident.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_retries_run_out_an_incident_is_opened(stripe_keys, packs, plans, eager_celery, monkeypatch, mailoutbox,
                                                settings):
    from billing import tasks

    settings.ADMINS = [("Ops", "ops@example.com")]

    client = Client()
    owner, account = monthly_pro(client, stripe_keys)
    monkeypatch.setattr(tasks.sync_pro_seat_quantity, "max_retries", 1)
    stripe_keys.failures.extend([503] * 6)  # two task attempts, all unreachable

    cancel_monthly(owner, 1)

    assert stripe_quantity(stripe_keys, account) == 3
    incident = ReconciliationIncident.objects.get()
    assert (incident.code, incident.subject, incident.status) == (
        "seat_quantity_sync_failed", f"pro_account:{account.pk}", IncidentStatus.OPEN)
    assert incident.detail["reason"] == "stripe_unavailable"
    assert any("seat quantity" in mail.subject for mail in mailoutbox)
    # The daily reconciliation also sees the quantity Stripe still bills.
    report = payments_reconcile()
    assert [(x.code, x.detail["stripe_quantity"], x.detail["billable_monthly_seats"])
            for x in report.findings] == [("seat_quantity_mismatch", 3, 2)]


@pytest.mark.django_db(transaction=True)
def test_without_stripe_keys_the_failure_is_recorded(settings, packs, plans, eager_celery):
    settings.STRIPE_SECRET_KEY = ""
    owner = make_buyer()
    account = license_services.pro_account_open(owner=owner)
    license_services.license_purchase(pro_account=account, kind="monthly", quantity=2,
                                      event_time=account.created_at)
    license_services.pro_account_set_stripe_subscription(pro_account=account, stripe_subscription_id="sub_test_x")

    cancel_monthly(owner, 1)

    assert ReconciliationIncident.objects.get().detail["reason"] == "stripe_not_configured"


# --- reconciliation ------------------------------------------------------------------


def _account_with_known_quantity(quantity=2):
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


@pytest.mark.django_db
def test_reconciliation_finds_an_injected_quantity_mismatch(packs, plans):
    owner, account = _account_with_known_quantity(2)
    assert payments_reconcile().findings == []  # lifetime seats are not in the quantity

    ProAccount.objects.filter(pk=account.pk).update(stripe_seat_quantity=5)
    report = payments_reconcile()

    [finding] = report.findings
    assert finding.code == "seat_quantity_mismatch" and finding.subject == f"pro_account:{account.pk}"
    assert finding.detail["stripe_quantity"] == 5 and finding.detail["billable_monthly_seats"] == 2
    assert finding.detail["stripe_subscription_id"] == account.stripe_subscription_id
    incident = ReconciliationIncident.objects.get(code="seat_quantity_mismatch")
    assert incident.status == IncidentStatus.OPEN
    assert payments_reconcile().bumped == 1  # the next day: the same incident, bumped


@pytest.mark.django_db
def test_subscription_events_record_the_quantity_the_reconciliation_compares(client, webhook_secret, packs, plans):
    owner, account = _account_with_known_quantity(2)
    sub = f.subscription(subscription_id=account.stripe_subscription_id, quantity=4,
                         metadata={**f.phoenix_metadata(user=owner, kind="pro_seats", code="monthly")})
    later = int(account.created_at.timestamp()) + 60
    event = f.event("customer.subscription.updated", sub, created=later, previous_attributes={"items": {}})
    assert f.post_event(client, event).status_code == 200
    account.refresh_from_db()
    assert account.stripe_seat_quantity == 4
    # An older event delivered late does not move it back.
    old = f.event("customer.subscription.updated", {**sub, "items": f.subscription(quantity=2)["items"]},
                  created=later - 30, previous_attributes={"items": {}})
    assert f.post_event(client, old).status_code == 200
    account.refresh_from_db()
    assert account.stripe_seat_quantity == 4

    [finding] = payments_reconcile().findings
    assert finding.code == "seat_quantity_mismatch" and finding.detail["stripe_quantity"] == 4
