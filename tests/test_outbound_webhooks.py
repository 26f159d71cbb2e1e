"""Outbound webhooks end to end (whole-site: every app's call sites emit): a loopback
receiver verifies every delivery with the standardwebhooks library; retries with time
advanced (time-machine), never slept."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from billing.services import payments as payment_services
from billing.tests.factories import PaymentFactory
from licenses import services as license_services
from licenses.models import License
from licenses.tests.factories import linked_collaborator, pro_account_with_seats
from phoenix.accounts.tests.factories import UserFactory
from phoenix.outbound.catalogue import EVENT_TYPES
from phoenix.outbound.models import Delivery, DeliveryAttempt, DeliveryStatus, DisabledReason, Endpoint, Event
from phoenix.outbound.outbox import emit
from phoenix.outbound.selectors import outbound_summary
from phoenix.outbound.services.delivery import RETRY_DELAYS_S, deliveries_dispatch, delivery_payload
from phoenix.outbound.services.endpoints import endpoint_create, endpoint_disable, endpoint_secret_rotate
from phoenix.outbound.tests.conftest import deliver_due
from phoenix.outbound.tests.receiver import Receiver, endpoint_for
from subscriptions.services import access_grant_lifetime
from wallet import services as wallet_services
from wallet.errors import SpendVelocityExceeded
from wallet.models import EnergyLot, Incident, OperationSource, SpendVelocityOverride
from wallet.services.energy import energy_consume
from wallet.services.lots import LotGrant

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def endpoint(db, receiver):
    return endpoint_for(receiver)


def _credit(user, amount):
    return wallet_services.wallet_credit(user=user, amount=amount, source=OperationSource.ADMIN, reason="grant")


def _debit(user, amount):
    return wallet_services.wallet_debit(user=user, amount=amount, source=OperationSource.API, reason="use")


def test_a_consume_crossing_the_threshold_delivers_exactly_one_balance_low(receiver, endpoint, settings):
    settings.WEBHOOK_BALANCE_LOW_DEFAULT = 20
    user = UserFactory()
    _credit(user, 50)
    energy_consume(user=user, action_code="format_lettre")  # 50 -> 42: above
    _debit(user, 20)  # 42 -> 22: above
    energy_consume(user=user, action_code="format_lettre")  # 22 -> 14: crosses
    energy_consume(user=user, action_code="verification_format")  # 14 -> 11: below already
    deliver_due()
    assert receiver.refused == []
    lows = receiver.of_type("wallet.balance_low")
    assert [low["data"] for low in lows] == [{
        "user_id": user.pk, "operation_id": lows[0]["data"]["operation_id"], "available_before": 22,
        "available_after": 14, "threshold": 20}]
    assert lows[0]["subject"] == f"user:{user.pk}"
    # re-arms when available rises above it: the next crossing fires again
    _credit(user, 30)  # 11 -> 41
    _debit(user, 25)  # 41 -> 16
    deliver_due()
    assert [low["data"]["available_after"] for low in receiver.of_type("wallet.balance_low")] == [14, 16]


def test_each_endpoint_has_its_own_threshold(receiver, endpoint):
    other = Receiver().start()
    try:
        second = endpoint_create(url=other.url, event_types=["wallet.balance_low"], balance_low_threshold=40)
        other.secret = second.secret
        user = UserFactory()
        _credit(user, 50)
        _debit(user, 15)  # 50 -> 35: crosses 40 only
        deliver_due()
        assert [p["data"]["threshold"] for p in other.of_type("wallet.balance_low")] == [40]
        assert receiver.of_type("wallet.balance_low") == []
    finally:
        other.stop()


def test_depleted_when_available_reaches_zero(receiver, endpoint):
    user = UserFactory()
    _credit(user, 10)
    _debit(user, 10)
    deliver_due()
    (depleted,) = receiver.of_type("wallet.depleted")
    assert depleted["data"]["available_before"] == 10 and depleted["data"]["user_id"] == user.pk


def test_sequence_numbers_increase_per_subject(receiver, endpoint):
    user = UserFactory()
    for amount in (5, 6, 7):
        _credit(user, amount)
    deliver_due()
    credited = sorted(receiver.of_type("wallet.credited"), key=lambda p: p["sequence"])
    assert [p["sequence"] for p in credited] == [1, 2, 3]
    assert [p["data"]["amount"] for p in credited] == [5, 6, 7]
    assert credited[0]["data"]["source"] == "admin" and credited[2]["data"]["available"] == 18


def test_purchase_and_refund_deliver_their_events(receiver, endpoint):
    buyer = UserFactory()
    payment = PaymentFactory(user=buyer)
    payment_services.payment_succeed(payment_id=payment.pk)
    _debit(buyer, 100)  # most of it spent: the refund cannot claw all back
    payment_services.payment_reverse(payment_id=payment.pk, kind="refund", stripe_object_id="ch_1",
                                     amount_refunded_cents=299, fully_refunded=True)
    deliver_due()
    assert receiver.refused == []
    (succeeded,) = receiver.of_type("payment.succeeded")
    assert succeeded["data"] == {"user_id": buyer.pk, "payment_id": str(payment.public_id),
                                 "product_kind": "energy_pack", "product_code": "cafe_luna", "amount_cents": 299,
                                 "currency": "eur", "fulfilled_quantity": 110}
    (refunded,) = receiver.of_type("payment.refunded")
    assert refunded["data"] == {"user_id": buyer.pk, "payment_id": str(payment.public_id), "reversal_kind": "refund",
                                "amount_cents": 299, "amount_refunded_cents": 299, "requested": 110,
                                "recovered": 10, "shortfall": 100}
    assert [c["data"]["amount"] for c in receiver.of_type("wallet.credited")] == [110]


def test_an_access_change_delivers_from_and_to(receiver, endpoint):
    user = UserFactory()
    access_grant_lifetime(user=user, event_time=timezone.now(), reference="gift")
    deliver_due()
    (changed,) = receiver.of_type("access.changed")
    assert changed["data"] == {"user_id": user.pk, "kind": "lifetime_granted",
                               "from": {"type": "EXPIRED", "premium": False, "unlimited": False},
                               "to": {"type": "LIFETIME", "premium": True, "unlimited": True}}


def test_a_license_change_delivers_its_event(receiver, endpoint):
    now = timezone.now()
    account = pro_account_with_seats(now=now, monthly=1)
    collaborator = linked_collaborator(account, now=now)
    lic = License.objects.filter(pro_account=account, status="available").first()
    Delivery.objects.all().delete()  # the account's opening events are not what this test is about
    license_services.license_assign(license=lic, collaborator=collaborator, now=now)
    deliver_due()
    (changed,) = receiver.of_type("license.changed")
    assert changed["subject"] == f"pro_account:{account.public_id}"
    assert changed["data"] == {"pro_account_id": str(account.public_id), "license_id": str(lic.public_id),
                               "kind": "license_assigned", "license_kind": "monthly", "from_status": "available",
                               "to_status": "active", "assignee_user_id": collaborator.pk}
    access = receiver.of_type("access.changed")
    assert [a["data"]["to"]["type"] for a in access] == ["LICENSED"]


def test_a_pro_account_change_delivers_its_event(receiver, endpoint):
    now = timezone.now()
    pro_account_with_seats(now=now)
    deliver_due()
    kinds = [p["data"]["kind"] for p in receiver.of_type("pro_account.changed")]
    assert kinds[0] == "account_opened"


def test_a_rolled_back_transaction_delivers_nothing(receiver, endpoint):
    user = UserFactory()

    @transaction.atomic
    def credit_then_fail():
        _credit(user, 10)
        raise RuntimeError("the request failed after the credit")

    with pytest.raises(RuntimeError):
        credit_then_fail()
    assert deliver_due() == []
    assert Event.objects.count() == 0 and receiver.requests_seen == 0


def test_500_twice_then_200_delivers_on_the_third_attempt_time_advanced(receiver, endpoint):
    receiver.answers = [500, 500]
    user = UserFactory()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _credit(user, 10)
        deliver_due()
        deliver_due()  # not due yet: nothing
        delivery = Delivery.objects.get()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
        clock.shift(timedelta(seconds=RETRY_DELAYS_S[0] * 1.21))
        deliver_due()
        clock.shift(timedelta(seconds=RETRY_DELAYS_S[1] * 1.21))
        deliver_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert [a.status_code for a in DeliveryAttempt.objects.order_by("number")] == [500, 500, 200]
    assert all(a.response_body for a in DeliveryAttempt.objects.all())
    assert len(receiver.of_type("wallet.credited")) == 1


def test_retries_exhausted_mark_the_delivery_failed_and_the_operator_can_requeue(receiver, endpoint):
    receiver.answers = [503] * 20
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _credit(UserFactory(), 10)
        for delay in (0, *RETRY_DELAYS_S):
            clock.shift(timedelta(seconds=delay * 1.21))
            deliver_due()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, len(RETRY_DELAYS_S) + 1)
    span = DeliveryAttempt.objects.order_by("number").last().started_at - delivery.created_at
    assert timedelta(days=2) < span < timedelta(days=4)  # "about three days"


def test_a_disabled_endpoint_receives_nothing(receiver, endpoint):
    endpoint_disable(endpoint=endpoint)
    _credit(UserFactory(), 10)
    assert deliver_due() == [] and receiver.requests_seen == 0


def test_410_disables_the_endpoint(receiver, endpoint):
    receiver.answers = [410]
    _credit(UserFactory(), 10)
    deliver_due()
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason == DisabledReason.GONE
    _credit(UserFactory(), 10)
    deliver_due()
    assert receiver.requests_seen == 1
    assert [e.pk for e in outbound_summary(now=timezone.now())["incidents"]] == [endpoint.pk]


def test_an_endpoint_failing_for_days_is_disabled_with_an_incident(receiver, endpoint, settings):
    settings.WEBHOOK_DISABLE_AFTER_DAYS = 5
    receiver.answers = [500] * 50
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _credit(UserFactory(), 10)
        deliver_due()
        clock.shift(timedelta(days=4))
        deliver_due()
        endpoint.refresh_from_db()
        assert endpoint.enabled and endpoint.failing_since is not None
        assert [e.pk for e in outbound_summary(now=timezone.now())["failing_endpoints"]] == [endpoint.pk]
        clock.shift(timedelta(days=1, seconds=1))
        report = deliveries_dispatch()
    assert report.disabled_endpoints == [endpoint.pk]
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason == DisabledReason.FAILING
    assert [e.pk for e in outbound_summary(now=timezone.now())["incidents"]] == [endpoint.pk]


def test_a_success_clears_the_failing_clock(receiver, endpoint):
    receiver.answers = [500]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _credit(UserFactory(), 10)
        deliver_due()
        clock.shift(timedelta(seconds=RETRY_DELAYS_S[0] * 1.21))
        deliver_due()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_secret_rotation_signs_with_both_during_the_overlap(receiver, endpoint):
    old_secret = endpoint.secret
    with time_machine.travel(timezone.now(), tick=False) as clock:
        rotated = endpoint_secret_rotate(endpoint=endpoint, overlap=timedelta(hours=1))
        receiver.secret = rotated.secret
        _credit(UserFactory(), 10)
        deliver_due()
        (got,) = receiver.received
        body = delivery_payload(Delivery.objects.select_related("event", "endpoint").get())
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        Webhook(old_secret).verify(body, got.headers)  # a receiver not switched yet still verifies
        clock.shift(timedelta(hours=1, seconds=1))
        _credit(UserFactory(), 10)
        deliver_due()
    latest = receiver.received[-1]
    assert len(latest.headers["webhook-signature"].split(" ")) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(delivery_payload(
            Delivery.objects.select_related("event", "endpoint").get(event_id=latest.webhook_id)), latest.headers)
    assert receiver.refused == []


def test_no_endpoint_no_event_and_one_statement(django_assert_num_queries):
    with transaction.atomic(), django_assert_num_queries(1):
        assert emit(type="wallet.credited", subject="user:1", body={"user_id": 1}) == []
    assert Event.objects.count() == 0


def test_emit_with_endpoints_is_still_one_statement(endpoint, django_assert_num_queries):
    endpoint_create(url="https://93.184.216.34/hook", event_types=["wallet.credited"])
    with transaction.atomic(), django_assert_num_queries(1):
        ids = emit(type="wallet.credited", subject="user:1", body={"user_id": 1})
    assert len(ids) == 2
    event = Event.objects.get()
    assert (event.sequence, set(Delivery.objects.values_list("endpoint_id", flat=True))) == (
        1, set(Endpoint.objects.values_list("pk", flat=True)))


@pytest.mark.django_db(transaction=True)
def test_emit_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError):
        emit(type="wallet.credited", subject="user:1", body={})


def test_a_consume_adds_one_emit_statement_with_or_without_a_subscriber(receiver):
    user = UserFactory()
    _credit(user, 100)

    def emit_statements():
        with CaptureQueriesContext(connection) as queries:
            energy_consume(user=user, action_code="format_lettre")
        return sum("outbound_subjectsequence" in q["sql"] for q in queries.captured_queries)

    assert emit_statements() == 1
    endpoint_for(receiver)
    assert emit_statements() == 1  # 92 -> 84 crosses no threshold: the same statement writes nothing
    assert Event.objects.count() == 0


def test_the_readme_documents_every_event_type_and_field():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Outbound webhooks"):readme.index("## Operating the admin")]
    for event in EVENT_TYPES.values():
        (row,) = [line for line in section.splitlines() if line.startswith(f"| `{event.name}` |")]
        for name in event.fields:
            assert f"`{name}`" in row, (event.name, name)


def test_the_dashboard_panel_shows_deliveries_failing_endpoints_and_the_oldest_undelivered(
        finance_client, receiver, endpoint):
    receiver.answers = [200, 500]  # the later attempt fails: the endpoint is failing since then
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _credit(UserFactory(), 10)
        _credit(UserFactory(), 10)
        deliver_due()
        clock.shift(timedelta(minutes=3))
        page = finance_client.get("/admin/").content.decode()
    assert 'data-stat="webhooks-delivered-24h">1<' in page
    assert 'data-stat="webhooks-failed-attempts-24h">1<' in page
    assert 'data-stat="webhooks-failing-endpoints">1<' in page
    assert 'data-stat="webhooks-oldest-undelivered">180 s · 1 pending<' in page
    endpoint_disable(endpoint=endpoint, reason=DisabledReason.FAILING)
    assert 'data-incident="failing"' in finance_client.get("/admin/").content.decode()


def test_an_expired_hold_delivers_hold_expired(receiver, endpoint):
    user = UserFactory()
    _credit(user, 50)
    hold = wallet_services.wallet_freeze(user=user, amount=15, action_code="lettre_motivation", ttl_seconds=60)
    wallet_services.hold_expire(hold_id=hold.pk, now=timezone.now() + timedelta(seconds=61))
    deliver_due()
    (expired,) = receiver.of_type("hold.expired")
    assert expired["data"] == {"user_id": user.pk, "hold_id": str(hold.pk), "amount": 15,
                               "action_code": "lettre_motivation", "available": 50}


def test_an_expired_lot_delivers_lot_expired(receiver, endpoint):
    user = UserFactory()
    soon = timezone.now() + timedelta(days=1)
    credit = wallet_services.wallet_credit(
        user=user, amount=40, source=OperationSource.ADMIN, reason="promo",
        lots=[LotGrant(amount=40, category="promotional", expires_at=soon)])
    report = wallet_services.wallet_lots_expire(now=soon + timedelta(minutes=1))
    assert len(report.expired) == 1
    deliver_due()
    (expired,) = receiver.of_type("wallet.lot_expired")
    lot = EnergyLot.objects.get(operation=credit)
    balance = credit.balance_after - 40
    assert expired["data"] == {
        "user_id": user.pk, "operation_id": expired["data"]["operation_id"], "lot_id": lot.pk,
        "category": "promotional", "amount": 40, "expired_at": soon.isoformat(),
        "balance": balance, "available": balance}
    assert wallet_services.wallet_lots_expire(now=soon + timedelta(minutes=2)).expired == []


def test_a_tripped_spend_breaker_delivers_one_event_per_trip(receiver, endpoint):
    user = UserFactory()
    _credit(user, 200)
    SpendVelocityOverride.objects.create(user=user, max_energy=30)
    energy_consume(user=user, action_code="lettre_motivation")  # 15
    energy_consume(user=user, action_code="lettre_motivation")  # 30: the limit
    for _ in range(3):  # refused three times: one trip, one incident, one event
        with pytest.raises(SpendVelocityExceeded):
            energy_consume(user=user, action_code="lettre_motivation")
    deliver_due()
    (tripped,) = receiver.of_type("wallet.spend_velocity_exceeded")
    incident = Incident.objects.get(wallet__user=user, code="spend_velocity_exceeded")
    assert incident.times_seen == 3
    assert tripped["data"] == {"user_id": user.pk, "incident_id": incident.pk,
                               "limit": tripped["data"]["limit"], "retry_after": tripped["data"]["retry_after"]}
    assert "30" in tripped["data"]["limit"] and 0 < tripped["data"]["retry_after"] <= 3600
