import os
import time
from collections import Counter

from django.core.management.base import BaseCommand
from django.db import connection

from bench.database import BenchDatabase, append_operations, create_lots, create_wallets, vacuum_analyze
from bench.ledgers import FUNDING_LOTS, HOT_FUNDING, load_average, statements_per_consume
from bench.pgledger_bench import PgLedgerDatabase, run_in_processes
from wallet.models import Wallet
from wallet.selectors import wallet_health_findings

LAYERS = ("service", "service_prepared", "raw", "raw_nolots", "pgledger")
LABELS = {"service": "service", "service_prepared": "service prepared", "raw": "raw", "raw_nolots": "raw w/o lots",
          "pgledger": "pgledger"}


def _ints(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip()]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


class Command(BaseCommand):
    help = ("Phoenix's service-layer debit vs its raw-SQL twin (with and without energy lots) vs pgledger's "
            "pgledger_create_transfer, each worker a separate process, on the same PostgreSQL (each ledger in its "
            "own throw-away database): ops/s, ratios, client and backend CPU per operation.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=3.0, help="Duration of each cell.")
        parser.add_argument("--workers", type=_ints, default=[1, 4, 16], help="Comma-separated process counts.")
        parser.add_argument("--spread-wallets", type=int, default=200)

    def handle(self, *args, **options):
        out = self.stdout.write
        started = time.perf_counter()
        out(f"cores: {os.cpu_count()}  load average (1/5/15 min) at start: {load_average()}")
        with BenchDatabase() as phoenix_db:
            with PgLedgerDatabase(connection.get_connection_params()) as pgledger_db:
                out(f"databases: {phoenix_db.name} (Phoenix), {pgledger_db.name} (pgledger); dropped at the end")
                self._run(options, pgledger_db)
        out(f"load average at end: {load_average()}  total {time.perf_counter() - started:.0f} s")

    def _run(self, options, pgledger_db: PgLedgerDatabase) -> None:
        out = self.stdout.write
        hot = create_wallets(1)
        spread = create_wallets(options["spread_wallets"])
        for wallets in (hot, spread):
            append_operations(wallets=wallets, op_type="credit", amount=HOT_FUNDING)
            create_lots(wallets=wallets, lots=FUNDING_LOTS)
        vacuum_analyze()
        hot_user = Wallet.objects.get(pk=hot[0]).user_id
        spread_users = list(Wallet.objects.filter(pk__range=spread).values_list("user_id", flat=True))
        pairs = pgledger_db.create_pairs(1 + options["spread_wallets"], funding=HOT_FUNDING)
        statements = statements_per_consume(spread_users[0])
        out(f"\nper operation: service {len(statements)} statements + BEGIN/COMMIT; raw twin 3 + BEGIN/COMMIT "
            "(no outbox emit); raw without lots 3 + BEGIN/COMMIT; pgledger 1 (one function call, autocommit)")
        results = []
        for placement in ("hot", "spread"):
            for workers in options["workers"]:
                results.append((placement, workers, {
                    layer: run_in_processes(
                        layer=layer, placement=placement, workers=workers, seconds=options["seconds"],
                        targets=([hot_user] if placement == "hot" else spread_users) if layer != "pgledger"
                        else ([pairs[0]] if placement == "hot" else pairs[1:]),
                        pgledger_params=pgledger_db.params)
                    for layer in LAYERS
                }))
        spread_label = f"{options['spread_wallets']:,}"
        out("")
        out(f"| wallets | processes | {' | '.join(f'{LABELS[layer]} ops/s' for layer in LAYERS)} "
            "| service/raw | service/pgledger | raw/pgledger |")
        out("|---|---|" + "---|" * (len(LAYERS) + 3))
        for placement, workers, cells in results:
            ops = {layer: cell.throughput for layer, cell in cells.items()}
            out(f"| {'1 (hot)' if placement == 'hot' else spread_label} | {workers} "
                f"| {' | '.join(f'{ops[layer]:,.0f}' for layer in LAYERS)} | {ops['service'] / ops['raw']:.2f} "
                f"| {ops['service'] / ops['pgledger']:.2f} | {ops['raw'] / ops['pgledger']:.2f} |")
        out("\nCPU per operation, ms: the worker process + its PostgreSQL backend (p50 latency ms)")
        out("")
        out(f"| wallets | processes | {' | '.join(LABELS[layer] for layer in LAYERS)} |")
        out("|---|---|" + "---|" * len(LAYERS))
        for placement, workers, cells in results:
            out(f"| {'1 (hot)' if placement == 'hot' else spread_label} | {workers} | " + " | ".join(
                f"{_ms(cell.per_op_ms(cell.client_cpu_s))} + {_ms(cell.per_op_ms(cell.backend_cpu_s))} "
                f"({cell.percentile(50):.1f})" for cell in cells.values()) + " |")
        # The twin without lots leaves the lots disagreeing with the balance by design; nothing else may show.
        findings = Counter(finding.code for finding in wallet_health_findings())
        expected = findings.pop("lots_balance_mismatch", 0)
        out(f"\nload average after the cells: {load_average()}; health check of the Phoenix ledger after the run: "
            f"{expected} lots_balance_mismatch (the twin without lots, by design), other anomalies: "
            f"{sum(findings.values())} {dict(findings) or ''}")
