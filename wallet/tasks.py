"""Thin Celery tasks: each calls one service (scheduled by the app's migration) and returns its
report's summary."""

from celery import shared_task

from wallet import services


@shared_task(name=services.HEALTH_JOB)
def wallet_health_check() -> dict:
    """Hourly: the incremental check (each wallet from its checkpoint)."""
    return services.wallet_health_run().summary()


@shared_task(name="wallet.health_check_full")
def wallet_health_check_full() -> dict:
    """Daily (migration 0009): the full re-verification from genesis, same lock and JobRun name."""
    return services.wallet_health_run(full=True).summary()


@shared_task(name=services.EXPIRY_JOB)
def wallet_expire_holds() -> dict:
    return services.wallet_holds_expire().summary()


@shared_task(name=services.LOT_EXPIRY_JOB)
def wallet_expire_lots() -> dict:
    return services.wallet_lots_expire().summary()


@shared_task(name=services.ROLLUP_JOB)
def wallet_rollup_refresh() -> dict:
    return services.operation_rollup_refresh().summary()
