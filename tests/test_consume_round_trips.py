"""The round trips of `POST /luna/energy/consume`, counted on a real PostgreSQL in a real
transaction (a transactional test: no test transaction around the request, so the statements
are exactly production's). A change that adds one fails here.

Without an Idempotency-Key, a paid consume is 6 statements:
  1. the token with its user and the user's access row (phoenix.accounts.authentication)
  2. BEGIN
  3. lock the wallet (SELECT ... FOR UPDATE)
  4. the debit with what rides on it: operation + lots drawn + consumption rows + the wallet's
     row + the spend-velocity breaker's upsert + the usage event (inserted only when the
     breaker allows), one statement (wallet.services.sql `Rider`)
  5. the outbox emit of `wallet.balance_low` (inserts only when an endpoint's threshold is crossed)
  6. COMMIT
The action catalogue comes from process memory, the lots of the answer from the debit's own
statement. With a key, +1: the key claimed together with its answer, before COMMIT
(phoenix.core.idempotency `idempotent_database_only`). The minimal view bench_luna compares
with (the same auth and `wallet_debit`) is statements 1-3, the debit alone, 5 and 6.

Redis, 1 round trip (counted by the server, INFO commandstats): the throttle's script
(EVALSHA, running INCR and GET; EXPIRE only in a window's first request). The catalogue's
snapshot is kept honest by a pub/sub subscription (no command per read), the user's analytics
by cache keys naming the state they were computed from (no DEL per write).
"""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from phoenix.core.models import IdempotentResponse
from wallet.models import EnergyAction

pytestmark = pytest.mark.django_db(transaction=True)

CONSUME_ROUND_TRIPS = 6
CONSUME_ROUND_TRIPS_WITH_KEY = 7
CONSUME_REDIS_COMMANDS = {"evalsha": 1, "incr": 1, "get": 1}  # incr and get run in the script


def _redis_calls() -> dict[str, int]:
    stats = cache.redis_client().info("commandstats")
    return {name.removeprefix("cmdstat_"): entry["calls"] for name, entry in stats.items()}


def _redis_commands_of(function) -> dict[str, int]:
    before = _redis_calls()
    function()
    after = _redis_calls()
    after["info"] -= 1  # the second INFO itself
    return {name: calls - before.get(name, 0) for name, calls in after.items() if calls != before.get(name, 0)}


def _consume(client, **headers) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/luna/energy/consume", {"action": "conseil_rapide"}, format="json", **headers)
        assert response.status_code == 200, response.content
    return [query["sql"] for query in captured.captured_queries]


def _kinds(statements: list[str]) -> list[str]:
    return [" ".join(sql.split()[:2]) for sql in statements]


def test_a_consume_is_six_round_trips_and_seven_with_a_key(user_client):
    _consume(user_client)  # warm: the process's catalogue snapshot
    plain = _consume(user_client)
    assert len(plain) == CONSUME_ROUND_TRIPS, _kinds(plain)
    assert not [sql for sql in plain if "SAVEPOINT" in sql], _kinds(plain)
    # Neither the catalogue nor the access row has a statement of its own.
    own_reads = ('SELECT "wallet_energyaction"', 'SELECT "subscriptions_access"')
    assert not [sql for sql in plain if sql.startswith(own_reads)]
    keyed = _consume(user_client, HTTP_IDEMPOTENCY_KEY="round-trips-1")
    assert len(keyed) == CONSUME_ROUND_TRIPS_WITH_KEY, _kinds(keyed)
    assert not [sql for sql in keyed if "SAVEPOINT" in sql], _kinds(keyed)


def test_a_consume_is_one_redis_round_trip(user_client):
    _consume(user_client)
    assert _redis_commands_of(lambda: _consume(user_client)) == CONSUME_REDIS_COMMANDS
    keyed = _redis_commands_of(lambda: _consume(user_client, HTTP_IDEMPOTENCY_KEY="redis-commands-1"))
    assert keyed == CONSUME_REDIS_COMMANDS


def test_the_hot_statements_are_prepared_on_the_connection(user_client):
    """DB_PREPARED_STATEMENTS (on without PgBouncer): from its second run on a connection, each
    of the hot path's own statements is a prepared statement of that connection."""
    for index in range(2):
        _consume(user_client, HTTP_IDEMPOTENCY_KEY=f"prepared-{index}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    for part in (f"INSERT INTO {IdempotentResponse._meta.db_table}",
                 "FOR UPDATE", "INSERT INTO wallet_balanceoperation", "INSERT INTO wallet_spendcounter"):
        assert [statement for statement in prepared if part in statement], (part, prepared)


def test_a_catalogue_change_reaches_the_next_consume(user_client):
    _consume(user_client)
    action = EnergyAction.objects.get(code="conseil_rapide")
    action.cost += 3
    action.save()  # committed (no test transaction): the version is bumped
    body = user_client.post("/luna/energy/consume", {"action": "conseil_rapide"}, format="json").json()
    assert body["energy_consumed"] == action.cost
    action.is_active = False
    action.save()
    refused = user_client.post("/luna/energy/consume", {"action": "conseil_rapide"}, format="json")
    assert refused.status_code == 400 and refused.json()["error"] == "unknown_action"


def test_a_refused_consume_rolls_back_whole_without_savepoints(user_client, registered_user):
    from_check = user_client.post("/luna/energy/check", {}, format="json").json()
    EnergyAction.objects.create(code="too_dear", label="Too dear", category="complex", cost=10**6, source_app="any")
    refused = user_client.post("/luna/energy/consume", {"action": "too_dear"}, format="json",
                               HTTP_IDEMPOTENCY_KEY="too-dear-1")
    assert refused.status_code == 402 and refused.json()["error"] == "insufficient_energy"
    assert user_client.post("/luna/energy/check", {}, format="json").json() == from_check
    again = user_client.post("/luna/energy/consume", {"action": "too_dear"}, format="json",
                             HTTP_IDEMPOTENCY_KEY="too-dear-1")
    assert again.status_code == 402  # nothing remembered under the key: the retry is decided afresh
