"""`emit`: the one API every app calls to tell the subscribers something.

Called inside the transaction of the change (a rolled-back change emits nothing). One SQL
statement writes the event, bumps its subject's sequence and fans it out into one pending
delivery per enabled endpoint subscribed to its type; when no endpoint wants it, nothing is
written at all (the statement finds no target), so an unsubscribed event costs one cheap
SELECT. The deliveries are handed to the Celery worker once the transaction commits; the
beat dispatcher picks up whatever that misses (a broker down, a worker killed).
"""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from phoenix.core.db import prepared_cursor
from phoenix.outbound import tasks
from phoenix.outbound.catalogue import BALANCE_LOW, EVENT_TYPES, event_type_get

# One statement: targets -> sequence (only if any target) -> event -> deliveries.
_EMIT_SQL = """
WITH targets AS (
    SELECT e.id FROM outbound_endpoint e
    WHERE e.enabled AND {target_filter}
), seq AS (
    INSERT INTO outbound_subjectsequence (subject, last_sequence)
    SELECT %(subject)s, 1 WHERE EXISTS (SELECT 1 FROM targets)
    ON CONFLICT (subject) DO UPDATE SET last_sequence = outbound_subjectsequence.last_sequence + 1
    RETURNING last_sequence
), ev AS (
    INSERT INTO outbound_event (id, type, subject, sequence, body, created_at)
    SELECT %(id)s, %(type)s, %(subject)s, seq.last_sequence, %(body)s::jsonb, %(now)s FROM seq
    RETURNING id
)
INSERT INTO outbound_delivery (event_id, endpoint_id, status, attempts, attempts_total, next_attempt_at, created_at)
SELECT ev.id, targets.id, 'pending', 0, 0, %(now)s, %(now)s FROM ev, targets
RETURNING id
"""
_SUBSCRIBED = "%(type)s = ANY(e.event_types)"
# wallet.balance_low: each endpoint decides "crossed downward" from before/after alone (no
# state to keep): it fires once per crossing and re-arms when available rises above it.
_CROSSED = ("COALESCE(e.balance_low_threshold, %(default_threshold)s) < %(before)s "
            "AND %(after)s <= COALESCE(e.balance_low_threshold, %(default_threshold)s)")
_EMIT_SQL_BY_TARGETS = {
    "subscribed": _EMIT_SQL.format(target_filter=_SUBSCRIBED),
    "crossed": _EMIT_SQL.format(target_filter=f"{_SUBSCRIBED} AND {_CROSSED}"),
    "one_endpoint": _EMIT_SQL.format(target_filter="e.id = %(endpoint_id)s"),
}


def emit(*, type: str, subject: str, body: dict, endpoint_id: int | None = None) -> list[int]:
    """Write event `type` about `subject` ("user:<id>", "pro_account:<uuid>") with `body`
    (documented per type in `catalogue`); return the ids of the deliveries it owes.

    `endpoint_id` sends to that endpoint only, subscribed or not (the operator's test event).
    """
    event_type_get(type)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("emit must run inside the transaction of the change it announces")
    params = {"id": uuid.uuid4(), "type": type, "subject": subject, "now": timezone.now(),
              "body": json.dumps(body, cls=DjangoJSONEncoder)}
    if endpoint_id is not None:
        sql, params["endpoint_id"] = _EMIT_SQL_BY_TARGETS["one_endpoint"], endpoint_id
    elif type == BALANCE_LOW:
        sql = _EMIT_SQL_BY_TARGETS["crossed"]
        params.update(before=body["available_before"], after=body["available_after"],
                      default_threshold=settings.WEBHOOK_BALANCE_LOW_DEFAULT)
    else:
        sql = _EMIT_SQL_BY_TARGETS["subscribed"]
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        delivery_ids = [row[0] for row in cursor.fetchall()]
    if delivery_ids:
        transaction.on_commit(lambda: tasks.deliveries_enqueue(delivery_ids))
    return delivery_ids


def user_subject(user_id: int) -> str:
    return f"user:{user_id}"


def pro_account_subject(public_id) -> str:
    return f"pro_account:{public_id}"


__all__ = ["EVENT_TYPES", "emit", "pro_account_subject", "user_subject"]
