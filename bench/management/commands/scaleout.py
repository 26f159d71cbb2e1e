"""`make scale`: N web + M worker + K beat nodes on this machine, on the configured
PostgreSQL through a PgBouncer of their own (transaction pooling) and the configured Redis.

Runs until Ctrl-C, then stops every node and PgBouncer. The web nodes listen on distinct
127.0.0.1 ports (printed); spread clients over them (there is no load balancer in front).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from bench.cluster import Cluster, ClusterError, PgBouncer


class Command(BaseCommand):
    help = "Run N web + M worker (+ K beat) nodes through a local PgBouncer in transaction mode, until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--web", type=int, default=2, help="Web nodes (gunicorn), each on its own port.")
        parser.add_argument("--workers", type=int, default=2, help="Celery worker nodes (queues celery,node<i>).")
        parser.add_argument("--beats", type=int, default=1, help="Beats (one is the rule; a second is harmless).")
        parser.add_argument("--web-processes", type=int, default=2, help="gunicorn processes per web node.")
        parser.add_argument("--web-threads", type=int, default=4, help="Threads per gunicorn process.")
        parser.add_argument("--worker-concurrency", type=int, default=2)
        parser.add_argument("--pool-size", type=int, default=20, help="PgBouncer server connections per database.")

    def handle(self, *args, **options):
        out = self.stdout.write
        bouncer = PgBouncer(connection=connection, pool_size=options["pool_size"])
        cluster = None
        try:
            bouncer.wait_ready(name=connection.settings_dict["NAME"])
            out(f"pgbouncer: 127.0.0.1:{bouncer.port} (pool_mode=transaction, pool {options['pool_size']}) "
                f"-> {bouncer.backend}")
            cluster = Cluster(database_url=bouncer.url(connection.settings_dict["NAME"]), redis_url=settings.REDIS_URL,
                              web=options["web"], workers=options["workers"], beats=options["beats"],
                              web_processes=options["web_processes"], web_threads=options["web_threads"],
                              worker_concurrency=options["worker_concurrency"])
            cluster.start().wait_ready()
            for node in cluster.nodes:
                out(f"{node.name}: pid {node.process.pid} {node.url}  log {node.log}")
            out("all nodes up; Ctrl-C stops them")
            while True:
                cluster.check_alive()
                time.sleep(1)
        except ClusterError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            out("stopping")
        finally:
            if cluster is not None:
                cluster.stop()
            bouncer.stop()
