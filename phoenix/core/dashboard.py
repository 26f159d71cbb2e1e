"""Panels of the admin dashboard, contributed by each app.

Apps register a panel from their AppConfig.ready(); the admin index renders them in
order. A panel's ``build(now)`` is a selector: a bounded number of queries whatever the
data size. A panel with ``takes_query`` is built as ``build(now, query)``, ``query`` the
index page's GET parameters (e.g. the money panel's date range). Charts are
``{"type", "labels", "datasets"}`` dicts drawn by Chart.js.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DashboardPanel:
    key: str
    title: str
    template: str
    build: Callable[..., dict[str, Any]]
    order: int = 100
    takes_query: bool = False


_panels: dict[str, DashboardPanel] = {}


def register_dashboard_panel(panel: DashboardPanel) -> None:
    _panels[panel.key] = panel


def dashboard_panels() -> list[DashboardPanel]:
    return sorted(_panels.values(), key=lambda panel: (panel.order, panel.key))


def chart(*, chart_id: str, type: str, labels: list, datasets: list[dict], title: str, unit: str,
          x_title: str = "", empty_text: str = "Nothing in this period yet.") -> dict[str, Any]:
    """A chart spec for templates/admin/dashboard/chart.html: its title, the unit of its values
    (the value axis's title, and in each tooltip), the category axis's title; labels are what
    an operator reads (names, not codes). A chart with nothing to draw shows `empty_text`."""
    empty = not labels or not any(value for dataset in datasets for value in dataset["data"])
    return {
        "id": chart_id,
        "script_id": f"chart-data-{chart_id}",
        "type": type,
        "labels": labels,
        "datasets": datasets,
        "title": title,
        "unit": unit,
        "x_title": x_title,
        "empty": empty,
        "empty_text": empty_text,
    }
