"""Database or Redis down -> 503 ``service_unavailable`` with Retry-After, on every kind of
endpoint, and /health/ names what is down. Each case is a real Phoenix process (Django's
test client in a subprocess) whose DATABASE_URL or REDIS_URL points at a closed port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SCRIPT = """
import json, os, sys
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "phoenix.settings_test"
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()
from django.test import Client
client = Client(raise_request_exception=False)
answers = []
for method, path, body, headers in json.loads(sys.argv[1]):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    response = getattr(client, method)(path, headers=headers, **kwargs)
    is_json = response.get("Content-Type", "").startswith("application/json")
    answers.append([response.status_code, response.get("Retry-After"), response.json() if is_json else None])
print("ANSWERS " + json.dumps(answers))
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    """The embedded server's URL (exported by phoenix.core.embedded), on the test database."""
    base, _, _name = os.environ["DATABASE_URL"].partition("?")[0].rpartition("/")
    query = os.environ["DATABASE_URL"].partition("?")[2]
    return f"{base}/{connection.settings_dict['NAME']}" + (f"?{query}" if query else "")


def _run(requests, **env_overrides) -> list:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(settings.BASE_DIR), "DATABASE_URL": _database_url(),
           "REDIS_URL": settings.REDIS_URL, **env_overrides}
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(requests)], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("ANSWERS ")), None)
    assert line, done.stderr[-3000:]
    return json.loads(line.removeprefix("ANSWERS "))


def test_database_down_is_503_everywhere_and_health_says_so():
    answers = _run([
        ["get", "/auth/profile", None, {"Authorization": "Token 0123456789abcdef0123456789abcdef01234567"}],
        ["post", "/luna/energy/consume", {"action": "lettre_motivation"},
         {"Authorization": "Api-Key abcdefgh.0123456789abcdef0123456789abcdef"}],
        ["post", "/auth/register", {"email": "new@example.com", "password": "a-long-Password-123"}, {}],
        ["get", "/admin/", None, {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}],
        ["get", "/health/", None, {}],
    ], DATABASE_URL=f"postgres://phoenix:x@127.0.0.1:{_closed_port()}/phoenix")
    *endpoints, health = answers
    for status_code, retry_after, body in endpoints:
        assert (status_code, retry_after) == (503, "5"), body
        assert body["error"] == "service_unavailable" and body["service"] == "database"
    status_code, _, body = health
    assert status_code == 503 and body["checks"]["database"]["status"] == "down"
    assert body["checks"]["cache"]["status"] == "up"


def test_redis_down_is_503_and_health_says_so():
    answers = _run([
        ["post", "/auth/login", {"email": "ada@example.com", "password": "whatever-123"}, {}],
        ["get", "/health/", None, {}],
    ], REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0")
    (status_code, retry_after, body), (health_code, _, health) = answers
    assert (status_code, retry_after, body["error"], body["service"]) == (503, "5", "service_unavailable", "cache")
    assert health_code == 503 and health["checks"]["cache"]["status"] == "down"
    assert health["checks"]["database"]["status"] == "up"
