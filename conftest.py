"""Fixtures shared by every app's tests. Tests run on real PostgreSQL and Redis."""

import contextlib
import hashlib
import threading
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from django.test.utils import setup_databases, teardown_databases
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from phoenix.core import roles
from phoenix.core.tests.operator import staff
from wallet.selectors.catalogue import catalogue_snapshot_reset

# --- The test database, cloned from a migrated template ---------------------------------
# Migrating from nothing (dj-stripe's ~60 models most of all) takes minutes on a loaded
# machine; cloning a migrated template takes seconds. The template is named after a hash of
# everything that shapes the schema (every migration file, the pinned requirements, the
# installed apps): change any of them and the next run builds a new template and drops the
# old ones. `--create-db` rebuilds it by force.
ROOT = Path(__file__).resolve().parent
TEMPLATE_PREFIX = "phoenix_tpl_"


def _schema_fingerprint() -> str:
    digest = hashlib.sha256()
    inputs = sorted(ROOT.glob("*/migrations/*.py")) + sorted(ROOT.glob("*/*/migrations/*.py"))
    inputs += sorted(ROOT.glob("phoenix/djstripe_migrations/*.py"))
    inputs += sorted(ROOT.glob("requirements*.txt"))
    for path in inputs:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    digest.update(repr((settings.INSTALLED_APPS, getattr(settings, "MIGRATION_MODULES", {}))).encode())
    return digest.hexdigest()[:16]


def _databases(cursor) -> set[str]:
    cursor.execute("SELECT datname FROM pg_database")
    return {row[0] for row in cursor.fetchall()}


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_createdb):
    default = connections["default"]
    original_name = default.settings_dict["NAME"]
    test_name = default.creation._get_test_db_name()
    template = TEMPLATE_PREFIX + _schema_fingerprint()
    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        with default._nodb_cursor() as cursor:
            have_template = template in _databases(cursor) and not django_db_createdb
            if have_template:
                cursor.execute(f'DROP DATABASE IF EXISTS "{test_name}" WITH (FORCE)')
                cursor.execute(f'CREATE DATABASE "{test_name}" TEMPLATE "{template}"')
        if have_template:
            default.close()
            settings.DATABASES["default"]["NAME"] = default.settings_dict["NAME"] = test_name
            db_cfg = [(default, original_name, True)]
        else:
            db_cfg = setup_databases(verbosity=verbosity, interactive=False)
            default.close()
            with default._nodb_cursor() as cursor:
                stale = [name for name in _databases(cursor) if name.startswith(TEMPLATE_PREFIX)]
                for name in stale:
                    # Not FORCE: a run of another checkout may be cloning it right now.
                    with contextlib.suppress(Exception):
                        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
                try:
                    cursor.execute(f'CREATE DATABASE "{template}" TEMPLATE "{test_name}"')
                except Exception as exc:  # another run made it at the same moment: theirs is as good
                    request.node.warn(pytest.PytestWarning(f"test database template not saved: {exc!r}"))
    yield
    with django_db_blocker.unblock():
        try:
            teardown_databases(db_cfg, verbosity=verbosity)
        except Exception as exc:
            request.node.warn(pytest.PytestWarning(f"Error when tearing down the test database: {exc!r}"))


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters and cached reads live in Redis, the energy catalogue's snapshot in
    process memory: start every test clean (the last test's rollback changed no version)."""
    cache.clear()
    catalogue_snapshot_reset()


# Reference data that data migrations seed (energy catalogues, plans). A transactional test
# empties every table when it ends (and post_migrate re-creates only permissions and
# roles), so transactional tests get it back from the same idempotent seed functions.
SEED_MIGRATIONS = [
    ("wallet.migrations.0002_append_only_catalogues_schedules", "seed"),
    ("subscriptions.migrations.0002_append_only_plans_schedule", "forwards"),
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


RACE_BARRIER_TIMEOUT_S = 60
RACE_JOIN_TIMEOUT_S = 240


def run_race(workers: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` for i in range(workers), each in its own thread and database
    connection, released together by a barrier; return each result or the exception it
    raised (in index order). Generous timeouts: a loaded machine is slow, not wrong."""
    barrier = threading.Barrier(workers)
    results: list[object] = [None] * workers

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=RACE_BARRIER_TIMEOUT_S)
            results[index] = work(index)
        except Exception as exc:  # returned to the test, which asserts on it
            results[index] = exc
        finally:
            connection.close()  # each thread has its own connection: give it back

    threads = [threading.Thread(target=run, args=(i,), name=f"race-{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RACE_JOIN_TIMEOUT_S)
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"race threads still running: {stuck}"
    return results


@pytest.fixture
def race() -> Callable[[int, Callable[[int], object]], list[object]]:
    """The one concurrency harness: ``race(n, fn)`` (see ``run_race``). A test that uses it
    is marked ``race`` (pytest -m race), which .ci/run repeats under CPU load."""
    return run_race


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "race" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.race)


@pytest.fixture
def finance_client(client):
    """The Django test client logged into the admin as a `finance` operator."""
    client.force_login(staff(roles.FINANCE))
    return client


@pytest.fixture
def support_client(client):
    """The Django test client logged into the admin as `support` (views only)."""
    client.force_login(staff(roles.SUPPORT))
    return client


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
    user, _token = user_register(email="registered@example.com", password=DEFAULT_PASSWORD)
    return user


def token_client_for(user) -> APIClient:
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
