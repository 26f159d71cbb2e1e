"""The release step of a deploy (the Procfile's ``release:`` entry): the schema, seeds,
beat schedules and roles (``migrate``), then the static files the admin and the API docs
serve through WhiteNoise (``collectstatic``). One at a time across the deployment: a second
release waits for the first (a PostgreSQL advisory lock)."""

from __future__ import annotations

import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from phoenix.core.jobs import advisory_lock

RELEASE_LOCK = "phoenix.release"


class Command(BaseCommand):
    help = "Release step of a deploy: migrate (schema, seeds, schedules, roles), then collectstatic."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=int, default=600, help="Seconds to wait for another release.")

    def handle(self, *args, wait: int, **options):
        deadline = time.monotonic() + wait
        while True:
            with advisory_lock(RELEASE_LOCK) as acquired:
                if acquired:
                    call_command("migrate", interactive=False, verbosity=options["verbosity"])
                    call_command("collectstatic", interactive=False, verbosity=options["verbosity"])
                    self.stdout.write("release: migrated, static files collected")
                    return
            if time.monotonic() > deadline:
                raise CommandError("Another release holds the lock; nothing was done.")
            time.sleep(1)
