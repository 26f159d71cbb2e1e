"""The spend-velocity breaker: a per-user limit on energy spent (and, for unlimited users,
on actions performed) per fixed window.

How it stays consistent without a cache: the counter is a row of `wallet_spendcounter`,
read and written by ONE upsert (`CHARGE_CTES`) inside the consume's / freeze's own
transaction, after the wallet row is locked. Two consumes of one user are serialized by the
wallet lock, so the second reads what the first committed; a refusal raises and rolls the
whole transaction back (the debit with it). Cost on the consume path: no statement of its
own: a paid consume's debit statement carries it with the usage event's insert
(`velocity_charge_rider`), other spends' event insert carries it (`velocity_charge(then=...)`).

Windows are fixed and aligned on the epoch (`floor(now / window) * window`): a new window
starts from zero. An operator lifts a tripped breaker by zeroing the current window
(`wallet.operator.velocity_breaker_lift`, audited).
"""

from __future__ import annotations

import contextvars
import functools
import math
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from wallet.errors import SpendVelocityExceeded
from wallet.events import spend_velocity_exceeded_emit
from wallet.models import Incident, IncidentSeverity, IncidentStatus, Wallet
from wallet.services import sql

INCIDENT_CODE = "spend_velocity_exceeded"

# The limits that apply to a user: the override's where set, else the default row's (no row:
# no limit, e.g. the benchmarks' throw-away schema).
_LIMITS_CTE = """
lim AS (
    SELECT COALESCE(d.window_seconds, 3600) AS w,
           COALESCE(o.max_energy, d.max_energy) AS max_energy,
           COALESCE(o.max_actions, d.max_actions) AS max_actions
    FROM (SELECT 1) one
    LEFT JOIN wallet_spendvelocitylimit d ON d.id = 1
    LEFT JOIN wallet_spendvelocityoverride o ON o.user_id = %(user)s
), cur AS (
    SELECT lim.*, to_timestamp(floor(extract(epoch FROM %(now)s::timestamptz) / lim.w) * lim.w) AS start FROM lim
)"""

# The charge as CTEs (parameters: user, now, energy, fair_use): `charged` holds the counter's
# row when the charge is allowed, none when refused. A statement that must write only when
# allowed (the usage event) reads `charged` and so costs no round trip of its own.
CHARGE_CTES = f"""{_LIMITS_CTE}, counted AS (
    SELECT cur.*,
           COALESCE(CASE WHEN c.window_start = cur.start THEN c.energy END, 0) + %(energy)s AS energy,
           COALESCE(CASE WHEN c.window_start = cur.start THEN c.actions END, 0) + 1 AS actions
    FROM cur LEFT JOIN wallet_spendcounter c ON c.user_id = %(user)s
), charged AS (
    INSERT INTO wallet_spendcounter (user_id, window_start, energy, actions, updated_at)
    SELECT %(user)s, start, energy, actions, %(now)s FROM counted
    WHERE (max_energy IS NULL OR energy <= max_energy)
      AND (NOT %(fair_use)s OR max_actions IS NULL OR actions <= max_actions)
    ON CONFLICT (user_id) DO UPDATE SET window_start = EXCLUDED.window_start, energy = EXCLUDED.energy,
        actions = EXCLUDED.actions, updated_at = EXCLUDED.updated_at
    RETURNING energy
)"""

# The charge alone: answers the counter's energy when allowed, no row when refused.
CHARGE_SQL = "SELECT energy FROM charged"

# The refusal path only: the window's end and the limits, for the 429 and the incident.
WINDOW_SQL = f"WITH {_LIMITS_CTE} SELECT start + make_interval(secs => w), max_energy, max_actions, w FROM cur"


# The per-API-key counter (opt-in): the arithmetic runs in ON CONFLICT DO UPDATE, on the row
# locked for this charge, so concurrent charges of different users through one key stay exact
# (they serialize on the key's row). Answers whether the charge is allowed (true when off).
API_KEY_CHARGE_SQL = """
WITH lim AS (
    SELECT d.window_seconds AS w, d.max_energy_per_api_key AS m FROM wallet_spendvelocitylimit d WHERE d.id = 1
), cur AS (
    SELECT to_timestamp(floor(extract(epoch FROM %(now)s::timestamptz) / w) * w) AS start, w, m
    FROM lim WHERE m IS NOT NULL
), up AS (
    INSERT INTO wallet_apikeyspendcounter AS c (api_key_prefix, window_start, energy, max_energy, updated_at)
    SELECT %(key)s, start, %(energy)s, m, %(now)s FROM cur WHERE %(energy)s <= m
    ON CONFLICT (api_key_prefix) DO UPDATE SET
        energy = CASE WHEN c.window_start = EXCLUDED.window_start THEN c.energy ELSE 0 END + EXCLUDED.energy,
        window_start = EXCLUDED.window_start, max_energy = EXCLUDED.max_energy, updated_at = EXCLUDED.updated_at
    WHERE CASE WHEN c.window_start = EXCLUDED.window_start THEN c.energy ELSE 0 END + EXCLUDED.energy
          <= EXCLUDED.max_energy
    RETURNING c.energy
)
SELECT NOT EXISTS (SELECT 1 FROM cur) OR EXISTS (SELECT 1 FROM up),
       (SELECT start + make_interval(secs => w) FROM cur), (SELECT m FROM cur), (SELECT w FROM cur)
"""


