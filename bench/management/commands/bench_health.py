"""`manage.py bench_health`: the health check's full and hourly runs against bare scans.

In a throw-away database (bench.database: the ledger tables only), for each size (wallets x 10
hash-chained operations, generated set-based): a bare `count(*), sum(amount)` scan of every
operation; the full run from genesis (its first run writes every checkpoint, then the steady
daily run); then 1 % of the wallets get one new operation each (a credit and its lot) and the
hourly run is timed against a bare scan of exactly those operations. Printed side by side, with
the ratios, the load average and the core count.
"""

from __future__ import annotations

import os
import statistics
import time

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from bench.database import (
    BenchDatabase,
    append_operations,
    create_lots,
    generate_ten_operation_wallets,
    sql,
    vacuum_analyze,
)
from bench.ledgers import load_average
from wallet.selectors import wallet_health_findings
from wallet.services import wallet_health_run, wallet_health_verify

BARE_SCAN_SQL = "SELECT count(*), sum(amount) FROM wallet_balanceoperation"
# The operations the hourly run verifies, found as it finds them (the wallets whose row is past
# their checkpoint, then each one's new operations through UNIQUE(wallet, seq)), and only read.
BARE_SCAN_NEW_SQL = """SELECT count(*), sum(o.amount) FROM wallet_wallet w
    LEFT JOIN wallet_healthcheckpoint k ON k.wallet_id = w.id
    CROSS JOIN LATERAL (SELECT o.amount FROM wallet_balanceoperation o
                        WHERE o.wallet_id = w.id AND o.seq > COALESCE(k.verified_seq, 0) OFFSET 0) o
    WHERE w.last_seq > COALESCE(k.verified_seq, 0)"""
# The same operations read by primary key: the least any check of them must read.
BARE_READ_BY_ID_SQL = "SELECT count(*), sum(amount) FROM wallet_balanceoperation WHERE id >= %s"


def _ints(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip()]


def _scalar_row(statement: str, params=None) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()


def _median_seconds(repeats: int, run) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


def _hourly_rolled_back():
    """The hourly statement with its checkpoint writes, rolled back so each repeat sees the same state."""
    with transaction.atomic():
        verification = wallet_health_verify(full=False, advance_checkpoints=True, now=timezone.now())
        transaction.set_rollback(True)
    return verification


