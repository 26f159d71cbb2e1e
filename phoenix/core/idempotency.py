"""Idempotent mutating endpoints: a retry gets the first answer, never a second effect.

The key comes from the body (`idempotency_key`) or the `Idempotency-Key` header, and is
scoped to the caller (principal): an end user, or a satellite's API key. Per request:

1. one transaction opens; `INSERT ... ON CONFLICT DO NOTHING` claims (principal, key)
   with the request's fingerprint (method, path, body);
2. the view runs (its services' transactions nest as savepoints);
3. a 2xx answer is written into the claimed row; the transaction commits the effect and
   the stored answer together.

Why this cannot double-apply under concurrent retries: the second request's INSERT waits
on the unique index until the first transaction ends. If it committed, the INSERT does
nothing and the second request reads the stored answer (committed together with the
effect, so never a claim without its answer); if it rolled back (an error: nothing was
applied), the second request claims the key and runs. Errors are not stored, as they
applied nothing: a retry after a 402 (e.g. once the user bought energy) is evaluated
afresh. Same key with another body: 409 `idempotency_conflict`.

`@idempotent_database_only` is the same contract in one statement fewer, for a view whose
every effect is in the request's transaction (no Stripe call, no e-mail: nothing a rolled-back
run could leave behind). The view runs first; the key is claimed together with its answer
(one `INSERT ... ON CONFLICT DO NOTHING`, last statement before COMMIT). A twin that committed
first makes the insert do nothing: this run rolls back whole and answers the stored response.
A run that fails (402 after the first run spent the energy, 409 after it captured the hold)
looks for a stored answer before answering its error, so a retry of a success is always that
success. Concurrent twins both run, but only one commits (the second's insert waits on the
unique index for the first's transaction); the loser's work is rolled back.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from django.db import transaction
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework_api_key.permissions import KeyParser

from phoenix.core.api import is_satellite
from phoenix.core.db import prepared_cursor
from phoenix.core.errors import IdempotencyConflict, InvalidIdempotencyKey
from phoenix.core.input_policy import text_is_storable
from phoenix.core.models import IdempotentResponse
from phoenix.core.transactions import all_or_nothing

HEADER = "Idempotency-Key"
BODY_FIELD = "idempotency_key"
MAX_KEY_LENGTH = IdempotentResponse._meta.get_field("key").max_length
REPLAY_HEADER = "Idempotent-Replayed"


def request_idempotency_key(request) -> str | None:
    body_key = request.data.get(BODY_FIELD) if isinstance(request.data, dict) else None
    header_key = request.headers.get(HEADER)
    if body_key is not None and header_key is not None and body_key != header_key:
        raise InvalidIdempotencyKey("The body's idempotency_key and the Idempotency-Key header differ.")
    key = body_key if body_key is not None else header_key
    if key is None:
        return None
    if not isinstance(key, str) or not (0 < len(key) <= MAX_KEY_LENGTH) or not text_is_storable(key):
        raise InvalidIdempotencyKey()
    return key


def request_principal(request) -> str:
    if is_satellite(request):
        # The key's public prefix names it (the secret part is never stored).
        return f"apikey:{(KeyParser().get(request) or '').partition('.')[0]}"
    return f"user:{request.user.pk}"


def request_fingerprint(request) -> str:
    body = {k: v for k, v in request.data.items() if k != BODY_FIELD} if isinstance(request.data, dict) else {}
    canonical = json.dumps({"method": request.method, "path": request.path, "body": body},
                           sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_CLAIM_SQL = f"""
    INSERT INTO {IdempotentResponse._meta.db_table} (principal, key, fingerprint, status_code, body, created_at)
    VALUES (%s, %s, %s, NULL, NULL, now())
    ON CONFLICT (principal, key) DO NOTHING
    RETURNING id
