"""The big tables' changelists (phoenix.core.admin_scale): query count constant as data grows,
searches on an index, the count estimated above its threshold, deep pages bounded."""

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench.database import generate_ten_operation_wallets
from phoenix.accounts.models import User
from phoenix.core.admin_scale import EstimatedCountPaginator
from wallet.models import BalanceOperation, Hold, UsageEvent, Wallet

CHANGELISTS = ["wallet_balanceoperation", "wallet_hold", "wallet_usageevent", "wallet_wallet", "accounts_user",
               "billing_payment"]


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


def _urls() -> list[str]:
    urls = []
    for name in CHANGELISTS:
        base = reverse(f"admin:{name}_changelist")
        urls += [base, base + "?q=bench1@bench.invalid", base + "?q=12345", base + "?p=100000"]
    return urls


@pytest.mark.django_db
def test_changelist_query_count_constant_when_data_grows(admin_client):
    generate_ten_operation_wallets(5)
    small = {url: _queries(admin_client, url) for url in _urls()}
    generate_ten_operation_wallets(45)
    large = {url: _queries(admin_client, url) for url in _urls()}
    assert large == small


@pytest.mark.django_db
def test_email_search_on_operations_uses_indexes(rf):
    generate_ten_operation_wallets(20)
    email = Wallet.objects.select_related("user").order_by("id")[3].user.email
    model_admin = site._registry[BalanceOperation]
    for term in (email, email.upper()):
        queryset, _ = model_admin.get_search_results(rf.get("/"), BalanceOperation.objects.all(), term)
        assert queryset.count() == 10
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for model, term in ((BalanceOperation, email), (BalanceOperation, "77"), (Hold, email), (UsageEvent, email),
                            (Wallet, email), (User, email), (User, str(User.objects.first().public_id)),
                            (Hold, str(Hold.objects.first().pk)), (UsageEvent, "77")):
            queryset, _ = site._registry[model].get_search_results(rf.get("/"), model.objects.all(), term)
            sql, params = queryset.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan" not in plan, (model.__name__, plan)
            # and never a whole-index scan of a composite index whose first column is not the key
            assert "unique_wallet_idempotency_key" not in plan and "unique_user_key" not in plan, plan


@pytest.mark.django_db
def test_search_never_scans_text_with_icontains(rf):
    generate_ten_operation_wallets(2)
    queryset, _ = site._registry[BalanceOperation].get_search_results(
        rf.get("/"), BalanceOperation.objects.all(), "bench")
    assert "LIKE" not in str(queryset.query)
    assert queryset.count() == 0  # "bench" is no reference: nothing, rather than a substring scan


@pytest.mark.django_db
def test_paginator_exact_below_threshold_estimate_above():
    generate_ten_operation_wallets(60)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE wallet_balanceoperation")
    queryset = BalanceOperation.objects.order_by("-id")
    exact = EstimatedCountPaginator(queryset, 100)
    assert exact.count == 600 and not exact.estimated
    estimating = EstimatedCountPaginator(queryset, 100)
    estimating.exact_up_to = 50
    with CaptureQueriesContext(connection) as ctx:
        count = estimating.count
    assert estimating.estimated
    assert any(q["sql"].startswith("EXPLAIN") for q in ctx.captured_queries)
    assert 300 <= count <= 1200  # the planner's figure, not an exact count


@pytest.mark.django_db
def test_deep_page_is_bounded(admin_client):
    generate_ten_operation_wallets(30)
    paginator = EstimatedCountPaginator(BalanceOperation.objects.order_by("-id"), 10)
    paginator.max_pages = 5
    assert paginator.num_pages == 5
    assert paginator.validate_number(10**9) == 5
    assert paginator.page(10**9).number == 5
    response = admin_client.get(reverse("admin:wallet_balanceoperation_changelist") + "?p=999999")
    assert response.status_code == 200
    # the last allowed page (300 rows, 100 a page): the oldest operations
    assert response.context["cl"].paginator.num_pages == 3
