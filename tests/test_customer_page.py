"""The admin search box and the customer page (phoenix.core.customer and every app's section):
each id kind resolves to its user, every object's name says whose it is, the page's query
count does not grow with the data and its reads are index lookups, least privilege, and the
admin 403 / 404 inside the admin chrome."""

from __future__ import annotations

import itertools
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import Payment, PaymentReversal, ReconciliationIncident
from billing.services.customers import stripe_customer_ensure
from billing.services.payments import payment_reverse, payment_succeed
from billing.stripe_payloads import stripe_id
from billing.tests.stripe_server import SECRET_KEY, LocalStripe
from licenses import services as license_services
from licenses.models import License, Membership
from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from phoenix.core import customer as customer_registry
from phoenix.core import roles
from phoenix.core.models import AdminAction
from phoenix.outbound.models import Delivery
from phoenix.outbound.services.endpoints import endpoint_create
from subscriptions.models import Access, AccessEvent
from wallet import operator as wallet_operator
from wallet import services as wallet_services
from wallet.models import BalanceOperation, EnergyLot, Hold, Incident, UsageEvent
from wallet.services.energy import energy_consume
from wallet.tests.factories import wallet_balance_drift

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)
SECTIONS = ("identity", "access", "wallet", "holds", "operations", "payments", "pro", "usage", "incidents",
            "webhooks", "operator-actions")
# Tables the page reads; every query on them must be answerable from an index.
PHOENIX_TABLES = re.compile(r'"(wallet_|billing_|subscriptions_|licenses_|outbound_|core_adminaction|accounts_user)')


def staff_in(role: str):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def customer_with_history(n: int, *, actor=None):
    """A registered user with `n` of everything the page shows (through the services)."""
    i = next(_numbers)
    user, _ = user_register(email=f"ann{i}@example.com", password=DEFAULT_PASSWORD)
    now = timezone.now()
    for _ in range(n):
        wallet_services.wallet_credit(user=user, amount=20, source="admin", reason="funding")
        energy_consume(user=user, action_code="conseil_rapide")
        wallet_services.wallet_freeze(user=user, amount=5, action_code="mirror_match", ttl_seconds=300)
        payment = Payment.objects.create(user=user, flow="payment_intent", product_kind="energy_pack",
                                         product_code="cafe_luna", amount_cents=299, currency="eur",
                                         stripe_payment_intent_id=stripe_id("pi"))
        with transaction.atomic():
            payment_succeed(payment_id=payment.pk)
    with transaction.atomic():  # the last pack refunded at Stripe, and a reconciliation finding on it
        payment_reverse(payment_id=payment.pk, kind="refund", stripe_object_id=stripe_id("ch"),
                        amount_refunded_cents=299, fully_refunded=True)
    ReconciliationIncident.objects.create(code="payment_without_credit", subject=f"payment:{payment.pk}",
                                          payment=payment, detected_at=now, last_seen_at=now)
    account = license_services.pro_account_open(owner=user, now=now)
    purchase = license_services.license_purchase(pro_account=account, kind="monthly", quantity=n, event_time=now,
                                                 reference=f"cs_customer_{i}")
    license_services.license_assign(license=purchase.licenses[0], collaborator=user, now=now)
    for _ in range(n):
        collaborator, _ = user_register(email=f"bob{next(_numbers)}@example.com", password=DEFAULT_PASSWORD)
        invitation = license_services.invitation_send(pro_account=account, email=collaborator.email, actor=user,
                                                      now=now)
        license_services.invitation_accept(invitation=invitation, user=collaborator, now=now)
    if actor is not None:
        for _ in range(n):
            wallet_operator.wallet_adjust(wallet=user.wallet, direction="credit", amount=1, actor=actor,
                                          reason="goodwill for the outage")
    return user


@pytest.fixture
def endpoint(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    return endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["wallet.credited", "hold.expired"])


