"""gunicorn settings for Phoenix (``gunicorn -c python:phoenix.core.gunicorn_config``).

Prometheus multiprocess mode: every worker writes its metrics into ``PROMETHEUS_MULTIPROC_DIR``
and ``/metrics`` adds them up. Without the variable, a fresh private directory is made
for this master (several workers are then still counted right; set it to a directory shared
with the Celery worker for ``/metrics`` to show the worker's job runs too). The directory is
emptied when gunicorn starts (stale files of a previous run would be added in), and a dead
worker's live gauges are dropped.
"""

import os
import shutil
import tempfile
from pathlib import Path

_private = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="phoenix-prometheus-")
# Before prometheus_client is imported: it picks its per-process value files at import, and
# the workers inherit the master's imported module.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _directory

from prometheus_client import multiprocess  # noqa: E402 (after the variable, see above)


def on_starting(server) -> None:
    path = Path(_directory)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.glob("*.db"):
        entry.unlink(missing_ok=True)


def child_exit(server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _private:
        shutil.rmtree(_directory, ignore_errors=True)
