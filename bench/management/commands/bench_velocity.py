"""`manage.py bench_velocity`: what the spend-velocity breaker costs on the consume path, in a
throw-away (migrated) database.

The breaker is one upsert (`wallet.services.velocity.CHARGE_CTES`, carried by the usage event's insert) in the consume's
transaction, under the wallet lock. Measured: statements and wall time of a paid consume
(`energy_consume`, breaker included), of the same consume's ledger part alone (`wallet_debit`,
no breaker), and of the breaker's charge alone (lock + upsert, minus the lock measured alone).
"""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand
from django.db import transaction

from bench.ledgers import load_average
from bench.management.commands.bench_luna import LunaBenchDatabase
from bench.management.commands.bench_webhooks import _timed
from phoenix.accounts.tests.factories import UserFactory
from wallet.models import EnergyAction, OperationSource, SpendVelocityOverride
from wallet.services import wallet_credit, wallet_debit
from wallet.services.energy import energy_consume
from wallet.services.ledger import lock_wallet_of_user
from wallet.services.velocity import velocity_charge

ACTION = "format_lettre"  # a paid action


class Command(BaseCommand):
    help = "Benchmark the spend-velocity breaker on the consume path: statements and time per consume."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--consumes", type=int, default=300, help="Calls per measured path.")

    def handle(self, *args, consumes, **options):
        out = self.stdout.write
        out(f"cores: {os.cpu_count()}  load average (1/5/15 min) at start: {load_average()}")
        with LunaBenchDatabase() as database:
            out(f"database: {database.name} (migrated for this run, dropped at the end)")
            user = UserFactory()
            wallet_credit(user=user, amount=10**9, source=OperationSource.SYSTEM, reason="bench")
            SpendVelocityOverride.objects.create(user=user, max_energy=10**12)  # never trips here
            cost = EnergyAction.objects.get(code=ACTION).cost

            def consume():
                with transaction.atomic():
                    energy_consume(user=user, action_code=ACTION)

            def debit_only():
                with transaction.atomic():
                    wallet_debit(user=user, amount=cost, source=OperationSource.API, reason="bench", reference=ACTION)

            def lock_only():
                with transaction.atomic():
                    lock_wallet_of_user(user)

            def lock_and_charge():
                with transaction.atomic():
                    velocity_charge(wallet=lock_wallet_of_user(user), energy=cost, fair_use=False)

            out("")
            out("| path | statements | mean ms | p50 ms |")
            out("|---|---|---|---|")
            for label, work in (("consume (energy_consume, breaker included)", consume),
                                ("wallet_debit alone (no breaker, no event)", debit_only),
                                ("wallet lock alone", lock_only),
                                ("wallet lock + breaker charge", lock_and_charge)):
                statements, mean, p50 = _timed(consumes, work)
                out(f"| {label} | {statements} | {mean:.3f} | {p50:.3f} |")
        out(f"\nload average (1/5/15 min) at the end: {load_average()}")
