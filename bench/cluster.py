"""Several Phoenix nodes on one machine: N web + M worker + K beat processes pointing at one
PostgreSQL through a real PgBouncer in transaction pooling mode, and one Redis.

Used by `make scale` (bench's `scaleout` command), the multi-node test
(tests/test_scale_out.py) and `bench_scale`. Each node is a separate process group with its
own port (web) or queue (worker: the shared ``celery`` queue plus ``node<i>``, so a caller
can land a task on one given node); clients spread themselves over ``web_urls``. PgBouncer
is Debian's ``pgbouncer`` binary with an ini of our own in a temporary folder, on a free
loopback port, pointing at whichever PostgreSQL the Django settings name (socket or TCP).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
import requests
from django.conf import settings

from phoenix.celery import app

PGBOUNCER_CANDIDATES = ("/usr/sbin/pgbouncer", "pgbouncer")
START_TIMEOUT_S = 180.0  # a loaded 2-core machine boots a dozen Django processes slowly


class ClusterError(RuntimeError):
    """A node of the local cluster did not start or died."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pgbouncer_executable() -> str | None:
    for candidate in PGBOUNCER_CANDIDATES:
        if found := shutil.which(candidate):
            return found
    return None


class PgBouncer:
    """A PgBouncer of our own in front of the server ``connection`` (a Django database
    connection) talks to: ``pool_mode = transaction``, as managed PostgreSQL runs it."""

    def __init__(self, *, connection, pool_size: int = 20, max_client_conn: int = 1000):
        executable = pgbouncer_executable()
        if executable is None:
            raise ClusterError("pgbouncer not found (Debian: apt-get install pgbouncer)")
        connection.ensure_connection()
        info = connection.connection.info  # where the connection really went (socket or TCP)
        self.port = free_loopback_port()
        self.folder = Path(tempfile.mkdtemp(prefix="phoenix-pgbouncer-"))
        backend_host, backend_port = info.host, str(info.port)
        self.backend = f"{backend_host}:{backend_port}"
        run_as: list[str] = []
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root: run it as the owner of the server's socket
            # folder (who may open the socket), or nobody for a TCP server.
            owner = (pwd.getpwuid(os.stat(backend_host).st_uid).pw_name
                     if backend_host.startswith("/") else "nobody")
            if owner == "root":
                owner = "nobody"
            run_as = ["-u", owner]
            os.chown(self.folder, pwd.getpwnam(owner).pw_uid, -1)
        user, self.password = info.user, info.password
        backend = f"host={backend_host} port={backend_port} user={user}"
        if self.password:
            backend += f" password={self.password}"
        ini = self.folder / "pgbouncer.ini"
        ini.write_text("\n".join([
            "[databases]",
            f"* = {backend}",  # any database name, on the one server
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = any",  # loopback only; the server's own auth applies behind it
            "pool_mode = transaction",
            f"default_pool_size = {pool_size}",
            f"max_client_conn = {max_client_conn}",
            "server_reset_query =",
            "ignore_startup_parameters = extra_float_digits,options",
            f"logfile = {self.folder / 'pgbouncer.log'}",
            f"pidfile = {self.folder / 'pgbouncer.pid'}",
            "",
        ]))
        self.user = user
        self.process = subprocess.Popen([executable, *run_as, str(ini)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True)

    def url(self, name: str) -> str:
        password = f":{quote(self.password, safe='')}" if self.password else ""
        return f"postgres://{quote(self.user, safe='')}{password}@127.0.0.1:{self.port}/{name}"

    def wait_ready(self, *, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                log = (self.folder / "pgbouncer.log")
                raise ClusterError(f"pgbouncer exited: {self.process.stderr.read().decode()[-2000:]}"
                                   f"{log.read_text()[-2000:] if log.exists() else ''}")
            try:
                with psycopg.connect(self.url(name), connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        _stop(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)


def _stop(process: subprocess.Popen, *, timeout: float = 30.0) -> None:
    """SIGTERM the process group (gunicorn's and celery's children too), then SIGKILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


@dataclass
class Node:
    role: str  # web, worker, beat
    index: int
    command: list[str]
    log: Path
    url: str = ""
    process: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return f"{self.role}{self.index}"


@dataclass
class Cluster:
    """``web`` gunicorn nodes, ``workers`` Celery worker nodes and ``beats`` beats, all on
    ``database_url`` (normally PgBouncer's) and ``redis_url``. ``env`` adds settings."""

    database_url: str
    redis_url: str
    web: int = 2
    workers: int = 2
    beats: int = 0
    web_processes: int = 1
    web_threads: int = 8
    worker_concurrency: int = 1
    env: dict[str, str] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="phoenix-cluster-"))

    @property
    def web_urls(self) -> list[str]:
        return [node.url for node in self.nodes if node.role == "web"]

    def node_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "DB_PGBOUNCER": "true",
            "SECRET_KEY": settings.SECRET_KEY,  # one key for every node
            "PYTHONPATH": str(settings.BASE_DIR),
            "LOG_LEVEL": "WARNING",
            **self.env,
        }

    def start(self) -> Cluster:
        python = sys.executable
        for index in range(1, self.web + 1):
            port = free_loopback_port()
            self._spawn(Node("web", index, [
                python, "-m", "gunicorn", "phoenix.wsgi:application", "--bind", f"127.0.0.1:{port}",
                "--workers", str(self.web_processes), "--worker-class", "gthread",
                "--threads", str(self.web_threads), "--no-control-socket", "--log-level", "warning",
            ], self.folder / f"web{index}.log", url=f"http://127.0.0.1:{port}"))
        for index in range(1, self.workers + 1):
            self._spawn(Node("worker", index, [
                python, "-m", "celery", "-A", "phoenix", "worker", "--loglevel", "WARNING",
                "-n", f"node{index}@%h", "-Q", f"celery,node{index}",
                "--concurrency", str(self.worker_concurrency), "--without-gossip", "--without-mingle",
            ], self.folder / f"worker{index}.log"))
        return self.start_beats()

    def start_beats(self) -> Cluster:
        """The beats (``beats`` of them; more than one is harmless, README "Scaling out")."""
        python = sys.executable
        started = sum(node.role == "beat" for node in self.nodes)
        for index in range(started + 1, self.beats + 1):
            self._spawn(Node("beat", index, [
                python, "-m", "celery", "-A", "phoenix", "beat", "--loglevel", "INFO",  # one line per send
                "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile", str(self.folder / f"beat{index}.pid"),
            ], self.folder / f"beat{index}.log"))
        return self

    def _spawn(self, node: Node) -> None:
        with open(node.log, "wb") as log:
            node.process = subprocess.Popen(node.command, env=self.node_env(), cwd=settings.BASE_DIR,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.nodes.append(node)

    def check_alive(self) -> None:
        for node in self.nodes:
            if node.process.poll() is not None:
                raise ClusterError(f"{node.name} exited ({node.process.returncode}): {self.log_tail(node)}")

    def log_tail(self, node: Node, chars: int = 3000) -> str:
        return node.log.read_text(errors="replace")[-chars:] if node.log.exists() else ""

    def wait_ready(self, *, timeout: float = START_TIMEOUT_S) -> None:
        """Every web node answers /health/ and every worker node answers a ping."""
        deadline = time.monotonic() + timeout
        waiting_web = set(self.web_urls)
        waiting_workers = {f"node{n.index}" for n in self.nodes if n.role == "worker"}
        while waiting_web or waiting_workers:
            self.check_alive()
            if time.monotonic() > deadline:
                raise ClusterError(f"not ready in {timeout:.0f} s: {sorted(waiting_web | waiting_workers)}")
            for url in list(waiting_web):
                try:
                    requests.get(f"{url}/health/", timeout=10)  # any answer: the node serves
                    waiting_web.discard(url)
                except (requests.ConnectionError, requests.Timeout):
                    pass
            if waiting_workers:
                replies = app.control.ping(timeout=1.0) or []
                for reply in replies:
                    for hostname in reply:
                        waiting_workers.discard(hostname.split("@", 1)[0])
            time.sleep(0.3)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                _stop(node.process)
        shutil.rmtree(self.folder, ignore_errors=True)
