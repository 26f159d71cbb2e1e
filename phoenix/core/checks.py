"""Deploy checks (`manage.py check --deploy`, run by CI and before a release)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def critical_alerts_have_recipients(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """CRITICAL wallet incidents and reconciliation mismatches are mailed to ADMINS: with none,
    nobody hears of them until someone opens the dashboard."""
    if settings.ADMINS:
        return []
    return [checks.Warning(
        "ADMINS is empty: CRITICAL wallet incidents and reconciliation mismatches are mailed to nobody.",
        hint="Set ADMINS=Name:email,Name:email (README, Configuration).", id="phoenix.W001")]
