"""Jobs and tasks: the daily reconciliation, the seat-quantity sync and license cancellation
tasks, the demo commands."""

from __future__ import annotations

from importlib import import_module
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import Client
from django_celery_beat.models import PeriodicTask

from billing import tasks
from billing.models import (
    IncidentStatus,
    Payment,
    PaymentStatus,
    ReconciliationIncident,
    WebhookEvent,
)
from billing.services.reconciliation import payments_reconcile
from billing.tasks import reconcile_payments
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.helpers import (
    account_with_known_quantity,
    balance,
    buy_seats,
    cancel_monthly,
    codes,
    credits_for,
    f_token,
    grouped_date,
    monthly_pro,
    premium_collaborator_and_pool,
    quantity_writes,
    seats,
    stripe_quantity,
    succeeded_payment,
)
from licenses import services as license_services
from licenses.models import License, LicenseKind, LicenseStatus, PendingAssignment, ProAccount, ProAccountStatus
from licenses.selectors import billable_monthly_seat_count
from phoenix.accounts.models import User
from phoenix.core.demo import DEMO_EMAILS
from subscriptions.models import Access, AccessEvent, AccessType
from subscriptions.selectors import access_for_user, check_premium_access
from wallet.services import wallet_credit

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_demo_events_drive_the_whole_flow(live_server, webhook_secret, packs, capsys):
    user = make_buyer()

    call_command("stripe_demo_events", "--url", f"{live_server.url}/stripe/webhook/",
                 "--email", user.email)

    out = capsys.readouterr().out
    assert " 400 " not in out and "500" not in out.split("==")[0]
    statuses = dict(Payment.objects.values_list("stripe_checkout_session_id", "status"))
    assert sorted(statuses.values()) == [PaymentStatus.REFUNDED, PaymentStatus.SUCCEEDED,
                                         PaymentStatus.SUCCEEDED]
    assert balance(user) == 85 + 110  # bought three (bonus once), refunded one, disputed one
    assert WebhookEvent.objects.filter(status="ignored").count() == 1
    assert WebhookEvent.objects.filter(status="failed").count() == 0


def test_demo_events_need_a_secret(settings, db):
    settings.STRIPE_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="STRIPE_WEBHOOK_SECRET"):
        call_command("stripe_demo_events")


@pytest.mark.django_db(transaction=True)
def test_premium_collaborator_assignment_end_to_end_through_stripe(stripe_keys, packs, plans, eager_celery):
    client = Client()
    collaborator, owner, lic, sub = premium_collaborator_and_pool(client, stripe_keys)

    response = f_token(owner).post(f"/pro/licenses/{lic.public_id}/assign",
                                   {"user_id": str(collaborator.public_id)}, format="json")

    assert response.status_code == 202, response.content
    assert response.json()["outcome"] == "needs_cancel_existing"
    # After commit, billing canceled the personal subscription at Stripe (Celery task)...
    assert stripe_keys.subscriptions[sub["id"]]["status"] == "canceled"
    assert ("DELETE", f"/v1/subscriptions/{sub['id']}") in [(m, p) for m, p, _, _ in stripe_keys.requests]
    # ...but nothing changes until Stripe confirms it with the webhook.
    assert Access.objects.get(user=collaborator).type == AccessType.PREMIUM
    assert PendingAssignment.objects.filter(collaborator=collaborator).exists()
    lic.refresh_from_db()
    assert lic.status == LicenseStatus.AVAILABLE

    deleted = f.event("customer.subscription.deleted", stripe_keys.subscriptions[sub["id"]])
    assert f.post_event(client, deleted).status_code == 200

    access = Access.objects.get(user=collaborator)
    assert access.type == AccessType.LICENSED and access.license_status == "active"
    lic.refresh_from_db()
    assert lic.status == LicenseStatus.ACTIVE and lic.assignee == collaborator
    assert not PendingAssignment.objects.exists()
    assert check_premium_access(collaborator)
    # Delivered again: nothing twice.
    assert f.post_event(client, deleted).status_code == 200
    assert lic.pro_account.events.filter(kind="license_assigned").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_stripe_outage_is_retried_then_the_cancellation_goes_through(stripe_keys, packs, plans, eager_celery):
    client = Client()
    collaborator, owner, lic, sub = premium_collaborator_and_pool(client, stripe_keys)
    stripe_keys.failures.extend([500, 500, 500])  # one task attempt (the client retries twice)

    response = f_token(owner).post(f"/pro/licenses/{lic.public_id}/assign",
                                   {"user_id": str(collaborator.public_id)}, format="json")

    assert response.status_code == 202
    assert stripe_keys.subscriptions[sub["id"]]["status"] == "canceled"
    assert PendingAssignment.objects.filter(collaborator=collaborator).exists()


