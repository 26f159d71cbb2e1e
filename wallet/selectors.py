"""Every wallet read that is more than a `get`, including the set-based health check."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from wallet.hashing import operation_hash_sql
from wallet.models import (
    GENESIS_HASH,
    EnergyAction,
    EnergyPack,
    UsageEvent,
    OPERATION_EFFECTS,
    BalanceOperation,
    Hold,
    HoldStatus,
    Incident,
    IncidentSeverity,
    IncidentStatus,
    OperationSource,
    OperationType,
    Wallet,
)


def wallet_for_user(user) -> Wallet | None:
    """The user's wallet, or None if they have none yet (bare users; registration opens one)."""
    return Wallet.objects.filter(user_id=user.pk).first()


def wallet_balance(user) -> dict[str, int]:
    """`{"balance", "held", "available"}`; zeros for a user without a wallet. Never cached."""
    row = Wallet.objects.filter(user_id=user.pk).values_list("balance", "held").first()
    balance, held = row or (0, 0)
    return {"balance": balance, "held": held, "available": balance - held}


def wallet_operations_for_user(user) -> QuerySet[BalanceOperation]:
    """The user's ledger, newest first (served by the UNIQUE(wallet, seq) index)."""
    return BalanceOperation.objects.filter(wallet__user_id=user.pk).order_by("-seq")


def hold_for_user(*, hold_id, user=None) -> Hold | None:
    queryset = Hold.objects.all()
    if user is not None:
        queryset = queryset.filter(wallet__user_id=user.pk)
    return queryset.filter(pk=hold_id).first()


def holds_due_for_expiry(*, now: datetime, limit: int) -> list[Hold]:
    """Pending holds whose deadline passed, oldest deadline first (partial index scan)."""
    return list(
        Hold.objects.filter(status=HoldStatus.PENDING, expires_at__lte=now).order_by("expires_at", "id")[:limit]
    )


def incidents_open() -> QuerySet[Incident]:
    return Incident.objects.filter(status=IncidentStatus.OPEN).order_by("-severity", "-detected_at")


# --- Health (DESIGN.md §2) -------------------------------------------------------------


@dataclass(frozen=True)
class HealthFinding:
    wallet_id: int
    user_id: int
    severity: str  # IncidentSeverity
    code: str
    detail: dict[str, Any] = field(default_factory=dict)


# Codes, and what they mean:
CRITICAL_CODES = {
    "negative_balance": "balance < 0",
    "negative_held": "held < 0",
    "held_exceeds_balance": "held > balance",
    "ledger_balance_mismatch": "balance differs from the replay of its operations",
    "ledger_held_mismatch": "held differs from the replay of its operations",
    "ledger_discontinuity": "an operation's before-values differ from the previous one's after-values",
    "hash_chain_broken": "an operation was altered, removed or inserted outside the services",
}
WARNING_CODES = {
    "held_pending_mismatch": "held differs from the sum of pending holds",
}


def _signed_sum_sql(effect_index: int) -> str:
    """SUM of +amount / -amount per type, generated from OPERATION_EFFECTS (one source)."""
    plus = [t for t, effect in OPERATION_EFFECTS.items() if effect[effect_index] > 0]
    minus = [t for t, effect in OPERATION_EFFECTS.items() if effect[effect_index] < 0]

    def in_list(types):
        return ", ".join(f"'{t}'" for t in types)

    return (
        f"SUM(CASE WHEN type IN ({in_list(plus)}) THEN amount "
        f"WHEN type IN ({in_list(minus)}) THEN -amount ELSE 0 END)"
    )