@pytest.fixture
def superuser(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def page_url(user) -> str:
    return reverse("admin:customer", args=[user.public_id])


def search(client, query: str):
    return client.get(reverse("admin:customer_search"), {"q": query})


# --- search resolution: each id kind --------------------------------------------------------


def test_each_id_kind_resolves_to_its_customer(client, superuser, endpoint):
    user = customer_with_history(1)
    other = customer_with_history(1)
    hold = Hold.objects.filter(wallet__user=user).get()
    operation = BalanceOperation.objects.filter(wallet__user=user).order_by("-seq").first()
    payment = Payment.objects.get(user=user)
    account = user.pro_account
    kinds = {
        "e-mail": user.email.upper(),  # e-mails compare case-insensitively
        "user public id": str(user.public_id),
        "hold id": str(hold.pk),
        "operation id": str(operation.pk),
        "payment public id": str(payment.public_id),
        "Stripe payment intent id": payment.stripe_payment_intent_id,
        "pro account public id": str(account.public_id),
    }
    for kind, query in kinds.items():
        matches = customer_registry.customer_search(query)
        assert [m.user_id for m in matches if m.kind == kind] == [user.pk], kind
        assert other.pk not in {m.user_id for m in matches}, kind
        response = search(client, f"  {query} ")
        if len(matches) == 1:
            assert response.status_code == 302, kind
            assert response["Location"] == page_url(user), kind
        else:  # an integer can be an operation id and a payment id: the operator chooses
            assert response.status_code == 200 and page_url(user) in response.content.decode(), kind


def test_a_payment_id_and_a_checkout_session_resolve(superuser):
    user = UserFactory()
    payment = Payment.objects.create(user=user, flow="checkout", product_kind="energy_pack", product_code="cafe_luna",
                                     amount_cents=299, currency="eur", stripe_checkout_session_id=stripe_id("cs"))
    by_session = customer_registry.customer_search(payment.stripe_checkout_session_id)
    assert [(m.user_id, m.kind) for m in by_session] == [(user.pk, "Stripe checkout session id")]
    by_pk = customer_registry.customer_search(f"#{payment.pk}")
    assert (user.pk, "payment id") in {(m.user_id, m.kind) for m in by_pk}


def test_a_license_public_id_names_its_holder_and_the_pro_account_owner(superuser):
    owner = customer_with_history(2)
    collaborator = Membership.objects.filter(pro_account__owner=owner).first().collaborator
    seat = License.objects.filter(pro_account__owner=owner, assignee__isnull=True).get()
    license_services.license_assign(license=seat, collaborator=collaborator, now=timezone.now())
    found = {(m.user_id, m.kind) for m in customer_registry.customer_search(str(seat.public_id))}
    assert found == {(collaborator.pk, "license public id (holder)"),
                     (owner.pk, "license public id (pro account owner)")}


def test_a_stripe_customer_id_resolves_through_the_mirror(settings):
    server = LocalStripe().start()
    try:
        settings.STRIPE_SECRET_KEY = SECRET_KEY
        settings.STRIPE_API_BASE = server.url
        user = UserFactory()
        customer = stripe_customer_ensure(user=user)
    finally:
        server.stop()
    assert customer.id.startswith("cus_")
    assert [(m.user_id, m.kind) for m in customer_registry.customer_search(customer.id)] == [
        (user.pk, "Stripe customer id")]


def test_unknown_or_malformed_queries_find_nobody(client, superuser):
    customer_with_history(1)
    for query in ("nobody@example.com", "pi_missing", "cus_missing", "sub_missing", "ch_missing",
                  "00000000-0000-0000-0000-000000000000", "99999999", "9" * 40, "ann", "'; drop table x"):
        assert customer_registry.customer_search(query) == [], query
        response = search(client, query)
        assert response.status_code == 200 and b"No customer for" in response.content, query
    assert b"Type an e-mail" in search(client, "").content


# --- the page ------------------------------------------------------------------------------


def test_the_page_shows_every_section_with_its_data_and_see_all_links(client, superuser, endpoint):
    user = customer_with_history(2, actor=superuser)
    wallet_balance_drift(user.wallet, delta=3)
    wallet_services.wallet_health_run()
    response = client.get(page_url(user))
    assert response.status_code == 200
    html = response.content.decode()
    for key in SECTIONS:
        assert f'id="section-{key}"' in html, key
    hold = Hold.objects.filter(wallet__user=user).first()
    assert reverse("admin:wallet_hold_operator_release", args=[hold.pk]) in html  # Release on each pending hold
    assert reverse("admin:wallet_wallet_operator_grant", args=[user.wallet.pk]) in html
    payment = Payment.objects.filter(user=user).first()
    assert f"https://dashboard.stripe.com/test/payments/{payment.stripe_payment_intent_id}" in html
    assert "+20" in html and "-5" in html  # signed amounts: a credit, a consume
    reversal = PaymentReversal.objects.get(payment__user=user)
    assert reverse("admin:billing_paymentreversal_change", args=[reversal.pk]) in html
    assert "payment_without_credit" in html
    assert Incident.objects.filter(wallet__user=user).first().code in html
    assert Delivery.objects.filter(event__subject=f"user:{user.pk}").exists()
    assert "wallet.credited" in html
    assert "goodwill for the outage" in html  # the operator actions on their wallet
    # each "see all" link opens the full, filtered list
    sections = {s["key"]: s["data"] for s in response.context["sections"]}
    for key, data in sections.items():
        if data.get("see_all_url"):
            assert data["see_all_url"] in html.replace("&amp;", "&"), key
            listing = client.get(data["see_all_url"])
            assert listing.status_code == 200, (key, data["see_all_url"])
            assert "?e=1" not in listing.get("Location", ""), key  # not an invalid-lookup redirect
    ops = client.get(sections["operations"]["see_all_url"])
    assert ops.context["cl"].result_count == BalanceOperation.objects.filter(wallet__user=user).count()


def test_viewing_the_page_changes_nothing(client, superuser):
    user = customer_with_history(1)
    before = AdminAction.objects.count()
    assert client.get(page_url(user)).status_code == 200
    assert AdminAction.objects.count() == before
    assert client.post(page_url(user)).status_code == 405  # nothing to submit
    assert AdminAction.objects.count() == before


def test_an_unknown_public_id_is_a_404_inside_the_admin_chrome(client, superuser):
    response = client.get(reverse("admin:customer", args=["00000000-0000-0000-0000-000000000000"]))
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b'id="phoenix-search"' in response.content and b"Phoenix back office" in response.content


def _page_queries(client, user) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(page_url(user))
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_the_query_count_does_not_grow_with_the_data(client, superuser, endpoint):
    small = customer_with_history(2, actor=superuser)
    large = customer_with_history(20, actor=superuser)
    assert BalanceOperation.objects.filter(wallet__user=large).count() >= 10 * 2 * 3
    _page_queries(client, small)  # warm the per-request caches of the first request (content types)
    small_queries = _page_queries(client, small)
    large_queries = _page_queries(client, large)
    assert len(large_queries) == len(small_queries), "\n".join(large_queries)
    assert len(small_queries) <= 40
    # and the page really shows the latest K of the larger history, not everything
    html = client.get(page_url(large)).content.decode()
    assert html.count('class="button" href="/admin/wallet/hold/') == customer_registry.SECTION_LIMIT


def test_every_read_of_the_page_is_an_index_lookup(client, superuser, endpoint):
    user = customer_with_history(3, actor=superuser)
    queries = [sql for sql in _page_queries(client, user) if PHOENIX_TABLES.search(sql) and sql.startswith("SELECT")]
    assert queries
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a plan with a Seq Scan left has no index to use
        try:
            for sql in queries:
                cursor.execute(f"EXPLAIN {sql}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
                scanned = [line for line in plan.splitlines() if "Seq Scan" in line and PHOENIX_TABLES.search(
                    '"' + line.split(" on ")[-1].split()[0])]
                assert not scanned, f"{sql}\n{plan}"
        finally:
            cursor.execute("SET enable_seqscan = on")


def test_the_support_role_sees_the_page_and_no_operator_button(client):
    user = customer_with_history(1)
    client.force_login(staff_in(roles.SUPPORT))
    html = client.get(page_url(user)).content.decode()
    for key in SECTIONS:
        assert f'id="section-{key}"' in html, key
    assert "/operator/" not in html  # support changes nothing: no Release, no Grant
    client.force_login(staff_in(roles.FINANCE))
    assert "/operator/release/" in client.get(page_url(user)).content.decode()


def test_without_the_view_permissions_the_page_is_a_403_inside_the_chrome(client):
    user = customer_with_history(1)
    client.force_login(UserFactory(is_staff=True))  # staff, no role
    for url in (page_url(user), reverse("admin:customer_search") + "?q=" + user.email):
        response = client.get(url)
        assert response.status_code == 403
        assert response["Content-Type"].startswith("text/html")
        assert b"Permission denied" in response.content and b"Phoenix back office" in response.content
    assert b'id="phoenix-search"' not in client.get(reverse("admin:index")).content  # no box offered


def test_a_section_needs_its_own_view_permission(client):
    user = customer_with_history(1)
    viewer = UserFactory(is_staff=True)
    support = Group.objects.get(name=roles.SUPPORT)
    viewer.user_permissions.set(support.permissions.exclude(codename="view_payment"))
    client.force_login(viewer)
    html = client.get(page_url(user)).content.decode()
    assert 'id="section-wallet"' in html and 'id="section-payments"' not in html


def test_an_unknown_admin_address_is_a_404_in_the_chrome_and_elsewhere_json(client, superuser):
    response = client.get("/admin/no/such/page/")
    assert response.status_code == 404 and b'id="phoenix-error"' in response.content
    assert client.get("/no/such/path").json()["error"] == "not_found"  # the API's answer outside the admin


def test_the_search_box_is_on_every_admin_page(client, superuser):
    for url in (reverse("admin:index"), reverse("admin:wallet_wallet_changelist"),
                reverse("admin:accounts_user_change", args=[superuser.pk])):
        assert b'id="phoenix-search"' in client.get(url).content, url


# --- the user page ----------------------------------------------------------------------------


def test_the_user_page_has_roles_not_the_permission_picker_and_links_the_customer_page(client, superuser):
    user = customer_with_history(1)
    html = client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert 'name="user_permissions"' not in html
    assert 'name="groups"' in html
    assert page_url(user) in html


# --- every object's name says whose it is ------------------------------------------------------


def test_every_object_is_named_by_its_owner(superuser):
    user = customer_with_history(1, actor=superuser)
    email = user.email
    owner = user.pro_account
    membership = Membership.objects.filter(pro_account=owner).select_related("collaborator").get()
    names = {
        "wallet": str(user.wallet),
        "hold": str(Hold.objects.filter(wallet__user=user).get()),
        "operation": str(BalanceOperation.objects.filter(wallet__user=user).order_by("seq").first()),
        "lot": str(EnergyLot.objects.filter(wallet__user=user).first()),
        "usage event": str(UsageEvent.objects.filter(user=user).get()),
        "access": str(Access.objects.get(user=user)),
        "access event": str(AccessEvent.objects.filter(access__user=user).first()),
        "pro account": str(owner),
        "license": str(License.objects.filter(pro_account=owner).first()),
        "payment": str(Payment.objects.get(user=user)),
    }
    for kind, name in names.items():
        assert email in name, (kind, name)
    assert str(user.wallet).startswith(f"wallet of {email}")
    assert str(owner).startswith(f"pro account of {email}")
    assert str(membership) == f"{membership.collaborator.email} in the pro account of {email}"
    assert "2.99 EUR" in names["payment"]
    wallet_balance_drift(user.wallet, delta=2)
    wallet_services.wallet_health_run()
    assert email in str(Incident.objects.filter(wallet__user=user).first())


def test_an_operator_action_refused_to_support_is_a_403_inside_the_chrome(client):
    user = customer_with_history(1)
    hold = Hold.objects.filter(wallet__user=user).get()
    client.force_login(staff_in(roles.SUPPORT))
    response = client.get(reverse("admin:wallet_hold_operator_release", args=[hold.pk]))
    assert response.status_code == 403
    assert b'id="phoenix-error"' in response.content and b'id="phoenix-search"' in response.content
