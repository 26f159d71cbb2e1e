"""`make run`'s launcher, end to end: a fresh data folder, no DATABASE_URL / REDIS_URL."""

import contextlib
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
from django.core.management import call_command
from django.core.management.base import CommandError
from structlog.testing import capture_logs

from phoenix.core.models import JobRun
from phoenix.core.runstack import release_steps_run, startup_checks_run

ROOT = Path(__file__).resolve().parents[3]
STOP_GRACE_S = 20
BY_HAND_PREFIXES = (".venv/bin/python manage.py ", "make manage ")
# The benchmarks take minutes at their README sizes; bench/tests runs them at small ones.
NOT_HERE = (".venv/bin/python manage.py bench_",)


def readme_by_hand_commands() -> list[str]:
    """Every by-hand command the README gives (in shell blocks and in `code` spans), exactly
    as written: management commands through the virtualenv's Python or `make manage`."""
    commands, in_block = [], False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            command = re.split(r"\s+#", line.strip(), maxsplit=1)[0].strip()
            candidates = [command]
        else:
            candidates = re.findall(r"`([^`]+)`", line)
        commands += [c for c in candidates if c.startswith(BY_HAND_PREFIXES) and not c.startswith(NOT_HERE)]
    return list(dict.fromkeys(commands))


def processes_mentioning(marker: str) -> list[int]:
    """Every process whose command line or environment names ``marker`` (the test's data
    folder): runstack, honcho, gunicorn, celery and the embedded PostgreSQL and Redis all do,
    whatever process group or session they ended up in."""
    needle, found = marker.encode(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes() or needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def stop_everything(marker: str) -> list[int]:
    """SIGTERM every process of the stack, SIGKILL what is left after the grace; return the
    pids that had to be killed."""
    for pid in processes_mentioning(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while processes_mentioning(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    killed = processes_mentioning(marker)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return killed


@contextlib.contextmanager
def running_stack(tmp_path: Path, **extra_env):
    """Start `make run`'s launcher on a fresh data folder; whatever happens in the block (a
    failed assertion, a timeout), leave no process of it behind."""
    port = free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE",
                        "STRIPE_WEBHOOK_SECRET")}
    env.update(PHOENIX_DATA_DIR=str(data), WEB_BIND=f"127.0.0.1:{port}",
               WEB_CONCURRENCY="1", WORKER_CONCURRENCY="1", **extra_env)
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        stack = subprocess.Popen([sys.executable, "-m", "phoenix.core.runstack"], cwd=ROOT, env=env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield stack, f"http://127.0.0.1:{port}", log_path, env
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(stack.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            stack.wait(timeout=60)
        stop_everything(str(data))
        assert processes_mentioning(str(data)) == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a cold start migrates from nothing, then every README command runs
def test_run_command_serves_admin_docs_and_health_with_worker_and_beat(tmp_path):
    with running_stack(tmp_path) as (stack, base, log_path, env):
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

        # the wallet health check ran once before serving (the dashboard has a last run)
        assert re.search(r"now=\S+ findings=\d+ critical=\d+", log_path.read_text()), log_path.read_text()[-3000:]
        assert "startup_check_failed" not in log_path.read_text()

        # the printed admin credentials log in
        email, password = re.search(r"admin login: (\S+) / (\S+)", log_path.read_text()).groups()
        session = requests.Session()
        page = session.get(f"{base}/admin/login/", timeout=10)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        answer = session.post(f"{base}/admin/login/?next=/admin/", timeout=10, data={
            "csrfmiddlewaretoken": csrf, "username": email, "password": password, "next": "/admin/",
        }, headers={"Referer": f"{base}/admin/login/"})
        assert answer.status_code == 200 and "Log out" in answer.text

        # Every by-hand command of the README runs as written against this stack (same data
        # folder: the same embedded servers and generated keys), the Stripe demo included.
        commands = readme_by_hand_commands()
        assert any("stripe_demo_events" in c for c in commands) and any("wallet_health" in c for c in commands)
        by_hand_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
        for command in commands:
            done = subprocess.run(command, shell=True, cwd=ROOT, env=by_hand_env, capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
            assert '"event":' not in done.stdout, (command, done.stdout[-2000:])  # no JSON log lines

        # Ctrl-C stops everything by itself within the grace, embedded servers included.
        os.killpg(stack.pid, signal.SIGINT)
        assert stack.wait(timeout=60) == 0, log_path.read_text()[-3000:]
        deadline = time.monotonic() + STOP_GRACE_S
        while processes_mentioning(str(tmp_path / "data")) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert processes_mentioning(str(tmp_path / "data")) == [], log_path.read_text()[-3000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/health/", timeout=2)


@pytest.mark.slow
@pytest.mark.timeout(900)  # waits for the embedded servers of a stack started on a busy machine
def test_a_killed_runstack_leaves_no_process_behind(tmp_path):
    """SIGKILL of the launcher mid-start (as a crashed or timed-out test would leave it): the
    harness still stops every process the stack started, wherever it runs."""
    data = str(tmp_path / "data")
    with pytest.raises(AssertionError, match="the test body failed"):  # noqa: PT012  (the block is the scenario)
        with running_stack(tmp_path) as (stack, _base, log_path, _env):
            deadline = time.monotonic() + 600  # a loaded machine is slow, not wrong

            def children() -> list[int]:
                return [pid for pid in processes_mentioning(data) if pid != stack.pid]

            # Wait until the stack has started processes of its own (the embedded servers).
            while not children() and time.monotonic() < deadline:
                assert stack.poll() is None, log_path.read_text()[-3000:]
                time.sleep(0.5)
            assert children(), log_path.read_text()[-3000:]
            os.kill(stack.pid, signal.SIGKILL)
            raise AssertionError("the test body failed")
    assert processes_mentioning(data) == []


# --- the steps before serving (no stack started) ---------------------------------------------


@pytest.mark.django_db
def test_the_startup_health_check_is_the_hourly_job_and_leaves_its_last_run():
    assert not JobRun.objects.filter(job="wallet.health_check").exists()  # the panel's "never"
    assert startup_checks_run(call_command) == []
    run = JobRun.objects.get(job="wallet.health_check")
    assert run.outcome == "ok"  # what the dashboard panel shows as the last run


def test_make_run_checks_health_after_the_demo_data_and_a_failure_does_not_stop_it():
    done = []

    def call(command, **options):
        done.append(command)
        if command == "wallet_health":
            raise CommandError("the database went away")

    with capture_logs() as logs:
        release_steps_run(call)  # returns: the stack goes on to serve
    assert done == ["migrate", "collectstatic", "seed_demo", "ensure_admin", "wallet_health"]
    assert [(e["event"], e["command"]) for e in logs if e["log_level"] == "error"] == [
        ("startup_check_failed", "wallet_health")]