"""


# The claim and its answer at once (`idempotent_database_only`).
_CLAIM_ANSWERED_SQL = f"""
    INSERT INTO {IdempotentResponse._meta.db_table} (principal, key, fingerprint, status_code, body, created_at)
    VALUES (%s, %s, %s, %s, %s::jsonb, now())
    ON CONFLICT (principal, key) DO NOTHING
    RETURNING id
"""

_ANSWER_SQL = f"UPDATE {IdempotentResponse._meta.db_table} SET status_code = %s, body = %s::jsonb WHERE id = %s"


def _claim(*, principal: str, key: str, fingerprint: str) -> int | None:
    with prepared_cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [principal, key, fingerprint])
        row = cursor.fetchone()
    return row[0] if row else None


def _keyed(request) -> tuple[str, str, str] | None:
    """(principal, key, fingerprint) of a request that gives a key; None: not idempotent."""
    key = request_idempotency_key(request)
    if key is None:
        return None
    return request_principal(request), key, request_fingerprint(request)


def _replay(first: IdempotentResponse, fingerprint: str) -> Response:
    if first.fingerprint != fingerprint:
        raise IdempotencyConflict()
    return Response(first.body, status=first.status_code, headers={REPLAY_HEADER: "true"})


def _rendered(response: Response) -> str | None:
    # The body exactly as it is sent (rendered; PostgreSQL parses it into jsonb); a 204 has none.
    return None if response.data is None else JSONRenderer().render(response.data).decode()


def idempotent(method):
    """Decorate an APIView's post(): applies the protocol above when a key is given."""

    @functools.wraps(method)
    def wrapper(view, request, *args: Any, **kwargs: Any) -> Response:
        if (keyed := _keyed(request)) is None:
            return method(view, request, *args, **kwargs)
        principal, key, fingerprint = keyed
        with all_or_nothing():  # the view's failures all propagate: services inside skip their savepoints
            claimed = _claim(principal=principal, key=key, fingerprint=fingerprint)
            if claimed is None:
                return _replay(IdempotentResponse.objects.get(principal=principal, key=key), fingerprint)
            response = method(view, request, *args, **kwargs)
            if not 200 <= response.status_code < 300:
                transaction.set_rollback(True)  # nothing applied, nothing remembered
                return response
            with prepared_cursor() as cursor:
                cursor.execute(_ANSWER_SQL, [response.status_code, _rendered(response), claimed])
            return response

    return wrapper


class _NotApplied(Exception):
    """This run's transaction must roll back: a twin's answer is stored (`replay`), or the view
    answered a non-2xx response without raising (`response`)."""

    def __init__(self, response: Response | None = None):
        super().__init__()
        self.response = response


def idempotent_database_only(method):
    """Decorate an APIView's post() whose effects are all in the database: the protocol of
    `idempotent_database_only` above (module docstring), one statement fewer than `idempotent`."""

    @functools.wraps(method)
    def wrapper(view, request, *args: Any, **kwargs: Any) -> Response:
        if (keyed := _keyed(request)) is None:
            return method(view, request, *args, **kwargs)
        principal, key, fingerprint = keyed
        try:
            with all_or_nothing():
                response = method(view, request, *args, **kwargs)
                if not 200 <= response.status_code < 300:
                    raise _NotApplied(response)  # nothing applied, nothing remembered
                with prepared_cursor() as cursor:
                    cursor.execute(_CLAIM_ANSWERED_SQL,
                                   [principal, key, fingerprint, response.status_code, _rendered(response)])
                    claimed = cursor.fetchone()
                if claimed is None:
                    raise _NotApplied()  # a twin committed this key first
                return response
        except Exception as exc:
            # Rolled back. A stored answer (a twin's, or the first run's that this retry's
            # failure follows) is the answer; otherwise this run's own error.
            first = IdempotentResponse.objects.filter(principal=principal, key=key).first()
            if first is not None:
                return _replay(first, fingerprint)
            if isinstance(exc, _NotApplied) and exc.response is not None:
                return exc.response
            raise

    return wrapper
