"""A LICENSED user (unlimited through a seat) is sold neither a personal PREMIUM plan nor a
pack (issue 14): the API refuses, and a webhook that would do it is refused and recorded."""

import time
from datetime import UTC, datetime

import pytest

from billing.models import Payment, ReconciliationIncident
from billing.tests import factories as f
from billing.tests.helpers import f_token, plan_metadata
from licenses import services as license_services
from licenses.models import License
from licenses.tests.factories import linked_collaborator, pro_account_with_seats
from subscriptions.models import Access, AccessType

pytestmark = pytest.mark.django_db


@pytest.fixture
def licensed(db, packs, plans):
    now = datetime.now(UTC)
    account = pro_account_with_seats(now=now, lifetime=1)
    user = linked_collaborator(account, now=now)
    lic = License.objects.get(pro_account=account)
    assert license_services.license_assign(license=lic, collaborator=user, now=now).outcome == "assigned"
    assert Access.objects.get(user=user).type == AccessType.LICENSED
    return user


def test_a_licensed_user_cannot_buy_premium_nor_a_pack(stripe_keys, licensed):
    client = f_token(licensed)
    response = client.post("/billing/checkout", {"product": "luna_unlimited"}, format="json")
    assert (response.status_code, response.json()["error"]) == (409, "already_licensed")
    for path, data in [("/luna/energy/purchase", {"pack": "cafe_luna"}),
                       ("/billing/checkout", {"product": "cafe_luna"})]:
        response = client.post(path, data, format="json")
        assert (response.status_code, response.json()["error"]) == (409, "unlimited_cannot_buy_packs"), path
    assert not stripe_keys.requests and not Payment.objects.exists()


def test_a_webhook_selling_premium_to_a_licensed_user_is_refused_and_recorded(client, webhook_secret, licensed):
    session = f.subscription_checkout_session(metadata=plan_metadata(licensed))
    event = f.event("checkout.session.completed", session, created=int(time.time()))
    assert f.post_event(client, event).status_code == 200
    access = Access.objects.get(user=licensed)
    assert access.type == AccessType.LICENSED and not access.stripe_subscription_id
    incident = ReconciliationIncident.objects.get(code="plan_for_licensed_user")
    assert incident.payment.user == licensed and incident.detail["subscription_id"] == session["subscription"]
    assert f.post_event(client, event).status_code == 200  # a replay records nothing twice
    assert ReconciliationIncident.objects.filter(code="plan_for_licensed_user").count() == 1
