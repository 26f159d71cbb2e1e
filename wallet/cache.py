"""Redis caches of derived /luna reads: analytics 15 min, leaderboard 30 min.

Only derived reads are cached; balances and every debit decision read the database. A user's
analytics are cached under a key that names the state they were computed from: the wallet's
last sequence number (every ledger write moves it) and the number of the user's usage events
(append-only: every event, a refund's compensating one included, adds one). A write therefore
never touches Redis: the next read asks the database for those two figures (`analytics_state`,
one statement on two indexes), finds no entry under the new key and recomputes; the stale entry expires with
its TTL. A count, not the highest event id: two events committed out of id order (free actions
take no wallet lock) would leave the highest id unchanged. The leaderboard (every user's
totals, a ranking, not a balance) lives out its 30-minute TTL.
"""

from __future__ import annotations

ANALYTICS_TTL_SECONDS = 15 * 60
LEADERBOARD_TTL_SECONDS = 30 * 60
LEADERBOARD_KEY = "luna:leaderboard:v1"


def analytics_key(user_id: int, *, last_seq: int, events: int) -> str:
    """The key of the user's analytics computed from this state (`wallet.selectors.analytics_state`)."""
    return f"luna:analytics:v2:{user_id}:{last_seq}:{events}"