@pytest.mark.django_db(transaction=True)
def test_stripe_refusing_the_cancellation_aborts_the_assignment(stripe_keys, packs, plans, eager_celery):
    client = Client()
    collaborator, owner, lic, sub = premium_collaborator_and_pool(client, stripe_keys)
    del stripe_keys.subscriptions[sub["id"]]  # Stripe no longer knows it: a refused request

    response = f_token(owner).post(f"/pro/licenses/{lic.public_id}/assign",
                                   {"user_id": str(collaborator.public_id)}, format="json")

    assert response.status_code == 202
    assert not PendingAssignment.objects.exists()
    lic.refresh_from_db()
    assert lic.status == LicenseStatus.AVAILABLE and lic.assignee is None
    assert Access.objects.get(user=collaborator).type == AccessType.PREMIUM
    assert lic.pro_account.events.filter(kind="assignment_aborted").exists()


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
    steps = license_services.grouped_billing_run(now=at).steps
    assert [s.action for s in steps].count("delete_license") == 2
    assert license_services.grouped_billing_run(now=at).steps == []  # the job runs again: nothing

    assert seats(owner).count() == 1
    assert stripe_quantity(stripe_keys, account) == 1
    assert len(quantity_writes(stripe_keys)) == 2  # once per cancellation, none at the date
    assert not ReconciliationIncident.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_grouped_date_deleting_canceled_seats_lowers_a_quantity_still_too_high(
        stripe_keys, packs, plans, eager_celery, monkeypatch):
    """The notice at cancel time was lost (before this fix, or a broker outage): the grouped
    date processing lowers the quantity, exactly once even if the job runs twice."""

    client = Client()
    owner, account = monthly_pro(client, stripe_keys)
    with monkeypatch.context() as m:
        m.setattr(tasks.sync_pro_seat_quantity, "delay_on_commit", lambda **kw: None)
        cancel_monthly(owner, 2)
    assert stripe_quantity(stripe_keys, account) == 3 and quantity_writes(stripe_keys) == []

    at = grouped_date(account)
    first = license_services.grouped_billing_run(now=at).steps
    second = license_services.grouped_billing_run(now=at).steps

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
    steps = license_services.grouped_billing_run(now=at).steps

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


@pytest.mark.django_db
def test_reconciliation_finds_an_injected_quantity_mismatch(packs, plans):
    owner, account = account_with_known_quantity(2)
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
    owner, account = account_with_known_quantity(2)
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


def test_clean_books_have_no_incidents(buyer):
    succeeded_payment(buyer)
    f.PaymentFactory(user=buyer)  # pending: nothing expected
    report = payments_reconcile()
    assert report.ran and report.findings == [] and not ReconciliationIncident.objects.exists()


def test_payment_without_credit(buyer):
    payment = f.PaymentFactory(user=buyer)
    Payment.objects.filter(pk=payment.pk).update(status="succeeded", fulfilled_quantity=110)

    payments_reconcile()

    assert codes() == {("payment_without_credit", f"payment:{payment.pk}")}
    assert ReconciliationIncident.objects.get().payment == payment


def test_credit_without_payment(buyer):
    pending = f.PaymentFactory(user=buyer)
    stray = wallet_credit(user=buyer, amount=100, source="stripe", reason="x",
                          reference=f"payment:{pending.pk}", idempotency_key="stray-1")
    orphan = wallet_credit(user=buyer, amount=50, source="stripe", reason="x", reference="")

    payments_reconcile()

    assert codes() == {("credit_without_payment", f"operation:{stray.pk}"),
                        ("credit_without_payment", f"operation:{orphan.pk}")}


def test_duplicate_credit(buyer):
    payment = succeeded_payment(buyer)
    wallet_credit(user=buyer, amount=110, source="stripe", reason="again",
                  reference=f"payment:{payment.pk}", idempotency_key="dup-1")

    payments_reconcile()

    assert codes() == {("duplicate_credit", f"payment:{payment.pk}")}
    assert len(ReconciliationIncident.objects.get().detail["operation_ids"]) == 2


def test_credit_amount_mismatch(buyer):
    payment = succeeded_payment(buyer)
    Payment.objects.filter(pk=payment.pk).update(fulfilled_quantity=100)

    payments_reconcile()

    [incident] = ReconciliationIncident.objects.all()
    assert (incident.code, incident.detail["credited"], incident.detail["expected"]) == (
        "credit_amount_mismatch", 110, 100)
    assert len(credits_for(payment)) == 1


def test_reconciliation_bumps_open_incidents_and_dry_run_writes_nothing(buyer, capsys):
    payment = f.PaymentFactory(user=buyer)
    Payment.objects.filter(pk=payment.pk).update(status="succeeded")

    call_command("billing_reconcile", "--dry-run")
    assert not ReconciliationIncident.objects.exists()
    assert "payment_without_credit" in capsys.readouterr().out

    call_command("billing_reconcile", "--now", "2026-01-02T03:17:00Z")
    call_command("billing_reconcile")
    incident = ReconciliationIncident.objects.get()
    assert incident.times_seen == 2
    assert incident.detected_at.isoformat().startswith("2026-01-02T03:17")


def test_reconcile_task_runs_the_service(buyer):
    payment = f.PaymentFactory(user=buyer)
    Payment.objects.filter(pk=payment.pk).update(status="succeeded")
    assert reconcile_payments.apply().get() == {"job": "billing.reconcile_payments", "skipped_locked": False,
                                                "dry_run": False, "findings": 1, "opened": 1, "bumped": 0}


def test_reconciliation_is_scheduled_daily():
    # Re-run the migration's function: a transactional test may have flushed its row.
    import_module("billing.migrations.0002_payment_guard_schedule").schedules_create(apps, None)
    task = PeriodicTask.objects.get(task="billing.reconcile_payments")
    assert task.enabled and task.crontab is not None and task.crontab.hour == "3"


def test_seed_demo_gives_a_premium_user_and_a_pro_account_and_is_idempotent(plans):
    for _ in range(2):
        call_command("seed_demo", stdout=StringIO())

    ada, grace, linus = (User.objects.get(email=email) for email in DEMO_EMAILS)
    assert access_for_user(ada).type == AccessType.PREMIUM
    assert AccessEvent.objects.filter(access__user=ada, kind="premium_activated").count() == 1
    account = ProAccount.objects.get(owner=grace)
    assert account.status == ProAccountStatus.ACTIVE and account.billing_anchor_day is not None
    assert License.objects.filter(pro_account=account).count() == 4
    assert License.objects.get(assignee=linus).status == LicenseStatus.ACTIVE
    assert access_for_user(linus).type == AccessType.LICENSED and check_premium_access(linus)
