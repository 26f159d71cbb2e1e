"""Register a webhook endpoint and print its secret (the only time it is shown)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from phoenix.core.errors import PhoenixError
from phoenix.outbound import operator
from phoenix.outbound.catalogue import SUBSCRIBABLE_TYPES
from phoenix.outbound.services.endpoints import endpoint_create


class Command(BaseCommand):
    help = "Register a webhook endpoint; prints its whsec_ secret once."

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True)
        parser.add_argument("--events", default=",".join(SUBSCRIBABLE_TYPES),
                            help="Comma-separated event types (default: all).")
        parser.add_argument("--description", default="")
        parser.add_argument("--threshold", type=int, default=None, help="wallet.balance_low threshold.")
        parser.add_argument("--by", help="E-mail of the staff user acting (the action is then audited).")
        parser.add_argument("--reason", default="", help="Why (required with --by).")

    def handle(self, *args, url, events, description, threshold, by, reason, **options):
        fields = {"url": url, "event_types": [e.strip() for e in events.split(",") if e.strip()],
                  "description": description, "balance_low_threshold": threshold}
        try:
            if by:
                actor = get_user_model().objects.filter(email=by, is_staff=True).first()
                if actor is None:
                    raise CommandError(f"--by: no staff user {by!r}")
                endpoint = operator.endpoint_register(actor=actor, reason=reason, **fields)
            else:
                endpoint = endpoint_create(**fields)
        except PhoenixError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from None
        self.stdout.write(f"endpoint {endpoint.pk}: {endpoint.url}")
        self.stdout.write(f"events: {', '.join(endpoint.event_types)}")
        self.stdout.write(f"secret (shown once, store it in the receiver): {endpoint.secret}")
