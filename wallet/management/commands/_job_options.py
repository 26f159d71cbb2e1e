"""Options shared by the wallet job commands: `--now <ISO datetime>` and `--dry-run`."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.utils import timezone


def add_job_arguments(parser) -> None:
    parser.add_argument("--now", help="Run as if it were this moment (ISO 8601; naive means UTC).")
    parser.add_argument("--dry-run", action="store_true", help="Report what would be done; write nothing.")


def parse_now(value: str | None) -> datetime:
    if not value:
        return timezone.now()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--now: not an ISO 8601 datetime: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
