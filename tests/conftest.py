"""Whole-site tests: the admin dashboard with every app's panels, every admin page, roles
across apps, the real browser. They use every app at once, so they live above the apps
(outside the import-linter layers, which check each app's tests with the app)."""

import pytest

from tests.dashboard_data import dashboard_data_create
from wallet import services as wallet_services
from wallet.tests.factories import hold_vanish, wallet_balance_drift


@pytest.fixture
def dashboard_data(db):
    """Content for every dashboard panel and chart, plus a health run that found a
    CRITICAL (an open incident) and corrected a WARNING."""
    data = dashboard_data_create(scale=1)
    wallet_balance_drift(data.users[0].wallet, delta=7)  # CRITICAL: ledger balance mismatch
    hold_vanish(data.users[1].wallet)  # WARNING, auto-corrected by the run
    data.health_report = wallet_services.wallet_health_run()
    return data
