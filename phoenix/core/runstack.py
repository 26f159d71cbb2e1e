"""`make run`: the whole system on one machine, for development and demos.

Prepares everything (secret key, embedded PostgreSQL/Redis when the URLs are unset,
migrations, static files, demo data, an admin with a random password, one wallet health
check), then runs the Procfile (web, worker, beat; the release step is done above) with
honcho. Ctrl-C stops it all, embedded servers too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import structlog

from phoenix.core.devenv import BASE_DIR, data_dir, development_environment_prepare

logger = structlog.get_logger("phoenix.runstack")

PR_SET_PDEATHSIG = 1  # linux/prctl.h
# honcho's exit codes when Ctrl-C (SIGINT) or SIGTERM stopped it
STOPPED_BY_SIGNAL = {0, 130, 143, -signal.SIGINT, -signal.SIGTERM}


def _die_with_parent() -> None:
    """In the child, before exec: if runstack dies (even by SIGKILL), the kernel sends the
    child SIGTERM, so honcho stops web, worker and beat instead of leaking them."""
    # Not Linux: no prctl, and Ctrl-C and SIGTERM still stop everything.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# Run once before serving, after the demo data: the hourly beat job's own command, so the
# dashboard's health panel shows a real last run rather than "unknown / never" for the first
# hour. Not needed to serve: a failure is logged and the stack starts anyway.
STARTUP_CHECKS = ("wallet_health",)


def startup_checks_run(call_command: Callable[..., object]) -> list[str]:
    """Run each of STARTUP_CHECKS once; return the ones that failed (logged, not raised)."""
    failed = []
    for command in STARTUP_CHECKS:
        try:
            call_command(command)
        except Exception:  # any failure: the check is informative, serving is what matters
            logger.exception("startup_check_failed", command=command)
            failed.append(command)
    return failed


def release_steps_run(call_command: Callable[..., object]) -> None:
    """What `make run` does before serving (the Procfile's release step and more), in order."""
    call_command("migrate", interactive=False, verbosity=1)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("seed_demo")
    call_command("ensure_admin")
    startup_checks_run(call_command)


def main() -> int:
    os.chdir(BASE_DIR)
    os.environ.setdefault("LOG_FORMAT", "console")
    generated = development_environment_prepare(always=True)

    # Django is loaded only once the environment above names its settings and secret.
    import django  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415

    django.setup()  # settings start the embedded servers and export their URLs
    from django.conf import settings  # noqa: PLC0415

    if settings.EMBEDDED_SERVICES:
        print(f"embedded services: {', '.join(settings.EMBEDDED_SERVICES)} (data in {data_dir()})")
    release_steps_run(call_command)

    bind = os.environ.setdefault("WEB_BIND", "127.0.0.1:8000")
    print(f"\nPhoenix on http://{bind}/  admin: /admin/  API docs: /api/docs/  health: /health/\n")

    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    if "STRIPE_WEBHOOK_SECRET" in generated:
        print(f"development Stripe webhook secret: {generated['STRIPE_WEBHOOK_SECRET']}\n"
              "  demo events, signed with it: .venv/bin/python manage.py stripe_demo_events\n")
    processes = ["web", "worker", "beat"]  # not the Procfile's release step: done above
    honcho = subprocess.Popen([sys.executable, "-m", "honcho", "start", "-f", "Procfile", *processes], env=env,
                              preexec_fn=_die_with_parent)
    # SIGTERM (e.g. from a supervisor) stops the stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        code = honcho.wait()
    except KeyboardInterrupt:
        code = 0  # a deliberate stop is a clean exit, not an error for make to report
    finally:
        if honcho.poll() is None:
            honcho.terminate()  # honcho stops web, worker and beat in turn
            try:
                honcho.wait(timeout=30)
            except subprocess.TimeoutExpired:
                honcho.kill()
    # Ctrl-C reaches honcho too, and it may exit (130) before our own KeyboardInterrupt is
    # raised: a stop by signal is still a clean stop.
    return 0 if code in STOPPED_BY_SIGNAL else code

if __name__ == "__main__":
    sys.exit(main())
