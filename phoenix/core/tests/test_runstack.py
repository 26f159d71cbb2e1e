"""`make run`'s launcher, end to end: a fresh data folder, no DATABASE_URL / REDIS_URL."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_run_command_serves_admin_docs_and_health_with_worker_and_beat(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")}
    env.update(PHOENIX_DATA_DIR=str(tmp_path / "data"), WEB_BIND=f"127.0.0.1:{port}",
               WEB_CONCURRENCY="1", WORKER_CONCURRENCY="1")
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        stack = subprocess.Popen([sys.executable, "-m", "phoenix.core.runstack"], cwd=ROOT, env=env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        health = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert stack.poll() is None, log_path.read_text()[-3000:]
            try:
                health = requests.get(f"{base}/health/", timeout=5).json()
                if health["status"] == "ok" and health["worker"]["status"] == "up":
                    break  # beat scheduled the heartbeat and the worker ran it
            except (requests.RequestException, ValueError):
                pass
            time.sleep(1)
        assert health and health["status"] == "ok" and health["worker"]["status"] == "up", (
            health, log_path.read_text()[-3000:])

        login_page = requests.get(f"{base}/admin/login/", timeout=10)
        assert login_page.status_code == 200 and "csrfmiddlewaretoken" in login_page.text
        docs = requests.get(f"{base}/api/docs/", timeout=10)
        assert docs.status_code == 200
        asset = re.search(r'src="(/static/drf_spectacular_sidecar/[^"]+\.js)"', docs.text).group(1)
        assert requests.get(base + asset, timeout=10).status_code == 200

        # the printed admin credentials log in
        email, password = re.search(r"admin login: (\S+) / (\S+)", log_path.read_text()).groups()
        session = requests.Session()
        page = session.get(f"{base}/admin/login/", timeout=10)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        answer = session.post(f"{base}/admin/login/?next=/admin/", timeout=10, data={
            "csrfmiddlewaretoken": csrf, "username": email, "password": password, "next": "/admin/",
        }, headers={"Referer": f"{base}/admin/login/"})
        assert answer.status_code == 200 and "Log out" in answer.text
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            raise
    # everything stopped, embedded servers included
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/health/", timeout=2)
