"""Energy catalogue and /luna reads.

Balances and every debit decision read the database; only derived reads (analytics,
leaderboard) go through the Redis cache of wallet.cache (keys that name the state they
were computed from: no write touches Redis).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from subscriptions.selectors import has_unlimited_energy
from wallet.cache import ANALYTICS_TTL_SECONDS, LEADERBOARD_KEY, LEADERBOARD_TTL_SECONDS, analytics_key
from wallet.errors import UnknownAction
from wallet.models import (
    BalanceOperation,
    EnergyAction,
    EnergyPack,
    OperationSource,
    OperationType,
    UsageEvent,
    Wallet,
)
from wallet.selectors.catalogue import catalogue_action, catalogue_pack_covering
from wallet.selectors.ledger import wallet_balance, wallet_energy_summary

ANALYTICS_WINDOW = timedelta(days=30)
LEADERBOARD_SIZE = 20
TOP_ACTIONS = 5
# Action counts the narrative celebrates.
MILESTONE_COUNTS = (1, 10, 25, 50, 100, 250, 500, 1000)


def energy_actions_active() -> QuerySet[EnergyAction]:
    return EnergyAction.objects.filter(is_active=True).order_by("cost", "code")


def energy_packs_active() -> QuerySet[EnergyPack]:
    return EnergyPack.objects.filter(is_active=True).order_by("price_cents", "code")


def energy_action_active(*, code: Any) -> EnergyAction:
    """The active action named `code`; UnknownAction (400) otherwise."""
    action = catalogue_action(code) if isinstance(code, str) else None
    if action is None:
        raise UnknownAction(f"No active energy action {str(code)[:64]!r}.")
    return action


def energy_pack_covering(*, shortfall: int) -> EnergyPack | None:
    """The cheapest active, non-unlimited pack whose points cover `shortfall`."""
    return catalogue_pack_covering(shortfall)


def energy_pack_summary(pack: EnergyPack | None) -> dict[str, Any] | None:
    if pack is None:
        return None
    return {"code": pack.code, "label": pack.label, "price_cents": pack.price_cents, "currency": pack.currency,
            "energy_points": pack.energy_points}


def energy_check(*, user) -> dict[str, Any]:
    return {**wallet_energy_summary(user), "unlimited": has_unlimited_energy(user)}


def energy_can_perform(*, user, action_code: Any) -> dict[str, Any]:
    """Would `consume` succeed now? Read from the database (never a cache)."""
    action = energy_action_active(code=action_code)
    available = wallet_balance(user)["available"]
    unlimited = has_unlimited_energy(user)
    can = unlimited or action.cost <= available
    answer = {"can_perform": can, "energy_required": 0 if unlimited else action.cost,
              "available": available, "unlimited": unlimited}
    if not can:
        answer["required_pack"] = energy_pack_summary(energy_pack_covering(shortfall=action.cost - available))
    return answer


def usage_events_for_user(user) -> QuerySet[UsageEvent]:
    """Every event, compensating ones included (each names the event it cancels, and a
    refunded one its compensation): the listing shows the whole append-only story."""
    return UsageEvent.objects.filter(user_id=user.pk).select_related("refunded_by").order_by("-id")


_ANALYTICS_STATE_SQL = (
    f"SELECT (SELECT last_seq FROM {Wallet._meta.db_table} WHERE user_id = %s), "
    f"(SELECT count(*) FROM {UsageEvent._meta.db_table} WHERE user_id = %s)"
)


def analytics_state(*, user_id: int) -> dict[str, int]:
    """What the user's analytics are computed from, as of now (wallet.cache): one statement,
    an index lookup and an index-only count."""
    with connection.cursor() as cursor:
        cursor.execute(_ANALYTICS_STATE_SQL, [user_id, user_id])
        last_seq, events = cursor.fetchone()
    return {"last_seq": last_seq or 0, "events": events}


def _int(value) -> int:
    return int(value or 0)


def energy_analytics(*, user, now: datetime | None = None) -> dict[str, Any]:
    """The user's last 30 days (cached 15 min under a key naming their ledger and events' state).

    Refunded actions are netted out: `actions`, `consumed`, `average_per_action` and
    `top_actions` count performed actions only; `refunded` is the energy the ledger credited
    back for refunds in the window."""
    key = analytics_key(user.pk, **analytics_state(user_id=user.pk))
    if now is None and (cached := cache.get(key)) is not None:
        return cached
    now = now or timezone.now()
    since = now - ANALYTICS_WINDOW
    events = UsageEvent.objects.performed().filter(user_id=user.pk, created_at__gte=since, created_at__lte=now)
    totals = events.aggregate(actions=Count("id"), consumed=Sum("energy_consumed"),
                              unlimited_actions=Count("id", filter=Q(unlimited=True)))
    operations = BalanceOperation.objects.filter(wallet__user_id=user.pk, created_at__gte=since,
                                                 created_at__lte=now, type=OperationType.CREDIT)
    money = operations.aggregate(
        purchased=Sum("amount", filter=Q(source=OperationSource.STRIPE)),
        refunded=Sum("amount", filter=Q(refund_of__isnull=False)),
    )
    top = (events.values("action_code").annotate(count=Count("id"), energy=Sum("energy_consumed"))
           .order_by("-count", "-energy", "action_code")[:TOP_ACTIONS])
    actions = _int(totals["actions"])
    consumed = _int(totals["consumed"])
    answer = {
        "window_days": ANALYTICS_WINDOW.days,
        "since": since,
        "until": now,
        "actions": actions,
        "unlimited_actions": _int(totals["unlimited_actions"]),
        "consumed": consumed,
        "refunded": _int(money["refunded"]),
        "purchased": _int(money["purchased"]),
        # Whole points, rounded down (no floats near energy).
        "average_per_action": consumed // actions if actions else 0,
        "top_actions": [{"action": row["action_code"], "count": row["count"], "energy": _int(row["energy"])}
                        for row in top],
    }
    cache.set(key, answer, timeout=ANALYTICS_TTL_SECONDS)
    return answer


def leaderboard_alias(public_id) -> str:
    """A stable pseudonym of a user: an HMAC of their public id under SECRET_KEY, truncated.
    Not reversible without the key; two boards agree on the same user."""
    return hmac.new(settings.SECRET_KEY.encode(), f"luna-leaderboard:{public_id}".encode(),
                    hashlib.sha256).hexdigest()[:16]


def energy_leaderboard(*, now: datetime | None = None) -> dict[str, Any]:
    """Most active users over 30 days (actions performed, refunded ones netted out),
    pseudonymous; cached 30 min."""
    if now is None and (cached := cache.get(LEADERBOARD_KEY)) is not None:
        return cached
    now = now or timezone.now()
    since = now - ANALYTICS_WINDOW
    rows = (UsageEvent.objects.performed().filter(created_at__gte=since, created_at__lte=now)
            .values("user__public_id").annotate(actions=Count("id"), energy=Sum("energy_consumed"))
            .order_by("-actions", "-energy", "user__public_id")[:LEADERBOARD_SIZE])
    answer = {
        "window_days": ANALYTICS_WINDOW.days,
        "generated_at": now,
        "entries": [{"rank": rank, "user": leaderboard_alias(row["user__public_id"]), "actions": row["actions"],
                     "energy_consumed": _int(row["energy"])} for rank, row in enumerate(rows, start=1)],
    }
    cache.set(LEADERBOARD_KEY, answer, timeout=LEADERBOARD_TTL_SECONDS)
    return answer


def usage_narrative(*, user) -> dict[str, Any]:
    """The user's story, rebuilt from their events at every call (never cached); refunded
    actions are netted out (neither they nor their compensating events count)."""
    events = UsageEvent.objects.performed().filter(user_id=user.pk)
    totals = events.aggregate(actions=Count("id"), energy=Sum("energy_consumed"),
                              unlimited_actions=Count("id", filter=Q(unlimited=True)))

    def grouped(field_name: str) -> list[dict[str, Any]]:
        rows = (events.values(field_name).annotate(actions=Count("id"), energy=Sum("energy_consumed"))
                .order_by("-actions", field_name))
        return [{"name": row[field_name] or "", "actions": row["actions"], "energy": _int(row["energy"])}
                for row in rows]

    weeks = (events.annotate(week=TruncWeek("created_at")).values("week")
             .annotate(actions=Count("id"), energy=Sum("energy_consumed")).order_by("week"))
    first = events.order_by("id").first()
    latest = events.order_by("-id").first()

    def brief(event: UsageEvent | None) -> dict[str, Any] | None:
        if event is None:
            return None
        return {"action": event.action_code, "category": event.category, "source_app": event.source_app,
                "at": event.created_at}

    actions = _int(totals["actions"])
    milestones = []
    reached = [count for count in MILESTONE_COUNTS if count <= actions]
    if reached:
        # The date of the n-th event, for each n reached: one query for all of them.
        ordered_ids = list(events.order_by("id").values_list("id", flat=True)[: reached[-1]])
        wanted = {ordered_ids[count - 1]: count for count in reached}
        dated = dict(UsageEvent.objects.filter(id__in=wanted).values_list("id", "created_at"))
        milestones = [{"kind": "actions", "count": count, "reached_at": dated[event_id]}
                      for event_id, count in sorted(wanted.items(), key=lambda item: item[1])]
    return {
        "actions": actions,
        "energy_consumed": _int(totals["energy"]),
        "unlimited_actions": _int(totals["unlimited_actions"]),
        "by_category": grouped("category"),
        "by_app": grouped("source_app"),
        "timeline": [{"week": row["week"].date(), "actions": row["actions"], "energy": _int(row["energy"])}
                     for row in weeks],
        "first_action": brief(first),
        "latest_action": brief(latest),
        "milestones": milestones,
    }


