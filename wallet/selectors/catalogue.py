"""The energy catalogue (actions and packs), read from process memory.

Every consume reads its action (cost, category) and a 402 names the cheapest pack covering the
shortfall; the catalogue changes only when an operator edits it. So each process keeps a
snapshot of the active actions and packs, with no round trip per read: a change of either
table publishes on the catalogue's invalidation channel once its transaction commits
(`catalogue_changed_on_commit`, connected in `wallet.receivers`), the process's subscriber
thread moves the channel's generation, and the next read reloads (phoenix.core.cache
`InvalidationChannel`). While the subscriber is not subscribed (Redis down, reconnecting) the
reads go to the database (correct, only slower), and a resubscription reloads. A snapshot is
also reloaded once it is `SNAPSHOT_MAX_AGE_SECONDS` old: the backstop for a subscription that
hangs without failing, or a change published while Redis was down.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
import time
from dataclasses import dataclass

from django.db import connection, transaction

from phoenix.core.cache import REDIS_UNREACHABLE, InvalidationChannel
from wallet.models import EnergyAction, EnergyPack

CATALOGUE_CHANNEL = InvalidationChannel("luna:catalogue:changed")
SNAPSHOT_MAX_AGE_SECONDS = 60
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Snapshot:
    generation: int  # CATALOGUE_CHANNEL's when the load began
    loaded_at: float  # time.monotonic()
    actions: dict[str, EnergyAction]
    packs: tuple[EnergyPack, ...]  # active, non-unlimited, cheapest first (the 402's order)


_snapshot: _Snapshot | None = None
_reload_lock = threading.Lock()
# In a thread whose open transaction changed the catalogue: until that transaction ends its
# reads go to the database (they must see the change; other threads must not, and a rollback
# must leave no trace in the snapshot). The transaction is open while its bump is still in
# Django's on-commit queue (emptied by both commit and rollback).
_changing = threading.local()


def _changing_here() -> bool:
    bump = getattr(_changing, "bump", None)
    if bump is None:
        return False
    if any(entry[1] is bump for entry in connection.run_on_commit):
        return True
    _changing.bump = None
    return False


def _packs_by_price(packs) -> tuple[EnergyPack, ...]:
    return tuple(sorted((p for p in packs if not p.is_unlimited),
                        key=lambda p: (p.price_cents, -p.energy_points, p.code)))


def _load(generation: int) -> _Snapshot:
    # The generation is read before the rows: a change committed after this read moves it, so
    # a snapshot that might have missed the change is never taken for fresh.
    actions = {a.code: a for a in EnergyAction.objects.filter(is_active=True)}
    packs = _packs_by_price(EnergyPack.objects.filter(is_active=True))
    return _Snapshot(generation=generation, loaded_at=time.monotonic(), actions=actions, packs=packs)


def _current() -> _Snapshot:
    global _snapshot
    if _changing_here():
        return _load(-1)
    generation = CATALOGUE_CHANNEL.generation()
    if generation is None:
        return _load(-1)
    snapshot = _snapshot
    if not _fresh(snapshot, generation):
        with _reload_lock:
            if not _fresh(_snapshot, generation):
                _snapshot = _load(generation)
            snapshot = _snapshot
    return snapshot


def _fresh(snapshot: _Snapshot | None, generation: int) -> bool:
    return (snapshot is not None and snapshot.generation == generation
            and time.monotonic() - snapshot.loaded_at < SNAPSHOT_MAX_AGE_SECONDS)


def catalogue_action(code: str) -> EnergyAction | None:
    """The active action `code` (a copy: callers may not change the shared snapshot), or None."""
    action = _current().actions.get(code)
    return copy.copy(action) if action is not None else None


def catalogue_pack_covering(shortfall: int) -> EnergyPack | None:
    """The cheapest active, non-unlimited pack whose points cover `shortfall`."""
    for pack in _current().packs:
        if pack.energy_points >= max(shortfall, 1):
            return copy.copy(pack)
    return None


def catalogue_snapshot_reset() -> None:
    """Forget this process's snapshot (the test suite, whose rolled-back transactions change
    the catalogue without a commit)."""
    global _snapshot
    _snapshot = None
    _changing.bump = None


def _bump() -> None:
    global _snapshot
    _snapshot = None  # this process at once; the others at their next read
    try:
        CATALOGUE_CHANNEL.publish()
    except REDIS_UNREACHABLE:
        # The change is committed; the other processes read the database while Redis is down
        # and reload within SNAPSHOT_MAX_AGE_SECONDS once it is back.
        logger.error("energy catalogue changed while Redis is down: other processes reload within %s s",
                     SNAPSHOT_MAX_AGE_SECONDS)


def catalogue_changed_on_commit(**_signal_kwargs) -> None:
    """A receiver of EnergyAction/EnergyPack post_save and post_delete."""
    if _changing_here():
        return  # this transaction's bump is queued already
    bump = functools.partial(_bump)  # this transaction's own callable, found in the queue by identity
    _changing.bump = bump
    transaction.on_commit(bump)