def _health_sql(*, only_some_wallets: bool) -> str:
    ops_filter = "WHERE o.wallet_id = ANY(%(wallet_ids)s)" if only_some_wallets else ""
    holds_filter = "AND h.wallet_id = ANY(%(wallet_ids)s)" if only_some_wallets else ""
    wallets_filter = "w.id = ANY(%(wallet_ids)s) AND" if only_some_wallets else ""
    # One statement: a window pass over the operations (hash recomputed, links and
    # before/after continuity checked), one aggregate per wallet, one over pending holds,
    # joined to the wallets. Linear in rows; the planner walks UNIQUE(wallet, seq).
    return f"""
    WITH op AS (
        SELECT o.wallet_id, o.seq, o.type, o.amount, o.prev_hash, o.hash,
               o.balance_before, o.held_before,
               {operation_hash_sql("o")} AS recomputed_hash,
               LAG(o.hash) OVER w AS prev_row_hash,
               LAG(o.balance_after) OVER w AS prev_balance_after,
               LAG(o.held_after) OVER w AS prev_held_after,
               ROW_NUMBER() OVER w AS position,
               LEAD(o.seq) OVER w IS NULL AS is_last
        FROM wallet_balanceoperation o
        {ops_filter}
        WINDOW w AS (PARTITION BY o.wallet_id ORDER BY o.seq)
    ), ledger AS (
        SELECT wallet_id,
               {_signed_sum_sql(0)} AS replay_balance,
               {_signed_sum_sql(1)} AS replay_held,
               COUNT(*) FILTER (WHERE hash <> recomputed_hash) AS altered_rows,
               COUNT(*) FILTER (
                   WHERE prev_hash <> COALESCE(prev_row_hash, '{GENESIS_HASH}') OR seq <> position
               ) AS broken_links,
               COUNT(*) FILTER (
                   WHERE position > 1
                     AND (balance_before <> prev_balance_after OR held_before <> prev_held_after)
               ) AS discontinuities,
               MAX(seq) AS max_seq,
               MAX(hash) FILTER (WHERE is_last) AS head_hash
        FROM op GROUP BY wallet_id
    ), pending AS (
        SELECT h.wallet_id, SUM(h.amount) AS pending_held
        FROM wallet_hold h WHERE h.status = 'pending' {holds_filter}
        GROUP BY h.wallet_id
    )
    SELECT w.id, w.user_id, w.balance, w.held, w.last_seq, w.last_hash,
           COALESCE(l.replay_balance, 0), COALESCE(l.replay_held, 0),
           COALESCE(l.altered_rows, 0), COALESCE(l.broken_links, 0),
           COALESCE(l.discontinuities, 0), COALESCE(l.max_seq, 0),
           COALESCE(l.head_hash, '{GENESIS_HASH}'), COALESCE(p.pending_held, 0)
    FROM wallet_wallet w
    LEFT JOIN ledger l ON l.wallet_id = w.id
    LEFT JOIN pending p ON p.wallet_id = w.id
    WHERE {wallets_filter} (
        w.balance < 0 OR w.held < 0 OR w.held > w.balance
        OR w.balance <> COALESCE(l.replay_balance, 0) OR w.held <> COALESCE(l.replay_held, 0)
        OR COALESCE(l.altered_rows, 0) > 0 OR COALESCE(l.broken_links, 0) > 0
        OR COALESCE(l.discontinuities, 0) > 0
        OR w.last_seq <> COALESCE(l.max_seq, 0)
        OR w.last_hash <> COALESCE(l.head_hash, '{GENESIS_HASH}')
        OR w.held <> COALESCE(p.pending_held, 0)
    )
    ORDER BY w.id
    """


def wallet_health_findings(*, wallet_ids: list[int] | None = None) -> list[HealthFinding]:
    """Every anomaly of every wallet (or of `wallet_ids`), in ONE set-based query."""
    only_some = wallet_ids is not None
    with connection.cursor() as cursor:
        params = {"wallet_ids": list(wallet_ids)} if only_some else None
        cursor.execute(_health_sql(only_some_wallets=only_some), params)
        rows = cursor.fetchall()

    findings: list[HealthFinding] = []
    for row in rows:
        (wallet_id, user_id, balance, held, last_seq, last_hash, replay_balance, replay_held,
         altered_rows, broken_links, discontinuities, max_seq, head_hash, pending_held) = row
        replay_balance, replay_held, pending_held = int(replay_balance), int(replay_held), int(pending_held)

        def add(severity: str, code: str, **detail) -> None:
            findings.append(HealthFinding(wallet_id, user_id, severity, code, detail))

        critical = IncidentSeverity.CRITICAL
        if balance < 0:
            add(critical, "negative_balance", balance=balance)
        if held < 0:
            add(critical, "negative_held", held=held)
        if held > balance:
            add(critical, "held_exceeds_balance", balance=balance, held=held)
        if balance != replay_balance:
            add(critical, "ledger_balance_mismatch", balance=balance, replay_balance=replay_balance)
        if held != replay_held:
            add(critical, "ledger_held_mismatch", held=held, replay_held=replay_held)
        if discontinuities:
            add(critical, "ledger_discontinuity", operations=discontinuities)
        if altered_rows or broken_links or last_seq != max_seq or last_hash != head_hash:
            add(critical, "hash_chain_broken", altered_rows=altered_rows, broken_links=broken_links,
                wallet_last_seq=last_seq, ledger_last_seq=max_seq, head_matches=last_hash == head_hash)
        if held != pending_held:
            add(IncidentSeverity.WARNING, "held_pending_mismatch", held=held, pending_holds=pending_held)
    return findings


