"""Post correctly signed sample Stripe events to a running Phoenix, for demos without Stripe.

    manage.py stripe_demo_events --email ada@demo.phoenix.local
    manage.py stripe_demo_events --scenario purchase --pack repas_luna --url http://127.0.0.1:8001/stripe/webhook/

Scenarios: ``purchase`` (checkout.session.completed, delivered twice: credited once),
``refund`` (a purchase then charge.refunded: energy clawed back), ``dispute`` (a purchase
then charge.dispute.created), ``unknown`` (an event type nobody handles: ignored),
``all`` (every one of them). Events are signed with ``STRIPE_WEBHOOK_SECRET`` (or
``--secret``) exactly as Stripe signs them, so the server verifies them for real.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from billing import stripe_payloads as sp
from phoenix.core.demo import DEMO_EMAILS
from wallet.models import EnergyPack

SCENARIOS = ("purchase", "refund", "dispute", "unknown")


class Command(BaseCommand):
    help = "Post signed sample Stripe events (pack purchase, refund, dispute, ...) to the webhook."

    def add_arguments(self, parser):
        # The stack `make run` serves (WEB_BIND is its address, as in the Procfile).
        parser.add_argument("--url", default=f"http://{os.environ.get('WEB_BIND', '127.0.0.1:8000')}/stripe/webhook/",
                            help="The webhook to post to (default: the local stack's).")
        parser.add_argument("--email", default=DEMO_EMAILS[0], help="The buyer (an existing user).")
        parser.add_argument("--pack", default="cafe_luna")
        parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
        parser.add_argument("--secret", default=None, help="Defaults to STRIPE_WEBHOOK_SECRET.")

    def handle(self, *args, **options):
        self.secret = options["secret"] or settings.STRIPE_WEBHOOK_SECRET
        if not self.secret:
            raise CommandError("Set STRIPE_WEBHOOK_SECRET (the server must use the same) or --secret.")
        self.url = options["url"]
        try:
            user = get_user_model().objects.get(email=options["email"].lower())
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {options['email']!r} (run `manage.py seed_demo`?).") from None
        pack = EnergyPack.objects.filter(code=options["pack"]).first()
        if pack is None:
            raise CommandError(f"No energy pack {options['pack']!r}.")
        scenarios = SCENARIOS if options["scenario"] == "all" else (options["scenario"],)
        self.refused = 0
        for scenario in scenarios:
            self.stdout.write(self.style.MIGRATE_HEADING(f"== {scenario}"))
            getattr(self, f"_{scenario}")(user=user, pack=pack)
        if self.refused:
            raise CommandError(f"{self.refused} event(s) not accepted by {self.url} (see above)")

    # --- scenarios -------------------------------------------------------------------------

    def _purchase(self, *, user, pack) -> dict:
        session = sp.checkout_session(
            amount=pack.price_cents, currency=pack.currency.lower(),
            metadata=sp.phoenix_metadata(user=user, code=pack.code),
            client_reference_id=str(user.public_id),
        )
        completed = sp.event("checkout.session.completed", session)
        self._post(completed, f"checkout.session.completed ({pack.code} for {user.email})")
        self._post(completed, "the same event again (Stripe retry): credited once")
        return session

    def _refund(self, *, user, pack) -> None:
        session = self._purchase(user=user, pack=pack)
        charge = sp.charge(
            payment_intent_id=session["payment_intent"], amount=pack.price_cents,
            amount_refunded=pack.price_cents, currency=pack.currency.lower(),
            metadata=sp.phoenix_metadata(user=user, code=pack.code),
        )
        self._post(sp.event("charge.refunded", charge), "charge.refunded (full refund: clawback)")

    def _dispute(self, *, user, pack) -> None:
        session = self._purchase(user=user, pack=pack)
        dispute = sp.dispute(payment_intent_id=session["payment_intent"], amount=pack.price_cents,
                             currency=pack.currency.lower())
        self._post(sp.event("charge.dispute.created", dispute), "charge.dispute.created (clawback)")

    def _unknown(self, *, user, pack) -> None:
        self._post(sp.event("customer.tax_id.created", {"id": sp.stripe_id("txi"), "object": "tax_id"}),
                   "an event type without handler: acknowledged, ignored")

    def _post(self, payload: dict, label: str) -> None:
        body = sp.encode(payload)
        request = urllib.request.Request(
            self.url, data=body, method="POST",
            headers={"Content-Type": "application/json",
                     "Stripe-Signature": sp.signature_header(body, secret=self.secret)},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # a local URL (the demo server)
                status, answer = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, answer = exc.code, exc.read().decode()
        except urllib.error.URLError as exc:
            raise CommandError(f"Cannot reach {self.url}: {exc.reason} (is Phoenix running?)") from None
        style = self.style.SUCCESS if status < 300 else self.style.ERROR
        self.refused += status >= 300
        with contextlib.suppress(ValueError):  # not JSON: show it as it came
            answer = json.dumps(json.loads(answer))
        self.stdout.write(style(f"{status}  {label}  {payload['id']}  {answer}"))
