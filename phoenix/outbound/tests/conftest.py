"""Outbound webhook fixtures: a loopback receiver and an endpoint pointing at it."""

from __future__ import annotations

import pytest

from phoenix.outbound.services import delivery as delivery_services
from phoenix.outbound.tests.receiver import Receiver, endpoint_for


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def endpoint(db, receiver):
    return endpoint_for(receiver, description="letters")


def deliver_due() -> list:
    """What beat + a worker do, in-process: dispatch what is due and attempt each."""
    attempts = []
    delivery_services.deliveries_dispatch(
        enqueue=lambda ids: attempts.extend(delivery_services.delivery_attempt(delivery_id=i) for i in ids))
    return [a for a in attempts if a is not None]