class Command(BaseCommand):
    help = ("Time the health check in a throw-away database: the full run (from genesis) and the hourly run "
            "(1 %% of the wallets moved) against bare count/sum scans of the operations they verify.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--sizes", type=_ints, default=[10_000, 100_000],
                            help="Comma-separated wallet counts, 10 operations each (e.g. 10000,100000,1000000).")
        parser.add_argument("--repeats", type=int, default=3, help="Runs per timing (the median is printed).")
        parser.add_argument("--moved-percent", type=float, default=1.0,
                            help="Share of the wallets that get one new operation before the hourly run.")
        parser.add_argument("--keep-db", action="store_true", help="Do not drop the bench database at the end.")

    def handle(self, *args, **options):
        out = self.stdout.write
        started = time.perf_counter()
        out(f"cores: {os.cpu_count()}  load average (1/5/15 min) at start: {load_average()}")
        rows = []
        with BenchDatabase(keep=options["keep_db"]) as database:
            out(f"database: {database.name} (created for this run, dropped at the end)")
            current = 0
            for size in sorted(options["sizes"]):
                generated = time.perf_counter()
                wallets = generate_ten_operation_wallets(size - current)
                current = size
                vacuum_analyze()
                out(f"{size:,} wallets: data generated in {time.perf_counter() - generated:.0f} s, "
                    f"load {load_average()}")
                rows.append(self._size(size, wallets, options))
        out("")
        header = ["wallets", "operations", "bare scan", "full check, read-only",
                  "full run, first (writes every checkpoint)", "full run", "full / bare", "full µs per operation",
                  "new operations", "bare scan of them (through the checkpoints)", "read by id", "hourly run",
                  "hourly / bare scan of them", "hourly / read by id", "hourly / full"]
        out("| " + " | ".join(header) + " |")
        out("|" + "---|" * len(header))
        for row in rows:
            out(("| {wallets:,} | {operations:,} | {bare:.3f} s | {full_read_only:.2f} s | {full_first:.2f} s "
                 "| {full:.2f} s | {full_ratio:.0f}× | {full_per_op:.2f} | {new:,} | {bare_new:.3f} s | {by_id:.4f} s "
                 "| {hourly:.3f} s | {hourly_ratio:.2f} | {hourly_by_id:.0f} | {hourly_full:.3f} |").format(**row))
        if len(rows) > 1:
            base = rows[0]
            for row in rows[1:]:
                out(f"full run {base['wallets']:,} → {row['wallets']:,} wallets: operations ×"
                    f"{row['operations'] / base['operations']:.1f}, time ×{row['full'] / base['full']:.1f} "
                    f"(per operation ×{row['full_per_op'] / base['full_per_op']:.2f})")
        out(f"load average at end: {load_average()}  total {time.perf_counter() - started:.0f} s")

    def _size(self, size: int, wallets: tuple[int, int], options) -> dict:
        out = self.stdout.write
        repeats = options["repeats"]
        operations = _scalar_row("SELECT count(*) FROM wallet_balanceoperation")[0]
        _scalar_row(BARE_SCAN_SQL)  # warm the cache like every following timing
        bare, _ = _median_seconds(repeats, lambda: _scalar_row(BARE_SCAN_SQL))

        # The full statement without checkpoints (what the operator's re-run of one wallet runs, here for all).
        full_read_only, findings = _median_seconds(repeats, wallet_health_findings)
        assert not findings, findings[:5]

        sql("TRUNCATE wallet_healthcheckpoint")  # the first full run of this size writes them all
        full_first, report = _median_seconds(1, lambda: wallet_health_run(full=True))
        assert not report.findings, report.findings[:5]
        sql("VACUUM ANALYZE wallet_healthcheckpoint")
        full, report = _median_seconds(repeats, lambda: wallet_health_run(full=True))
        assert not report.findings and report.operations_verified == operations
        out(f"  full run: {report.operations_verified:,} operations verified, "
            f"{report.wallets_verified:,} wallets, load {load_average()}")

        # 1 % of the wallets move: one credit each, and the lot it creates (the lots match the balance).
        moved_count = max(1, round(size * options["moved_percent"] / 100))
        moved = (wallets[0], wallets[0] + moved_count - 1)
        first_new_id = _scalar_row("SELECT COALESCE(max(id), 0) + 1 FROM wallet_balanceoperation")[0]
        append_operations(wallets=moved, op_type="credit", amount=1)
        create_lots(wallets=moved, lots=[("legacy", 1, None)])
        new = _scalar_row("SELECT count(*) FROM wallet_balanceoperation WHERE id >= %s", [first_new_id])[0]

        _scalar_row(BARE_SCAN_NEW_SQL)
        bare_new, counted = _median_seconds(repeats, lambda: _scalar_row(BARE_SCAN_NEW_SQL))
        assert counted[0] == new, (counted, new)
        by_id, _ = _median_seconds(repeats, lambda: _scalar_row(BARE_READ_BY_ID_SQL, [first_new_id]))
        hourly, verification = _median_seconds(repeats, _hourly_rolled_back)
        assert not verification.findings and verification.operations_verified == new
        assert verification.checkpoints_advanced == moved_count
        real_hourly, report = _median_seconds(1, wallet_health_run)  # the job itself: lock, statement, JobRun
        assert not report.findings and report.checkpoints_advanced == moved_count
        out(f"  hourly run: {verification.operations_verified:,} operations verified, "
            f"{verification.checkpoints_advanced:,} checkpoints advanced; the job itself (advisory lock, "
            f"JobRun) {real_hourly:.3f} s; load {load_average()}")
        return {"wallets": size, "operations": operations, "bare": bare, "full_read_only": full_read_only,
                "full_first": full_first, "full": full,
                "full_ratio": full / bare, "full_per_op": full / operations * 1e6, "new": new, "bare_new": bare_new,
                "by_id": by_id, "hourly": hourly, "hourly_ratio": hourly / bare_new, "hourly_by_id": hourly / by_id,
                "hourly_full": hourly / full}
