"""`manage.py bench_scale`: consume throughput with 1 web node, then 2, through PgBouncer
(transaction mode) on one PostgreSQL, as a ratio in one run, beside the service layer.

A throw-away database with the full schema (bench_luna's), a PgBouncer of its own and two
gunicorn nodes (bench.cluster); the same clients (threads, one user each) drive
`POST /luna/energy/consume` against node 1 only, then spread over nodes 1 and 2. For each
cell it also counts the CPU seconds the web nodes and the PostgreSQL server used, which
gives consumes per web core-second and per PostgreSQL core-second: the figures of the
README's capacity plan. Bounded: `--seconds` per cell; everything stopped and dropped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from bench.cluster import Cluster, PgBouncer
from bench.ledgers import load_average, run_scenario
from bench.management.commands.bench_luna import FUNDING, LunaBenchDatabase, drive
from phoenix.accounts.services import user_register
from wallet.services import wallet_credit

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far) for every process (Linux /proc)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return table


def cpu_seconds(roots: list[int]) -> float:
    """CPU seconds of the live processes under ``roots`` (the roots included)."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, stack = 0.0, list(roots)
    while stack:
        pid = stack.pop()
        if pid in table:
            total += table[pid][1]
            stack.extend(children.get(pid, []))
    return total


def _bytes_per_consume() -> float:
    """Disk per consume: the ledger row and the usage event with their indexes."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('wallet_balanceoperation') + "
                       "pg_total_relation_size('wallet_usageevent'), "
                       "(SELECT count(*) FROM wallet_usageevent)")
        size, events = cursor.fetchone()
    return size / max(events, 1)


class Command(BaseCommand):
    help = ("Consume throughput with 1 vs 2 web nodes through PgBouncer (transaction mode), as a ratio, "
            "beside the wallet service layer; CPU per consume of the web nodes and of PostgreSQL.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=5.0, help="Duration of each cell.")
        parser.add_argument("--clients", type=int, default=16, help="Concurrent clients (threads).")
        parser.add_argument("--users", type=int, default=32, help="End users (one wallet each).")
        parser.add_argument("--max-requests", type=int, default=50_000, help="Cap per cell.")
        parser.add_argument("--web-processes", type=int, default=1, help="gunicorn processes per node.")
        parser.add_argument("--web-threads", type=int, default=8, help="Threads per gunicorn process.")

    def handle(self, *args, **options):
        out = self.stdout.write
        started = time.perf_counter()
        out(f"cores: {os.cpu_count()}  load average (1/5/15 min) at start: {load_average()}")
        with LunaBenchDatabase() as database:
            tokens, user_ids = [], []
            for index in range(options["users"]):
                user, token = user_register(email=f"scale{index}@bench.invalid", password="bench-Password-123456")
                wallet_credit(user=user, amount=FUNDING, source="admin", reason="bench funding")
                tokens.append(token)
                user_ids.append(user.pk)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend = cursor.fetchone()[0]
            postmaster = _process_table().get(backend, (backend, 0))[0]  # local server only
            bouncer = PgBouncer(connection=connection, pool_size=20)
            cluster = Cluster(database_url=bouncer.url(database.name), redis_url=settings.REDIS_URL, web=2,
                              workers=0, web_processes=options["web_processes"], web_threads=options["web_threads"],
                              env={"LUNA_USER_THROTTLE_RATE": "100000000/min",
                                   "LUNA_SATELLITE_THROTTLE_RATE": "100000000/min"})
            try:
                bouncer.wait_ready(name=database.name)
                cluster.start().wait_ready()
                out(f"database: {database.name} (throw-away) via pgbouncer 127.0.0.1:{bouncer.port}, "
                    f"pool_mode=transaction; each web node: {options['web_processes']} gunicorn process(es) x "
                    f"{options['web_threads']} threads; {options['clients']} clients, {len(tokens)} users")
                web_pids = [node.process.pid for node in cluster.nodes]
                out("")
                out("| web nodes | consumes | consumes/s | p50 / p99 ms | non-2xx | web CPU s | PG CPU s "
                    "| consumes per web CPU s | per PG CPU s |")
                out("|---|---|---|---|---|---|---|---|---|")
                figures = {}
                for nodes in (1, 2):
                    web_before, pg_before = cpu_seconds(web_pids), cpu_seconds([postmaster])
                    result, failed = drive(url=cluster.web_urls[:nodes], tokens=tokens, endpoint="consume",
                                           clients=options["clients"], seconds=options["seconds"],
                                           max_requests=options["max_requests"])
                    web_cpu = cpu_seconds(web_pids) - web_before
                    pg_cpu = cpu_seconds([postmaster]) - pg_before
                    figures[nodes] = result.throughput
                    out(f"| {nodes} | {result.ops:,} | {result.throughput:,.0f} | {result.percentile(50):.2f} / "
                        f"{result.percentile(99):.2f} | {failed} | {web_cpu:.1f} | {pg_cpu:.1f} "
                        f"| {result.ops / max(web_cpu, 0.01):,.0f} | {result.ops / max(pg_cpu, 0.01):,.0f} |")
                out("")
                out(f"ratio 2 nodes / 1 node: {figures[2] / figures[1]:.2f}  (load average now {load_average()})")
                out(f"ledger growth: {_bytes_per_consume():,.0f} bytes per consume (an operation and a usage "
                    "event, indexes included)")
            finally:
                cluster.stop()
                bouncer.stop()
            service = run_scenario(layer="service", operation="consume", placement="spread",
                                   workers=options["clients"], seconds=options["seconds"], hot_user=user_ids[0],
                                   spread_users=user_ids)
            out(f"service layer (in-process wallet_debit, direct to PostgreSQL, {options['clients']} threads): "
                f"{service.throughput:,.0f} consumes/s, p50 / p99 {service.percentile(50):.2f} / "
                f"{service.percentile(99):.2f} ms; 2 nodes / service: {figures[2] / service.throughput:.2f}")
        out(f"load average at end: {load_average()}  total {time.perf_counter() - started:.0f} s")
