"""Every write on the ledger, by topic:

- `ledger`: the building blocks every write uses under the wallet lock (checks, replay,
  append an operation, save the wallet, lock/insert/resolve a hold);
- `sql`: the SQL statements they issue, column lists derived from the models;
- `balance`: open, credit, debit, clawback, refund of a debit;
- `holds`: freeze, commit, release (and the expiry of one hold);
- `lots`: the energy lots every credit creates and every debit draws (consumption order);
- `jobs`: the hold-expiry, lot-expiry and health jobs, their reports and the CRITICAL alerting;
- `rollup`: the dashboard's hourly rollups of the ledger (a job every 5 minutes);
- `energy`: the /luna actions over the ledger (catalogue, unlimited users, usage events).

`wallet.services.<name>` is the public name of each write and report below (errors:
`wallet.errors`); code
that reaches them through this package (and tests that spy on them here) keeps working
whichever module they live in.
"""

from wallet.services.balance import (
    WELCOME_GRANT_KEY,
    WELCOME_GRANT_POINTS,
    ClawbackResult,
    wallet_clawback,
    wallet_credit,
    wallet_debit,
    wallet_open,
    wallet_refund_debit,
)
from wallet.services.holds import (
    DEFAULT_HOLD_TTL_SECONDS,
    MAX_HOLD_LIFETIME_SECONDS,
    MAX_HOLD_TTL_SECONDS,
    hold_expire,
    wallet_commit,
    wallet_freeze,
    wallet_hold_extend,
    wallet_release,
)
from wallet.services.jobs import (
    EXPIRY_JOB,
    EXPIRY_LOCK,
    HEALTH_JOB,
    HEALTH_LOCK,
    LOT_EXPIRY_JOB,
    LOT_EXPIRY_LOCK,
    HealthRunReport,
    HealthVerification,
    HoldExpiryReport,
    LotExpiry,
    LotExpiryReport,
    wallet_health_run,
    wallet_health_verify,
    wallet_held_correct,
    wallet_holds_expire,
    wallet_lots_expire,
)
from wallet.services.ledger import MAX_AMOUNT
from wallet.services.lots import LotGrant, pack_purchase_lots, validity_settings, welcome_grant_lot
from wallet.services.rollup import ROLLUP_JOB, RollupReport, operation_rollup_refresh

__all__ = [
    "ROLLUP_JOB", "RollupReport", "operation_rollup_refresh",
    "DEFAULT_HOLD_TTL_SECONDS", "EXPIRY_JOB", "EXPIRY_LOCK", "HEALTH_JOB", "HEALTH_LOCK", "MAX_AMOUNT",
    "MAX_HOLD_LIFETIME_SECONDS", "MAX_HOLD_TTL_SECONDS",
    "wallet_hold_extend", "WELCOME_GRANT_KEY", "WELCOME_GRANT_POINTS", "ClawbackResult", "HealthRunReport",
    "HoldExpiryReport", "LOT_EXPIRY_JOB", "LOT_EXPIRY_LOCK", "LotExpiry", "LotExpiryReport", "LotGrant",
    "pack_purchase_lots", "validity_settings", "welcome_grant_lot", "wallet_lots_expire",
    "hold_expire", "wallet_clawback", "wallet_commit", "wallet_credit", "wallet_debit", "wallet_freeze",
    "wallet_health_run", "wallet_held_correct", "wallet_holds_expire", "wallet_open", "wallet_refund_debit",
    "wallet_release", "HealthVerification", "wallet_health_verify",
]
