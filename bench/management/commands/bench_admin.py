"""`manage.py bench_admin`: the admin's pages at N users x 10 operations (default 100k / 1M).

A throw-away database with the migrated schema (bench_luna's), filled set-based in SQL
(bench.database.generate_ten_operation_wallets: users, wallets, 10 hash-chained operations over
the last 30 days, 3 holds each; a usage event per API debit, a paid pack per user), ANALYZEd,
the dashboard's rollups refreshed (timed); then the Django test client, logged in as a
superuser, times /admin/, each big changelist, a search on each and a deep page: ms and query
count per page, with the load average and core count.
"""

from __future__ import annotations

import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.database import generate_ten_operation_wallets, sql
from bench.management.commands.bench_luna import LunaBenchDatabase
from phoenix.accounts.models import User
from wallet.services import operation_rollup_refresh

CHANGELISTS = ["wallet_balanceoperation", "wallet_hold", "wallet_usageevent", "wallet_wallet", "accounts_user",
               "billing_payment"]


def _usage_events_and_payments() -> None:
    """What a live system has beside the ledger: a usage event per API debit (its action,
    energy and operation) and a paid pack per user, at its operations' times."""
    sql("""INSERT INTO wallet_usageevent (user_id, action_code, category, source_app, energy_consumed, unlimited,
                                          operation_id, refund_of_id, metadata, idempotency_key, created_at)
           SELECT w.user_id, o.reference, 'letters', 'letters', o.amount, false, o.id, NULL, '{}', NULL, o.created_at
           FROM wallet_balanceoperation o JOIN wallet_wallet w ON w.id = o.wallet_id
           WHERE o.type = 'debit' AND o.source = 'api'""")
    sql("""INSERT INTO billing_payment (public_id, user_id, flow, product_kind, product_code, amount_cents, currency,
                                        status, stripe_checkout_session_id, stripe_payment_intent_id, stripe_charge_id,
                                        fulfilled_quantity, fulfilled_at, amount_refunded_cents, disputed_at, metadata,
                                        created_at, updated_at, status_changed_at)
           SELECT gen_random_uuid(), w.user_id, 'checkout', 'energy_pack', 'cafe_luna', 299, 'eur', 'pending',
                  'cs_bench_' || w.id, 'pi_bench_' || w.id, '', 110, o.created_at, 0, NULL, '{}',
                  o.created_at, o.created_at, o.created_at
           FROM wallet_wallet w JOIN wallet_balanceoperation o ON o.wallet_id = w.id AND o.seq = 1""")
    sql("UPDATE billing_payment SET status = 'succeeded'")  # the status guard: payments start pending


class Command(BaseCommand):
    help = "Time the admin's pages at N users x 10 operations (default 100k / 1M)."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=100_000)
        parser.add_argument("--keep", action="store_true", help="keep the bench database")
        parser.add_argument("--slowest", type=int, default=0, metavar="N",
                            help="also print each page's N slowest statements (where the time goes)")

    def handle(self, *args, **options):
        with LunaBenchDatabase(keep=options["keep"]):
            started = time.perf_counter()
            for _ in range(0, options["users"], 10_000):
                generate_ten_operation_wallets(min(10_000, options["users"]))
            _usage_events_and_payments()
            for table in ("accounts_user", "wallet_wallet", "wallet_hold", "wallet_balanceoperation",
                          "wallet_usageevent", "billing_payment"):
                sql(f"VACUUM ANALYZE {table}")
            self.stdout.write(f"data: {options['users']} users in {time.perf_counter() - started:.0f} s")
            # As production's beat does every 5 minutes: the dashboard then reads the rollups and
            # only the operations after the cursor. Timed: the first refresh rolls up all history,
            # a later one the last hours.
            for label in ("first rollup refresh (all history)", "rollup refresh (the last hours)"):
                t0 = time.perf_counter()
                report = operation_rollup_refresh()
                self.stdout.write(f"{label}: {report.buckets} buckets in {(time.perf_counter() - t0) * 1000:.0f} ms")
            admin = User.objects.create_superuser("bench-admin@bench.invalid", "x")
            settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test client's host
            # No collectstatic here: the pages link the app directories' files, unhashed.
            settings.STORAGES = {**settings.STORAGES, "staticfiles": {
                "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
            client = Client()
            client.force_login(admin)
            email = User.objects.filter(email__startswith="bench").exclude(pk=admin.pk).first().email
            pages = ["/admin/"]
            for name in CHANGELISTS:
                base = f"/admin/{name.replace('_', '/', 1)}/"
                pages += [base, f"{base}?q={email}", f"{base}?p=150"]
            self.stdout.write(f"load average {os.getloadavg()}, {os.cpu_count()} cores")
            self.stdout.write(f"{'page':<55} {'ms':>8} {'queries':>8}")
            for page in pages:
                client.get(page)  # warm (templates, plans)
                with CaptureQueriesContext(connection) as ctx:
                    t0 = time.perf_counter()
                    status = client.get(page).status_code
                    ms = (time.perf_counter() - t0) * 1000
                if status != 200:
                    raise CommandError(f"{page} answered {status}")
                self.stdout.write(f"{page[:55]:<55} {ms:8.0f} {len(ctx.captured_queries):8d}")
                slowest = sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))[: options["slowest"]]
                for query in slowest:
                    self.stdout.write(f"    {float(query['time']) * 1000:7.0f} ms  {query['sql'][:300]}")
            self.stdout.write(f"load average {os.getloadavg()}")