# --- Energy catalogue and /luna reads (DESIGN.md §3) -----------------------------------
#
# Balances and every debit decision read the database; only derived reads (analytics,
# leaderboard) go through the Redis cache of wallet.cache, invalidated on commit.

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
    from wallet.errors import UnknownAction

    action = EnergyAction.objects.filter(code=code, is_active=True).first() if isinstance(code, str) else None
    if action is None:
        raise UnknownAction(f"No active energy action {str(code)[:64]!r}.")
    return action


def energy_pack_covering(*, shortfall: int) -> EnergyPack | None:
    """The cheapest active, non-unlimited pack whose points cover `shortfall`."""
    return (EnergyPack.objects.filter(is_active=True, is_unlimited=False, energy_points__gte=max(shortfall, 1))
            .order_by("price_cents", "-energy_points", "code").first())


def energy_pack_summary(pack: EnergyPack | None) -> dict[str, Any] | None:
    if pack is None:
        return None
    return {"code": pack.code, "label": pack.label, "price_cents": pack.price_cents, "currency": pack.currency,
            "energy_points": pack.energy_points}


def energy_check(*, user) -> dict[str, Any]:
    from subscriptions.selectors import has_unlimited_energy

    return {**wallet_balance(user), "unlimited": has_unlimited_energy(user)}


def energy_can_perform(*, user, action_code: Any) -> dict[str, Any]:
    """Would `consume` succeed now? Read from the database (never a cache)."""
    from subscriptions.selectors import has_unlimited_energy

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
    return UsageEvent.objects.filter(user_id=user.pk).order_by("-id")


def _int(value) -> int:
    return int(value or 0)


def energy_analytics(*, user, now: datetime | None = None) -> dict[str, Any]:
    """The user's last 30 days (cached 15 min, dropped when their ledger or events change)."""
    from django.core.cache import cache

    from wallet.cache import ANALYTICS_TTL_SECONDS, analytics_key

    key = analytics_key(user.pk)
    if now is None and (cached := cache.get(key)) is not None:
        return cached
    now = now or timezone.now()
    since = now - ANALYTICS_WINDOW
    events = UsageEvent.objects.filter(user_id=user.pk, created_at__gte=since, created_at__lte=now)
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
    import hashlib
    import hmac

    from django.conf import settings

    return hmac.new(settings.SECRET_KEY.encode(), f"luna-leaderboard:{public_id}".encode(),
                    hashlib.sha256).hexdigest()[:16]


