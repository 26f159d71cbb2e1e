"""Fixtures shared by every app's tests. Tests run on real PostgreSQL and Redis."""

from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from phoenix.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters and cached reads live in Redis: start every test clean."""
    cache.clear()
    yield


# Reference data that data migrations seed (§3 catalogues, plans). A transactional test
# empties every table when it ends (and post_migrate re-creates only permissions and
# roles), so transactional tests get it back from the same idempotent seed functions.
SEED_MIGRATIONS = [
    ("wallet.migrations.0003_seed_energy_catalogues", "seed"),
    ("subscriptions.migrations.0003_seed_plans", "forwards"),
]


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        return True
    return bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def _reference_data_in_transactional_tests(request):
    if _is_transactional(request):
        request.getfixturevalue("_django_db_helper")  # the (transactional) test database first
        for module_name, function_name in SEED_MIGRATIONS:
            getattr(import_module(module_name), function_name)(django_apps, None)
    yield


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture
def user(db):
    """A bare user row (no registration side effects)."""
    return UserFactory()


@pytest.fixture
def registered_user(db):
    """A user created by the registration service (access, wallet and token opened)."""
    from phoenix.accounts.services import user_register

    user, _token = user_register(email="registered@example.com", password=DEFAULT_PASSWORD)
    return user


def token_client_for(user) -> APIClient:
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def user_client(registered_user) -> APIClient:
    """An APIClient authenticated as `registered_user` with its token."""
    return token_client_for(registered_user)


@pytest.fixture
def satellite_client(db) -> APIClient:
    """An APIClient authenticated as a satellite service (Api-Key)."""
    _key_obj, key = APIKey.objects.create_key(name="test-satellite")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client
