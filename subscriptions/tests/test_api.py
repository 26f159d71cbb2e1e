"""The /subscriptions API and the access section of the profile."""

from datetime import UTC, datetime

import pytest

from conftest import token_client_for
from phoenix.accounts.tests.factories import UserFactory
from subscriptions import services
from subscriptions.models import Plan

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def test_user_reads_own_access(user_client, registered_user):
    response = user_client.get(f"/subscriptions/access/{registered_user.public_id}")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["type"] == "TRIAL" and body["premium"] is True and body["unlimited"] is False
    assert body["trial_ends_at"] and body["license_status"] == "none"


def test_user_cannot_read_another_users_access(user_client):
    other = UserFactory()
    response = user_client.get(f"/subscriptions/access/{other.public_id}")
    assert response.status_code == 404 and response.json()["error"] == "user_not_found"


def test_satellite_reads_any_access(satellite_client):
    user = UserFactory()
    services.access_activate_premium(user=user, period_end=datetime(2099, 1, 1, tzinfo=UTC), event_time=T0)
    body = satellite_client.get(f"/subscriptions/access/{user.public_id}").json()
    assert (body["type"], body["premium"], body["unlimited"]) == ("PREMIUM", True, True)


def test_anonymous_is_refused(api_client):
    assert api_client.get(f"/subscriptions/access/{UserFactory().public_id}").status_code == 401


def test_profile_has_the_access_section(registered_user):
    body = token_client_for(registered_user).get("/auth/profile").json()
    assert body["access"]["type"] == "TRIAL"
    assert set(body["access"]) == {"type", "premium", "unlimited", "trial_ends_at"}


def test_plans_are_seeded():
    plan = Plan.objects.get(code="luna_unlimited")
    assert (plan.price_cents, plan.currency, plan.kind, plan.audience) == (2999, "EUR", "monthly", "individual")
    assert Plan.objects.filter(audience="individual", kind="lifetime").exists()
