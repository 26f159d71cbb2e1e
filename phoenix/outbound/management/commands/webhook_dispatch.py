"""The dispatcher by hand: queue every due pending delivery, disable endpoints failing too long."""

from __future__ import annotations

from django.core.management.base import CommandError

from phoenix.core.jobs import JobCommand, parse_job_now
from phoenix.outbound import tasks
from phoenix.outbound.services.delivery import deliveries_dispatch


class Command(JobCommand):
    help = "Queue the due webhook deliveries for the workers (what beat runs every minute)."

    def handle(self, *args, now=None, dry_run=False, **options):
        report = deliveries_dispatch(now=parse_job_now(now), dry_run=dry_run, enqueue=tasks.deliveries_enqueue)
        if report.skipped_locked:
            raise CommandError("another run holds the lock; nothing done")
        prefix = "[dry-run] would queue" if dry_run else "queued"
        self.stdout.write(f"{prefix} {len(report.enqueued)} delivery(ies); "
                          f"endpoints disabled (failing): {report.disabled_endpoints or 'none'}")
