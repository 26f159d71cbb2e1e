"""Settings, embedded services, health, OpenAPI and logging."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection

from phoenix.celery import app as celery_app
from phoenix.core import embedded

ROOT = Path(__file__).resolve().parents[3]


def run_settings(env_overrides: dict) -> subprocess.CompletedProcess:
    """Import the real settings module in a fresh interpreter with the given env."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "phoenix.settings"
    return subprocess.run(
        [sys.executable, "-c",
         "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


# --- settings ----------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["", "short", "django-insecure-" + "x" * 60])
def test_refuses_to_start_without_real_secret_key_when_debug_off(secret):
    result = run_settings({"SECRET_KEY": secret})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_starts_with_real_secret_key_and_debug_off_by_default():
    result = run_settings({"SECRET_KEY": "k" * 20 + "Zq8#vR2!pL" * 4})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_debug_on_allows_missing_secret_key():
    result = run_settings({"DEBUG": "on"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_uses_postgresql_and_redis():
    assert connection.vendor == "postgresql"
    assert settings.CACHES["default"]["BACKEND"] == "phoenix.core.cache.PhoenixRedisCache"
    assert redis.Redis.from_url(settings.REDIS_URL).ping() is True
    cache.set("probe", 41)
    assert cache.incr("probe") == 42
    assert settings.CELERY_BROKER_URL.startswith("redis://")


# --- embedded services -------------------------------------------------------------


def test_set_urls_start_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://example/db")
    monkeypatch.setenv("REDIS_URL", "redis://example:6379/0")
    assert embedded.export_service_urls(tmp_path) == {}
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_embedded_servers_start_in_a_fresh_folder(tmp_path):
    """A process with neither URL set gets working embedded servers, stopped at its exit."""
    data_dir = tmp_path / "data"
    script = (
        "import os, json, psycopg, redis\n"
        "from phoenix.core import embedded\n"
        f"urls = embedded.export_service_urls(__import__('pathlib').Path({str(data_dir)!r}))\n"
        "import environ\n"
        "cfg = environ.Env.db_url_config(os.environ['DATABASE_URL'])\n"
        "conn = psycopg.connect(dbname=cfg['NAME'], user=cfg['USER'], host=cfg['OPTIONS']['host'])\n"
        "version = conn.execute('SHOW server_version').fetchone()[0]\n"
        "conn.close()\n"
        "pong = redis.Redis.from_url(os.environ['REDIS_URL']).ping()\n"
        "print(json.dumps({'urls': sorted(urls), 'pg': version, 'pong': pong, 'redis': os.environ['REDIS_URL']}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["urls"] == ["DATABASE_URL", "REDIS_URL"]
    assert report["pg"].startswith("16")
    assert report["pong"] is True
    assert (data_dir / "postgres" / "PG_VERSION").exists()
    # the process that started Redis (its only user) stopped it when it exited
    port = int(report["redis"].rsplit(":", 1)[1].split("/")[0])
    assert not embedded._redis_answers(port)


@pytest.mark.slow
def test_the_embedded_redis_outlives_the_process_that_started_it_while_another_uses_it(tmp_path):
    """Two runs side by side share the embedded Redis: the one that started it exiting first
    leaves it to the other (it is stopped when the last user exits)."""
    data_dir = tmp_path / "data"
    use = ("import os, sys, time, redis, pathlib\n"
           "from phoenix.core import embedded\n"
           f"url = embedded.ensure_redis(pathlib.Path({str(data_dir)!r}))\n"
           "print(url, flush=True)\n"
           "sys.stdin.readline()\n"  # hold on until told to exit
           "redis.Redis.from_url(url).ping()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    first = subprocess.Popen([sys.executable, "-c", use], cwd=ROOT, env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    url = first.stdout.readline().strip()
    second = subprocess.Popen([sys.executable, "-c", use], cwd=ROOT, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert second.stdout.readline().strip() == url  # reused, not a second server
    port = int(url.rsplit(":", 1)[1].split("/")[0])

    first.communicate("\n", timeout=60)  # the starter exits first
    assert first.returncode == 0
    assert embedded._redis_answers(port)  # still serving the second user
    second.communicate("\n", timeout=60)
    assert second.returncode == 0  # its last ping worked
    assert not embedded._redis_answers(port)  # the last user stopped it


# --- health ------------------------------------------------------------------------


@pytest.mark.django_db
def test_health_all_up(api_client):
    response = api_client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "up", "cache": "up", "broker": "up",
    }


@pytest.mark.django_db
def test_health_degraded_when_broker_is_down(api_client, monkeypatch):
    # A real connection attempt to a port where nothing listens. Only the write URL is
    # patched: its getter falls back to broker_url, so patching both would save the
    # patched broker_url as broker_write_url's "old" value and leave the app broken.
    monkeypatch.setattr(celery_app.conf, "broker_write_url", "redis://127.0.0.1:1/0")
    response = api_client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "up"


@pytest.mark.django_db
def test_health_recovers_when_the_broker_is_back(api_client, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(celery_app.conf, "broker_write_url", "redis://127.0.0.1:1/0")
        assert api_client.get("/health/").status_code == 503
    assert api_client.get("/health/").status_code == 200


# --- OpenAPI -----------------------------------------------------------------------


@pytest.mark.django_db
def test_openapi_schema_validates():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    schema = json.loads(out.getvalue())
    for path in ("/auth/register", "/auth/login", "/auth/logout", "/auth/profile", "/health/"):
        assert path in schema["paths"], path
    login_responses = schema["paths"]["/auth/login"]["post"]["responses"]
    assert {"200", "401", "429"} <= set(login_responses)


@pytest.mark.django_db
def test_swagger_ui_uses_local_assets_only(api_client):
    assert api_client.get("/api/schema/").status_code == 200
    response = api_client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower() and "https://" not in html


# --- logging -----------------------------------------------------------------------


@pytest.mark.django_db
def test_request_logs_carry_a_request_id(api_client, caplog):
    caplog.set_level("INFO", logger="django_structlog")
    api_client.get("/health/")
    events = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
    finished = [e for e in events if e.get("event") == "request_finished"]
    assert finished and finished[0]["request_id"]


def test_json_log_format_renders_json():

    formatter_cfg = settings.LOGGING["formatters"]["json"]
    formatter = formatter_cfg["()"](processors=formatter_cfg["processors"],
                                    foreign_pre_chain=formatter_cfg["foreign_pre_chain"])
    record = logging.LogRecord("phoenix", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    line = json.loads(formatter.format(record))
    assert line["event"] == "hello world" and line["level"] == "info" and "timestamp" in line
