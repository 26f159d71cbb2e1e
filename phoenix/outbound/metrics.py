"""The outbound webhooks' part of the Prometheus metrics (phoenix.core.metrics), registered in
``OutboundConfig.ready``: the delivery backlog read at scrape time (the attempts are counted
where they are recorded, in services/delivery.py)."""

from __future__ import annotations

from phoenix.core import metrics
from phoenix.outbound import selectors


def register() -> None:
    metrics.register_scrape_gauge("phoenix_outbound_deliveries_pending",
                                  "Outbound webhook deliveries not yet made (retries included).",
                                  selectors.outbound_backlog_count)
    metrics.register_scrape_gauge("phoenix_outbound_oldest_undelivered_age_seconds",
                                  "Age of the oldest outbound webhook delivery still pending (0: none).",
                                  selectors.outbound_oldest_undelivered_age_s)
