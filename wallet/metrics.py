"""The wallet's part of the Prometheus metrics (phoenix.core.metrics), registered in
``WalletConfig.ready``: pending holds read at scrape time, and what the health and hold
expiry runs found."""

from __future__ import annotations

from phoenix.core import metrics
from wallet import selectors
from wallet.services import EXPIRY_JOB, HEALTH_JOB


def health_run_observe(summary: dict) -> None:
    metrics.HEALTH_FINDINGS.labels(severity="critical").set(summary["critical"])
    metrics.HEALTH_FINDINGS.labels(severity="warning").set(summary["warnings"])


def holds_expiry_observe(summary: dict) -> None:
    metrics.HOLDS_EXPIRED.inc(summary["expired"])


def register() -> None:
    metrics.register_scrape_gauge("phoenix_holds_pending", "Pending holds (energy reserved, not yet committed).",
                                  selectors.holds_pending_count)
    metrics.register_job_summary_observer(HEALTH_JOB, health_run_observe)
    metrics.register_job_summary_observer(EXPIRY_JOB, holds_expiry_observe)
