import os
import time

from django.core.management.base import BaseCommand

from bench.database import (
    BenchDatabase,
    append_operations,
    create_lots,
    create_wallets,
    generate_ten_operation_wallets,
    truncate_ledger,
    vacuum_analyze,
)
from bench.ledgers import FUNDING_LOTS, HOT_FUNDING, load_average, run_scenario, statements_per_consume, time_health
from wallet.models import Wallet
from wallet.selectors import wallet_health_findings


def _ints(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip()]


class Command(BaseCommand):
    help = ("Benchmark the ledger in a throw-away database: consume and freeze+commit throughput and "
            "p50/p99 latency (service layer vs raw-SQL baseline, energy lots included), the statements a consume "
            "issues, and health-check time vs wallet count.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=3.0, help="Duration of each throughput run.")
        parser.add_argument("--workers", type=_ints, default=[1, 4, 16], help="Comma-separated thread counts.")
        parser.add_argument("--spread-wallets", type=int, default=1000)
        parser.add_argument("--health-sizes", type=_ints, default=[10_000, 100_000],
                            help="Comma-separated wallet counts for the health timing (10 operations each).")
        parser.add_argument("--health-repeats", type=int, default=3)
        parser.add_argument("--skip-throughput", action="store_true")
        parser.add_argument("--skip-health", action="store_true")
        parser.add_argument("--keep-db", action="store_true", help="Do not drop the bench database at the end.")

    def handle(self, *args, **options):
        out = self.stdout.write
        started = time.perf_counter()
        out(f"cores: {os.cpu_count()}  load average (1/5/15 min) at start: {load_average()}")
        with BenchDatabase(keep=options["keep_db"]) as database:
            out(f"database: {database.name} (created for this run, dropped at the end)")
            if not options["skip_throughput"]:
                self._throughput(options)
            if not options["skip_health"]:
                self._health(options)
        out(f"load average at end: {load_average()}  total {time.perf_counter() - started:.0f} s")

    def _throughput(self, options) -> None:
        out = self.stdout.write
        hot = create_wallets(1)
        spread = create_wallets(options["spread_wallets"])
        for wallets in (hot, spread):
            append_operations(wallets=wallets, op_type="credit", amount=HOT_FUNDING)
            # The funding as lots of different categories and expiries: a consume walks them in order.
            create_lots(wallets=wallets, lots=FUNDING_LOTS)
        vacuum_analyze()
        hot_user = Wallet.objects.get(pk=hot[0]).user_id
        spread_users = list(Wallet.objects.filter(pk__range=spread).values_list("user_id", flat=True))
        statements = statements_per_consume(spread_users[0])
        out(f"\na consume issues {len(statements)} SQL statements in its transaction (the raw baseline: the same "
            f"but the outbox emit), each wallet funded with {len(FUNDING_LOTS)} lots:")
        for statement in statements:
            out(f"  - {' '.join(statement.split())[:110]}...")

        out("")
        out("| operation | wallets | workers | service ops/s | service p50 / p99 ms | raw ops/s "
            "| raw p50 / p99 ms | service/raw |")
        out("|---|---|---|---|---|---|---|---|")
        for operation in ("consume", "freeze_commit"):
            for placement in ("hot", "spread"):
                for workers in options["workers"]:
                    results = {
                        layer: run_scenario(
                            layer=layer, operation=operation, placement=placement, workers=workers,
                            seconds=options["seconds"], hot_user=hot_user, spread_users=spread_users)
                        for layer in ("service", "raw")
                    }
                    service, raw = results["service"], results["raw"]
                    ratio = service.throughput / raw.throughput if raw.throughput else 0.0
                    label = "1 (hot)" if placement == "hot" else f"{options['spread_wallets']:,}"
                    out(f"| {'consume (debit)' if operation == 'consume' else 'freeze+commit'} | {label} "
                        f"| {workers} | {service.throughput:,.0f} "
                        f"| {service.percentile(50):.2f} / {service.percentile(99):.2f} "
                        f"| {raw.throughput:,.0f} | {raw.percentile(50):.2f} / {raw.percentile(99):.2f} "
                        f"| {ratio:.0%} |")
        findings = wallet_health_findings()
        out(f"\nafter the throughput runs the health check finds {len(findings)} anomalies "
            f"(both layers wrote valid hash chains)")

    def _health(self, options) -> None:
        out = self.stdout.write
        truncate_ledger()
        out("")
        out("| wallets | operations | health check (median) | per 1k wallets | anomalies found |")
        out("|---|---|---|---|---|")
        current = 0
        for size in sorted(options["health_sizes"]):
            generated = time.perf_counter()
            generate_ten_operation_wallets(size - current)
            vacuum_analyze()
            generation_s = time.perf_counter() - generated
            current = size
            seconds, anomalies = time_health(options["health_repeats"])
            out(f"| {size:,} | {size * 10:,} | {seconds:.2f} s | {seconds / size * 1000 * 1000:.1f} ms "
                f"| {anomalies} |  (data generated in {generation_s:.0f} s)")
