"""Run the Stripe reconciliation by hand: `manage.py billing_reconcile [--now ISO] [--dry-run] [--yes]`."""

from __future__ import annotations

from django.core.management.base import CommandError

from billing.services.reconciliation import payments_reconcile
from phoenix.core.jobs import JobCommand, parse_job_now


class Command(JobCommand):
    help = "Check every succeeded energy-pack payment against the ledger; record mismatches."

    def handle(self, *args, **options):
        report = payments_reconcile(now=parse_job_now(options["now"]), dry_run=options["dry_run"])
        if report.skipped_locked:  # as every job command (phoenix.core.jobs.StepsJobCommand)
            raise CommandError("another run holds the lock; nothing done")
        for finding in report.findings:
            self.stdout.write(f"{finding.code}\t{finding.subject}\t{finding.detail}")
        mode = " (dry run)" if report.dry_run else ""
        self.stdout.write(
            f"{len(report.findings)} mismatch(es){mode}; opened {report.opened}, "
            f"still open {report.bumped}."
        )
