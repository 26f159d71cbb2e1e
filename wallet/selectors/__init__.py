"""Every wallet read that is more than a `get`, by topic: `ledger` (wallets, holds, operations,
incidents), `health` (the set-based health check), `energy` (catalogue and /luna reads),
`dashboard` (the admin dashboard's aggregates), `activity` (a collaborator's activity seen by their
pro). `wallet.selectors.<name>` stays the public name."""

from wallet.selectors.activity import collaborator_activity
from wallet.selectors.catalogue import catalogue_action
from wallet.selectors.dashboard import (
    CONSUMPTION_SOURCE,
    CONSUMPTION_TYPES,
    balance_operations_per_hour,
    energy_consumed_by_action,
    energy_consumed_totals,
    energy_lots_overview,
    operation_facts_sql,
    wallet_health_overview,
    wallet_incidents_open_counts,
)
from wallet.selectors.energy import (
    ANALYTICS_WINDOW,
    LEADERBOARD_SIZE,
    MILESTONE_COUNTS,
    TOP_ACTIONS,
    energy_action_active,
    energy_actions_active,
    energy_analytics,
    energy_can_perform,
    energy_check,
    energy_leaderboard,
    energy_pack_covering,
    energy_pack_summary,
    energy_packs_active,
    leaderboard_alias,
    usage_events_for_user,
    usage_narrative,
)
from wallet.selectors.health import (
    CRITICAL_CODES,
    WARNING_CODES,
    HealthFinding,
    wallet_health_findings,
)
from wallet.selectors.ledger import (
    energy_lots_for_user,
    hold_for_user,
    hold_overrun_operation,
    holds_due_for_expiry,
    holds_pending_count,
    holds_stuck,
    incidents_open,
    lots_of_operations,
    wallet_balance,
    wallet_energy_summary,
    wallet_for_user,
    wallet_lot_summary,
    wallet_operations_for_user,
)
from wallet.selectors.statement import STATEMENT_FIELDS, wallet_statement

__all__ = [
    "STATEMENT_FIELDS", "wallet_statement",
    "ANALYTICS_WINDOW", "CONSUMPTION_SOURCE", "CONSUMPTION_TYPES", "CRITICAL_CODES", "HealthFinding",
    "LEADERBOARD_SIZE", "MILESTONE_COUNTS", "TOP_ACTIONS", "WARNING_CODES", "balance_operations_per_hour",
    "catalogue_action", "collaborator_activity", "operation_facts_sql",
    "energy_action_active", "energy_actions_active", "energy_analytics", "energy_can_perform", "energy_check",
    "energy_consumed_by_action", "energy_consumed_totals", "energy_lots_overview", "energy_leaderboard",
    "energy_pack_covering",
    "energy_pack_summary", "energy_packs_active", "hold_for_user", "hold_overrun_operation", "holds_due_for_expiry",
    "holds_pending_count",
    "holds_stuck",
    "incidents_open", "leaderboard_alias", "usage_events_for_user", "usage_narrative", "wallet_balance",
    "energy_lots_for_user", "lots_of_operations", "wallet_energy_summary", "wallet_lot_summary",
    "wallet_for_user", "wallet_health_findings", "wallet_health_overview", "wallet_incidents_open_counts",
    "wallet_operations_for_user",
]
