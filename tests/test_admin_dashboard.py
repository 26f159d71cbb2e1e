"""The admin index is the monitoring dashboard: its numbers match the data, and its cost
(queries) does not grow with the data."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import Payment
from billing.services.payments import payment_succeed
from billing.stripe_payloads import stripe_id
from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import UserFactory
from phoenix.core import roles
from tests.dashboard_data import dashboard_data_create
from wallet import services as wallet_services
from wallet.models import BalanceOperation, EnergyAction

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def panels(response) -> dict:
    return {panel["key"]: panel["data"] for panel in response.context["dashboard_panels"]}


def test_dashboard_numbers_match_the_data(superuser_client, dashboard_data):

    response = superuser_client.get("/admin/")
    assert response.status_code == 200
    data = panels(response)
    assert list(data) == ["platform", "wallet-health", "incidents", "energy", "energy-lots", "money", "access", "pro",
                          "webhooks-out"]

    health = data["wallet-health"]
    # The drifted balance disagrees with its ledger and with its energy lots: two CRITICALs.
    assert (health["open_critical"], health["open_warning"], health["status"]) == (2, 0, "critical")
    assert health["last_run"].outcome == "critical"
    assert (health["last_run_critical"], health["last_run_warning"]) == (2, 1)  # the WARNING was corrected

    energy = data["energy"]
    assert dashboard_data.consumed == 75 - 15  # the refunded consume is netted out
    assert energy["consumed"] == {"today": 60, "week": 60, "month": 60, "refunded_week": 15}
    chart = energy["consumption_chart"]
    labels = dict(EnergyAction.objects.values_list("code", "label"))  # names on the chart, not codes
    assert dict(zip(chart["labels"], chart["datasets"][0]["data"], strict=True)) == {
        labels[code]: points for code, points in dashboard_data.consumed_by_action.items()}
    assert (chart["title"], chart["unit"], chart["empty"]) == (
        "Energy consumed by action, last 30 days (net of refunds)", "energy points", False)
    assert energy["operations_48h"] == BalanceOperation.objects.count()
    ops_chart = energy["ops_chart"]
    assert len(ops_chart["labels"]) == 48
    assert sum(sum(ds["data"]) for ds in ops_chart["datasets"]) == BalanceOperation.objects.count()

    money = data["money"]
    assert (money["packs_sold"], money["packs_revenue_cents"]) == (3, dashboard_data.packs_revenue_cents)
    assert dashboard_data.packs_revenue_cents == 299 + 999  # the refunded pack kept nothing
    revenue_chart = money["revenue_chart"]
    assert sorted(revenue_chart["labels"]) == ["cafe_luna (EUR)", "petit_dej_luna (EUR)", "repas_luna (EUR)"]
    assert sum(revenue_chart["datasets"][0]["data"]) == pytest.approx(12.98)

    incidents = data["incidents"]
    assert (incidents["wallet_critical"], incidents["reconciliation_open"], incidents["shortfalls_open"],
            incidents["webhooks_failed"]) == (2, 1, 1, 1)
    assert incidents["total_open"] == 4

    assert data["access"]["by_type"] == {"TRIAL": 3, "PREMIUM": 0, "LIFETIME": 0, "LICENSED": 1, "EXPIRED": 0}
    pro = data["pro"]
    assert pro["accounts"] == {"trial": 0, "active": 1, "expired": 0, "suspended": 0}
    by_status = {row["status"]: (row["monthly"], row["lifetime"]) for row in pro["licenses"]}
    assert by_status["active"] == (1, 0) and by_status["available"] == (1, 0)

    html = response.content.decode()
    for stat, value in (("open-critical", "2"), ("consumed-today", "60"), ("packs-sold", "3"),
                        ("webhooks-failed", "1"), ("access-trial", "3"), ("pro-active", "1")):
        assert f'data-stat="{stat}">{value}<' in html, stat
    for chart_id in ("balance-ops-per-hour", "consumption-by-action", "revenue-by-pack", "access-types"):
        assert f'data-phoenix-chart="chart-data-{chart_id}"' in html


def test_sales_older_than_30_days_are_not_counted(superuser_client, db):


    buyer = user_register(email="old@example.com", password="a-Long-test-passphrase-42")[0]
    for days_ago in (40, 2):
        payment = Payment.objects.create(user=buyer, flow="payment_intent", product_kind="energy_pack",
                                         product_code="cafe_luna", amount_cents=299, currency="eur",
                                         stripe_payment_intent_id=stripe_id("pi"))
        with transaction.atomic():
            payment_succeed(payment_id=payment.pk, now=timezone.now() - timedelta(days=days_ago))
    money = panels(superuser_client.get("/admin/"))["money"]
    assert (money["packs_sold"], money["packs_revenue_cents"]) == (1, 299)


def test_empty_dashboard_renders(superuser_client):
    response = superuser_client.get("/admin/")
    assert response.status_code == 200
    data = panels(response)
    assert data["wallet-health"]["status"] == "unknown" and data["wallet-health"]["last_run"] is None
    assert data["energy"]["consumed"]["today"] == 0 and data["money"]["packs_sold"] == 0
    # Each empty chart says so instead of drawing blank axes.
    html = response.content.decode()
    assert 'data-alerts="nobody"' in html  # ADMINS empty here: the panel says nobody is alerted
    for chart_id, text in (("balance-ops-per-hour", "No balance operation in the last 48 hours."),
                           ("consumption-by-action", "No energy consumed in the last 30 days."),
                           ("revenue-by-pack", "No pack sold in this range.")):
        assert f'data-chart-empty="{chart_id}">{text}</p>' in html, chart_id
        assert f'id="chart-{chart_id}"' not in html


def _dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/admin/").status_code == 200
    return len(captured)


def test_dashboard_query_count_does_not_grow_with_the_data(superuser_client):

    data = dashboard_data_create(scale=1)
    wallet_services.wallet_health_run()
    _dashboard_queries(superuser_client)  # warm: session, content types
    small = _dashboard_queries(superuser_client)

    dashboard_data_create(scale=4, data=data)
    wallet_services.wallet_health_run()
    large = _dashboard_queries(superuser_client)
    assert large == small, f"{small} queries with 1x data, {large} with 5x"
    # 44 today: session, panels (lots and outbound webhooks included; the money figures are 13,
    # billing.money), app list
    assert small <= 46, small


def test_dashboard_offers_the_health_run_only_to_a_role_that_may(client, dashboard_data):


    run_url = reverse("admin:wallet_incident_operator_health-run")
    for role, offered in ((roles.SUPPORT, False), (roles.FINANCE, True)):
        user = UserFactory(is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        response = client.get("/admin/")
        assert response.status_code == 200
        assert (run_url in response.content.decode()) is offered, role


def test_stuck_holds_are_counted_and_listed(superuser_client, db):

    user = user_register(email="stuck@example.com", password="a-Long-test-passphrase-42")[0]
    stuck = wallet_services.wallet_freeze(user=user, amount=10, action_code="mirror_match", ttl_seconds=300)
    wallet_services.wallet_freeze(user=user, amount=5, action_code="conseil_rapide", ttl_seconds=300)
    with connection.cursor() as cursor:  # the expiry job did not run for an hour
        cursor.execute("UPDATE wallet_hold SET created_at = now() - interval '2 hours', "
                       "expires_at = now() - interval '1 hour' WHERE id = %s", [stuck.pk])
    assert panels(superuser_client.get("/admin/"))["wallet-health"]["holds_stuck"] == 1
    listed = superuser_client.get("/admin/wallet/hold/", {"stuck": "yes"}).context["cl"].result_list
    assert [hold.pk for hold in listed] == [stuck.pk]
