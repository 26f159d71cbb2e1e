"""Backfill or re-sync the dj-stripe mirror from Stripe (``STRIPE_API_BASE``): every Stripe
object Phoenix's payments, accesses and pro accounts name, and every mirrored customer."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from billing.errors import StripeNotConfigured, StripeUnavailable
from billing.services.mirror import mirror_backfill


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List the objects; sync nothing.")

    def handle(self, *args, dry_run=False, **options):
        try:
            report = mirror_backfill(dry_run=dry_run)
        except (StripeNotConfigured, StripeUnavailable) as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        if report.skipped_locked:
            raise CommandError("another backfill holds the lock; nothing done")
        for step in report.steps:
            self.stdout.write(f"[dry-run] would sync: {step}")
        for ref in report.missing:
            self.stdout.write(f"unknown to Stripe: {ref}")
        self.stdout.write(f"synced {len(report.synced)}, missing {len(report.missing)}"
                          + (f", would sync {len(report.steps)}" if dry_run else ""))
