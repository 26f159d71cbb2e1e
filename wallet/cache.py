"""Redis caches of derived /luna reads: analytics 15 min, leaderboard 30 min.

Only derived reads are cached; balances and every debit decision read the database. A
write that changes a user's ledger or events deletes the user's analytics once its
transaction has committed (``transaction.on_commit``), so a reader never re-caches the
pre-commit state after the delete. The leaderboard (every user's totals, a ranking, not a
balance) lives out its 30-minute TTL: deleting it on every consume meant it never served a hit.
"""

from __future__ import annotations

from django.core.cache import cache

from phoenix.core.transactions import on_commit_once

ANALYTICS_TTL_SECONDS = 15 * 60
LEADERBOARD_TTL_SECONDS = 30 * 60
LEADERBOARD_KEY = "luna:leaderboard:v1"


def analytics_key(user_id: int) -> str:
    return f"luna:analytics:v1:{user_id}"


def energy_cache_invalidate(*, user_id: int) -> None:
    cache.delete(analytics_key(user_id))


def energy_cache_invalidate_on_commit(*, user_id: int) -> None:
    """Once per transaction and user, however many of its writes ask (one Redis DEL per consume)."""
    on_commit_once(energy_cache_invalidate, user_id=user_id)