def velocity_charge(*, wallet: Wallet, energy: int, fair_use: bool, api_key_prefix: str | None = None,
                    now: datetime | None = None, then: str = CHARGE_SQL, then_params: dict | None = None) -> tuple:
    """Count `energy` (and one action) against the user's window; raise SpendVelocityExceeded
    when it would cross the limit (energy; actions too when `fair_use`, an unlimited user).
    `api_key_prefix` (a satellite's call) also counts `energy` against the key's window when
    a per-key limit is set (one more statement, satellite calls only).

    `then`: the statement that follows the charge's CTEs in the same statement, reading
    `charged` (one row when allowed, none when refused) with `then_params` beside the
    charge's own (user, now, energy, fair_use); its row is returned.

    The caller holds the wallet lock, inside the transaction that spends: the refusal rolls
    the spend back. The incident is opened after that rollback (`velocity_incident_open`).
    """
    now = now or timezone.now()
    params = _charge_params(user_id=wallet.user_id, energy=energy, fair_use=fair_use, now=now)
    if api_key_prefix and energy:
        velocity_api_key_charge(api_key_prefix=api_key_prefix, energy=energy, user_id=wallet.user_id, now=now)
    row = sql.fetch_one(f"WITH {CHARGE_CTES} {then}", {**(then_params or {}), **params})
    if row is None:
        velocity_refuse(user_id=wallet.user_id, fair_use=fair_use, now=now)
    return row


def velocity_charge_rider(*, user_id: int, energy: int, now: datetime, then_ctes: str, then_answer: str,
                          then_params: dict) -> sql.Rider:
    """The paid charge (`fair_use` off) as a rider of the debit's statement (`sql.Rider`): the
    charge's CTEs, then `then_ctes` reading `charged` (one row when allowed, none when
    refused), answering `then_answer`. The caller reads the answer and calls `velocity_refuse`
    when the charge was refused (the debit's statement, rolled back with it, wrote the spend),
    and `velocity_api_key_charge` for a satellite's key."""
    params = {**then_params, **_charge_params(user_id=user_id, energy=energy, fair_use=False, now=now)}
    return sql.rider(f"{CHARGE_CTES}, {then_ctes}", answer=then_answer, params=params)


def velocity_api_key_charge(*, api_key_prefix: str, energy: int, user_id: int, now: datetime) -> None:
    """Count `energy` against the satellite key's window (when a per-key limit is set); raise
    SpendVelocityExceeded when it would cross it. Called under the wallet lock (always wallet
    first, then the key's row: no lock-order inversion between charges)."""
    allowed, window_end, max_energy, window = sql.fetch_one(
        API_KEY_CHARGE_SQL, {"key": api_key_prefix, "now": now, "energy": energy})
    if not allowed:
        raise SpendVelocityExceeded(
            retry_after=max(1, math.ceil((window_end - now).total_seconds())),
            limit=f"{max_energy} energy per {window} s per API key", user_id=user_id)


def velocity_refuse(*, user_id: int, fair_use: bool, now: datetime) -> None:
    """Raise the SpendVelocityExceeded of a refused charge (the refusal path only: one read of
    the window's end and the limits, for the 429's retry_after and the incident)."""
    params = _charge_params(user_id=user_id, energy=0, fair_use=fair_use, now=now)
    window_end, max_energy, max_actions, window = sql.fetch_one(WINDOW_SQL, params)
    limit = f"{max_actions} actions" if fair_use else f"{max_energy} energy"
    raise SpendVelocityExceeded(retry_after=max(1, math.ceil((window_end - now).total_seconds())),
                                limit=f"{limit} per {window} s", user_id=user_id)


def _charge_params(*, user_id: int, energy: int, fair_use: bool, now: datetime) -> dict:
    return {"user": user_id, "now": now, "energy": energy, "fair_use": fair_use}


@transaction.atomic
def velocity_incident_open(*, user_id: int, exc: SpendVelocityExceeded, now: datetime | None = None) -> Incident:
    """Open (or bump) the wallet's `spend_velocity_exceeded` incident: written after the
    refused request's transaction rolled back, so the incident survives the 429."""
    now = now or timezone.now()
    # get_or_create: an unlimited user's first action created their wallet in the rolled-back transaction.
    wallet, _ = Wallet.objects.get_or_create(user_id=user_id)
    wallet = Wallet.objects.select_for_update().get(pk=wallet.pk)  # serializes concurrent refusals
    detail = {"limit": exc.limit, "retry_after": exc.retry_after}
    incident = Incident.objects.select_for_update().filter(
        wallet=wallet, code=INCIDENT_CODE, status=IncidentStatus.OPEN).first()
    if incident is not None:
        incident.times_seen += 1
        incident.last_seen_at = now
        incident.detail = detail
        incident.save(update_fields=["times_seen", "last_seen_at", "detail"])
        return incident
    incident = Incident.objects.create(wallet=wallet, code=INCIDENT_CODE, severity=IncidentSeverity.WARNING,
                                       detail=detail, detected_at=now, last_seen_at=now)
    spend_velocity_exceeded_emit(incident, user_id=user_id, limit=exc.limit, retry_after=exc.retry_after)
    return incident


_guard_depth: contextvars.ContextVar[int] = contextvars.ContextVar("velocity_guard_depth", default=0)


def velocity_guarded(function):
    """Wrap a spending service, and a view's post outside its @idempotent transaction: on a
    SpendVelocityExceeded the OUTERMOST guard opens the incident, once every transaction
    opened inside it has rolled back (so the refusal's rollback does not take the incident)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        token = _guard_depth.set(_guard_depth.get() + 1)
        try:
            return function(*args, **kwargs)
        except SpendVelocityExceeded as exc:
            if _guard_depth.get() == 1 and not exc.incident_opened:
                velocity_incident_open(user_id=exc.user_id, exc=exc)
                exc.incident_opened = True
            raise
        finally:
            _guard_depth.reset(token)

    return wrapper
