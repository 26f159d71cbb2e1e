from django.core.management.base import BaseCommand, CommandError

from subscriptions import services
from phoenix.core.jobs import add_job_arguments, parse_job_now


class Command(BaseCommand):
    help = "Expire individual trials and paid periods that are over (hourly job)."

    def add_arguments(self, parser):
        add_job_arguments(parser)

    def handle(self, *args, now=None, dry_run=False, **options):
        at = parse_job_now(now)
        try:
            steps = services.access_expire_due(now=at, dry_run=dry_run)
        except services.JobAlreadyRunning:
            raise CommandError("another run holds the lock; nothing done") from None
        prefix = "[dry-run] would do" if dry_run else "done"
        for step in steps:
            self.stdout.write(f"{prefix}: {step.describe()}")
        self.stdout.write(f"{len(steps)} step(s) at {at.isoformat()}")
