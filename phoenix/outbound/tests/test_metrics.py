"""The outbound webhooks' metrics: attempts counted by outcome, the backlog read at scrape time."""

from __future__ import annotations

import pytest
from django.db import transaction
from prometheus_client import REGISTRY

from phoenix.core import metrics
from phoenix.outbound.outbox import emit, user_subject
from phoenix.outbound.tests.conftest import deliver_due

pytestmark = pytest.mark.django_db


def _attempts(outcome: str) -> float:
    return REGISTRY.get_sample_value("phoenix_outbound_delivery_attempts_total", {"outcome": outcome}) or 0.0


def _scraped(name: str) -> float:
    body, _ = metrics.metrics_exposition()
    (line,) = [line for line in body.decode().splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


def test_attempts_are_counted_by_outcome_and_the_backlog_is_scraped(receiver, endpoint):
    delivered, retried = _attempts("delivered"), _attempts("retry")
    assert _scraped("phoenix_outbound_deliveries_pending") == 0
    assert _scraped("phoenix_outbound_oldest_undelivered_age_seconds") == 0
    with transaction.atomic():
        emit(type="wallet.depleted", subject=user_subject(7),
             body={"user_id": 7, "operation_id": 1, "available_before": 5})
    assert _scraped("phoenix_outbound_deliveries_pending") == 1
    assert _scraped("phoenix_outbound_oldest_undelivered_age_seconds") >= 0
    receiver.answers.append(500)
    deliver_due()
    assert (_attempts("retry"), _attempts("delivered")) == (retried + 1, delivered)
    assert _scraped("phoenix_outbound_deliveries_pending") == 1  # waiting for its retry
