import pytest

from phoenix.core.tests.dashboard_data import dashboard_data_create


@pytest.fixture
def dashboard_data(db):
    """Content for every dashboard panel and chart, plus a health run that found a
    CRITICAL (an open incident) and corrected a WARNING."""
    from phoenix.core.tests.dashboard_data import hold_vanish, wallet_balance_drift
    from wallet import services as wallet_services

    data = dashboard_data_create(scale=1)
    wallet_balance_drift(data.users[0].wallet, delta=7)  # CRITICAL: ledger balance mismatch
    hold_vanish(data.users[1].wallet)  # WARNING, auto-corrected by the run
    data.health_report = wallet_services.wallet_health_run()
    return data
