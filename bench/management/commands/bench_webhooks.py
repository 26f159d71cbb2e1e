"""`manage.py bench_webhooks`: what the outbound webhooks cost, in a throw-away database.

1. The consume path (`energy_consume`, one paid action) with no endpoint, then with an
   endpoint subscribed to every event type: SQL statements and wall time per consume; and
   the same for a credit (which writes an event + a delivery when subscribed).
2. Deliveries per second to a local receiver (a threaded http.server on loopback that
   verifies every signature with `standardwebhooks`), attempted by 1 and 4 threads calling
   the delivery service (what a Celery worker's task runs), each a real signed POST.

The Celery messages `emit` publishes go to a queue of this run only, deleted at the end, so
no worker of this machine picks them up.
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.ledgers import load_average
from bench.management.commands.bench_luna import LunaBenchDatabase
from phoenix.accounts.tests.factories import UserFactory
from phoenix.celery import app as celery_app
from phoenix.outbound.models import Delivery, DeliveryStatus
from phoenix.outbound.services.delivery import delivery_attempt
from phoenix.outbound.tests.receiver import Receiver, endpoint_for
from wallet.models import OperationSource
from wallet.services import wallet_credit
from wallet.services.energy import energy_consume

ACTION = "format_lettre"  # a paid action (8 points)


def _timed(count: int, work) -> tuple[float, float, float]:
    """Statements per call (of the last call), mean and p50 ms."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        work()
        latencies.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        work()
    return len(queries), statistics.fmean(latencies), statistics.median(latencies)


class Command(BaseCommand):
    help = "Benchmark the outbound webhooks: emit cost on consume, deliveries/s to a local receiver."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--consumes", type=int, default=300, help="Consumes (and credits) per mode.")
        parser.add_argument("--deliveries", type=int, default=300, help="Deliveries per thread count.")

    def handle(self, *args, consumes, deliveries, **options):
        out = self.stdout.write
        for name in ("phoenix.outbound", "django_structlog"):  # a log line per attempt / enqueue otherwise
            logging.getLogger(name).setLevel(logging.WARNING)
        out(f"cores: {os.cpu_count()}  load average (1/5/15 min) at start: {load_average()}")
        queue = f"bench-webhooks-{os.getpid()}"
        default_queue = celery_app.conf.task_default_queue
        celery_app.conf.task_default_queue = queue
        settings.WEBHOOK_ALLOW_HTTP = settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the loopback receiver
        receiver = Receiver().start()
        try:
            with LunaBenchDatabase() as database:
                out(f"database: {database.name} (migrated for this run, dropped at the end)")
                self._consume_cost(out, consumes, receiver)
                self._deliveries(out, deliveries, receiver)
        finally:
            receiver.stop()
            celery_app.conf.task_default_queue = default_queue
            with celery_app.connection_for_write() as conn:
                conn.default_channel.client.delete(queue)
        out(f"load average at end: {load_average()}")

    def _consume_cost(self, out, consumes: int, receiver: Receiver) -> None:
        user = UserFactory()
        wallet_credit(user=user, amount=10**9, source=OperationSource.SYSTEM, reason="bench")

        def consume():
            with transaction.atomic():
                energy_consume(user=user, action_code=ACTION)

        def credit():
            with transaction.atomic():
                wallet_credit(user=user, amount=1, source=OperationSource.SYSTEM, reason="bench")

        out("")
        out("| path | endpoints | statements | mean ms | p50 ms |")
        out("|---|---|---|---|---|")
        for label in ("none", "1, subscribed to every type"):
            if label != "none":
                endpoint_for(receiver)
            for path, work in (("consume (energy_consume)", consume), ("credit (wallet_credit)", credit)):
                statements, mean, p50 = _timed(consumes, work)
                out(f"| {path} | {label} | {statements} | {mean:.2f} | {p50:.2f} |")

    def _deliveries(self, out, count: int, receiver: Receiver) -> None:
        out("")
        out("| delivery threads | deliveries | per s | mean ms | all verified by the receiver |")
        out("|---|---|---|---|---|")
        user = UserFactory()
        for threads in (1, 4):
            Delivery.objects.filter(status=DeliveryStatus.PENDING).update(status=DeliveryStatus.DELIVERED,
                                                                           delivered_at=timezone.now())
            for _ in range(count):
                with transaction.atomic():
                    wallet_credit(user=user, amount=1, source=OperationSource.SYSTEM, reason="bench")
            ids = list(Delivery.objects.filter(status=DeliveryStatus.PENDING).values_list("pk", flat=True))
            before = len(receiver.received)
            chunks = [ids[i::threads] for i in range(threads)]
            latencies: list[float] = []

            def attempt_all(chunk, latencies):
                for delivery_id in chunk:
                    started = time.perf_counter()
                    delivery_attempt(delivery_id=delivery_id)
                    latencies.append((time.perf_counter() - started) * 1000)
                connection.close()

            started = time.perf_counter()
            workers = [threading.Thread(target=attempt_all, args=(chunk, latencies)) for chunk in chunks]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            elapsed = time.perf_counter() - started
            got = len(receiver.received) - before
            verified = "yes" if got == len(ids) and not receiver.refused else f"no ({got}/{len(ids)})"
            out(f"| {threads} | {len(ids)} | {len(ids) / elapsed:,.0f} | {statistics.fmean(latencies):.2f} "
                f"| {verified} |")