def energy_leaderboard(*, now: datetime | None = None) -> dict[str, Any]:
    """Most active users over 30 days (actions performed), pseudonymous; cached 30 min."""
    from django.core.cache import cache

    from wallet.cache import LEADERBOARD_KEY, LEADERBOARD_TTL_SECONDS

    if now is None and (cached := cache.get(LEADERBOARD_KEY)) is not None:
        return cached
    now = now or timezone.now()
    since = now - ANALYTICS_WINDOW
    rows = (UsageEvent.objects.filter(created_at__gte=since, created_at__lte=now)
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
    """The user's story, rebuilt from their events at every call (never cached)."""
    events = UsageEvent.objects.filter(user_id=user.pk)
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


# --- Admin dashboard (DESIGN.md §9) ----------------------------------------------------
# Each reader is a fixed number of aggregate queries, whatever the number of wallets or
# operations: counts and sums are grouped in the database, never looped over rows.
# (Imports here, not at the top, so this section stays an append-only addition.)

from datetime import timedelta  # noqa: E402

from django.db.models import Count, Q, Sum  # noqa: E402
from django.db.models.functions import TruncHour  # noqa: E402
from django.utils import timezone  # noqa: E402

from phoenix.core.selectors import job_run_latest  # noqa: E402

# Energy consumed by the satellites' actions: direct debits and hold captures made
# through the API. Admin removals, clawbacks and health corrections are not consumption.
CONSUMPTION_TYPES = ("debit", "commit")
CONSUMPTION_SOURCE = "api"


def _consumption_q():
    return Q(type__in=CONSUMPTION_TYPES, source=CONSUMPTION_SOURCE)


def wallet_health_overview() -> dict[str, Any]:
    """Health now: open incidents by severity, the last health run and its result. 3 queries."""
    counts = Incident.objects.filter(status=IncidentStatus.OPEN).aggregate(
        critical=Count("id", filter=Q(severity=IncidentSeverity.CRITICAL)),
        warning=Count("id", filter=Q(severity=IncidentSeverity.WARNING)),
    )
    totals = Wallet.objects.aggregate(wallets=Count("id"), balance=Sum("balance"), held=Sum("held"))
    last_run = job_run_latest("wallet.health_check")
    return {
        "open_critical": counts["critical"],
        "open_warning": counts["warning"],
        "last_run": last_run,
        "last_run_critical": last_run.summary.get("critical", 0) if last_run else None,
        "last_run_warning": last_run.summary.get("warning", 0) if last_run else None,
        "wallets": totals["wallets"],
        "balance": totals["balance"] or 0,
        "held": totals["held"] or 0,
    }


def energy_consumed_totals(*, now: datetime) -> dict[str, int]:
    """Energy consumed today (since local midnight), over 7 and 30 days, and refunded over
    7 days. One aggregate query."""
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    consumed, refund = _consumption_q(), Q(type="credit", refund_of__isnull=False)
    totals = BalanceOperation.objects.filter(created_at__gte=month, created_at__lte=now).aggregate(
        today=Sum("amount", filter=consumed & Q(created_at__gte=today)),
        week=Sum("amount", filter=consumed & Q(created_at__gte=week)),
        month=Sum("amount", filter=consumed),
        refunded_week=Sum("amount", filter=refund & Q(created_at__gte=week)),
    )
    return {key: value or 0 for key, value in totals.items()}


def balance_operations_per_hour(*, now: datetime, hours: int = 48) -> dict[str, Any]:
    """Operation counts per hour and type over the last `hours` hours (one GROUP BY)."""
    end = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    buckets = [end - timedelta(hours=offset) for offset in range(hours - 1, -1, -1)]
    rows = (
        BalanceOperation.objects.filter(created_at__gte=buckets[0], created_at__lte=now)
        .annotate(hour=TruncHour("created_at"))
        .values("hour", "type")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[str, dict[datetime, int]] = {}
    for row in rows:  # at most hours x types rows
        counts.setdefault(row["type"], {})[timezone.localtime(row["hour"])] = row["n"]
    return {
        "labels": [bucket.strftime("%a %H:00") for bucket in buckets],
        "series": {op_type: [per_hour.get(bucket, 0) for bucket in buckets]
                   for op_type, per_hour in sorted(counts.items())},
        "total": sum(sum(per_hour.values()) for per_hour in counts.values()),
    }


def energy_consumed_by_action(*, now: datetime, days: int = 30, limit: int = 15) -> list[tuple[str, int]]:
    """[(action code, points)] consumed over `days` days, biggest first (one GROUP BY).
    The action code is the operation's reference (the API writes it there)."""
    rows = (
        BalanceOperation.objects.filter(_consumption_q(), created_at__gte=now - timedelta(days=days),
                                        created_at__lte=now)
        .values("reference")
        .annotate(points=Sum("amount"))
        .order_by("-points", "reference")[:limit]
    )
    return [(row["reference"] or "(none)", row["points"]) for row in rows]


def holds_stuck(*, now: datetime) -> QuerySet[Hold]:
    """Pending holds past their deadline: the expiry job should have released them."""
    return Hold.objects.filter(status=HoldStatus.PENDING, expires_at__lt=now)
