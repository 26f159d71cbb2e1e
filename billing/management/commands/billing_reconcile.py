"""Run the Stripe reconciliation by hand: `manage.py billing_reconcile [--now ISO] [--dry-run]`."""

from __future__ import annotations

from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from billing.services.reconciliation import payments_reconcile


class Command(BaseCommand):
    help = "Check every succeeded energy-pack payment against the ledger; record mismatches."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO datetime used as the detection time.")
        parser.add_argument("--dry-run", action="store_true", help="Report only, write nothing.")

    def handle(self, *args, **options):
        now = None
        if options["now"]:
            now = parse_datetime(options["now"])
            if now is None:
                raise CommandError(f"--now: not an ISO datetime: {options['now']!r}")
            if timezone.is_naive(now):
                now = timezone.make_aware(now, UTC)
        report = payments_reconcile(now=now, dry_run=options["dry_run"])
        if not report.ran:
            self.stdout.write("Another reconciliation is running; nothing done.")
            return
        for finding in report.findings:
            self.stdout.write(f"{finding.code}\t{finding.subject}\t{finding.detail}")
        mode = " (dry run)" if report.dry_run else ""
        self.stdout.write(
            f"{len(report.findings)} mismatch(es){mode}; opened {report.opened}, "
            f"still open {report.bumped}."
        )
