"""A production-mode start from the Procfile alone (issue 14): DEBUG off, the Procfile's
release step, then its web command (a real gunicorn on a free port) serving /admin/login/
and /api/docs/ with their static files; the security settings' production defaults; and
`check --deploy` clean with the documented production settings."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.django_db

PROXY_HTTPS = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating proxy adds


def _procfile() -> dict[str, str]:
    lines = (settings.BASE_DIR / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _production_env(static_root: Path) -> dict[str, str]:
    """The documented production settings (README, Production), on the test database."""
    base, _, _ = os.environ["DATABASE_URL"].partition("?")[0].rpartition("/")
    query = os.environ["DATABASE_URL"].partition("?")[2]
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "phoenix.settings",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1,phoenix.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://phoenix.example.com",
        "ADMINS": "Ops:ops@phoenix.example.com",
        "DATABASE_URL": f"{base}/{connection.settings_dict['NAME']}" + (f"?{query}" if query else ""),
        "REDIS_URL": settings.REDIS_URL,
        "STATIC_ROOT": str(static_root),
        "LOG_LEVEL": "WARNING",
    }


def _get(url: str, headers: dict | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _static_urls(html: bytes) -> list[str]:
    return sorted(set(re.findall(r'(?:href|src)="(/static/[^"]+)"', html.decode())))


@pytest.mark.slow
def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=settings.BASE_DIR, env=_production_env(tmp_path / "static"),
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "no issues" in done.stdout


@pytest.mark.slow
def test_check_deploy_warns_when_nobody_would_be_mailed_a_critical(tmp_path):
    env = {k: v for k, v in _production_env(tmp_path / "static").items() if k != "ADMINS"}
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode != 0 and "phoenix.W001" in done.stderr + done.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)  # collectstatic compresses every asset; a loaded machine is slow at it
def test_the_procfile_alone_starts_production(tmp_path):
    procfile = _procfile()
    env = _production_env(tmp_path / "static")
    assert "DEBUG" not in env  # off by default
    release = subprocess.run(["bash", "-c", procfile["release"]], cwd=settings.BASE_DIR, env=env,
                             capture_output=True, text=True, timeout=300, check=False)
    assert release.returncode == 0, release.stdout + release.stderr[-3000:]
    assert (tmp_path / "static" / "staticfiles.json").exists()  # the manifest WhiteNoise serves from

    port = _free_port()
    web = subprocess.Popen(["bash", "-c", "exec " + procfile["web"]], cwd=settings.BASE_DIR,
                           env={**env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                status, _, _ = _get(f"{base}/health/")
                break
            except (ConnectionError, urllib.error.URLError):
                assert web.poll() is None, web.stdout.read().decode()[-3000:]
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.5)
        assert status in (200, 503)  # plain HTTP allowed for health probes (no worker here)

        status, headers, _ = _get(f"{base}/admin/login/")
        assert status == 301 and headers["Location"].startswith("https://")  # SSL redirect by default

        for page in ("/admin/login/", "/api/docs/"):
            status, headers, html = _get(f"{base}{page}", PROXY_HTTPS)
            assert status == 200, (page, html[:500])
            assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
            static = _static_urls(html)
            assert static, page
            for url in static:
                status, headers, _ = _get(f"{base}{url}", PROXY_HTTPS)
                assert status == 200, url
        _, headers, _ = _get(f"{base}/admin/login/", PROXY_HTTPS)
        cookie = headers.get("Set-Cookie", "")
        assert "csrftoken" in cookie and "Secure" in cookie
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        try:
            web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait()
    assert shlex.split(procfile["release"])[-1] == "release"
