"""`make run`: the whole system on one machine, for development and demos.

Prepares everything (secret key, embedded PostgreSQL/Redis when the URLs are unset,
migrations, static files, demo data, an admin with a random password), then runs the
Procfile (web, worker, beat) with honcho. Ctrl-C stops it all, embedded servers too.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def _development_secret_key(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


def main() -> int:
    os.chdir(BASE_DIR)
    data_dir = Path(os.environ.get("PHOENIX_DATA_DIR", BASE_DIR / ".devdata"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phoenix.settings")
    os.environ.setdefault("LOG_FORMAT", "console")
    if not os.environ.get("SECRET_KEY"):
        os.environ["SECRET_KEY"] = _development_secret_key(data_dir)

    # Django is loaded only once the environment above names its settings and secret.
    import django  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415

    django.setup()  # settings start the embedded servers and export their URLs
    from django.conf import settings  # noqa: PLC0415

    if settings.EMBEDDED_SERVICES:
        print(f"embedded services: {', '.join(settings.EMBEDDED_SERVICES)} (data in {data_dir})")
    call_command("migrate", interactive=False, verbosity=1)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("seed_demo")
    call_command("ensure_admin")

    bind = os.environ.setdefault("WEB_BIND", "127.0.0.1:8000")
    print(f"\nPhoenix on http://{bind}/  admin: /admin/  API docs: /api/docs/  health: /health/\n")

    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    honcho = subprocess.Popen([sys.executable, "-m", "honcho", "start", "-f", "Procfile"], env=env)
    # SIGTERM (e.g. from a supervisor) stops the stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    try:
        return honcho.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        if honcho.poll() is None:
            honcho.terminate()  # honcho stops web, worker and beat in turn
            try:
                honcho.wait(timeout=30)
            except subprocess.TimeoutExpired:
                honcho.kill()


if __name__ == "__main__":
    sys.exit(main())
