"""Concurrent emits about one subject get distinct, gap-free sequence numbers."""

from __future__ import annotations

import pytest
from django.db import transaction

from phoenix.outbound.models import Delivery, Event
from phoenix.outbound.outbox import emit
from phoenix.outbound.services.endpoints import endpoint_create


@pytest.mark.django_db(transaction=True)
def test_concurrent_emits_for_one_subject_number_it_one_to_n(race):
    # loopback, a closed port: the tasks these commits enqueue must never reach a real host
    endpoint_create(url="http://127.0.0.1:9/hook", event_types=["wallet.credited"])

    def one(index: int):
        with transaction.atomic():
            return emit(type="wallet.credited", subject="user:9", body={"user_id": 9, "amount": index})

    results = race(8, one)
    assert all(isinstance(ids, list) and len(ids) == 1 for ids in results), results
    assert sorted(Event.objects.filter(subject="user:9").values_list("sequence", flat=True)) == list(range(1, 9))
    assert Delivery.objects.count() == 8
