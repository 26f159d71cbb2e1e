"""The customer page and the admin search box: registries the apps fill.

The customer page shows one user's data from every app (identity, access, wallet, payments,
licenses, webhooks, operator actions), but an app imports only the apps below it and
`phoenix/core` imports none of them. So each app registers, from its `AppConfig.ready`:

- its *sections* (`register_customer_section`): a title, a template of the app, the view
  permissions it needs, and a `build(user=, limit=, viewer=)` (viewer: to offer only the operator
  actions they may take, in `data["actions"]`) that reads through the app's own
  selectors a bounded number of rows with indexed lookups (the latest `limit`, plus a link
  to the full filtered list): the page's query count does not grow with the data;
- its *search resolvers* (`register_customer_search`): `resolve(query)` -> the users an id of
  the app names (a hold id, a payment's Stripe id, ...), each an exact, indexed lookup
  (never a LIKE scan: the tables are large);
- the *operator-action targets* of a user (`register_customer_targets`): the
  (model label, id) pairs whose `AdminAction` rows concern the user.

With nothing registered the page shows only what core knows (fail closed: a section the
viewer lacks a permission for is left out, not shown empty).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib.admin.utils import quote
from django.urls import reverse

# How many rows a section shows before its "see all" link.
SECTION_LIMIT = 10


@dataclass(frozen=True)
class CustomerSection:
    key: str  # HTML id: section-<key>
    title: str
    template: str  # rendered with `data` = build(user=, limit=, viewer=)
    build: Callable[..., dict[str, Any]]
    # "app_label.codename": the viewer needs every one to see the section.
    permissions: tuple[str, ...] = ()
    order: int = 100


@dataclass(frozen=True)
class CustomerMatch:
    """One user an id names: `kind` says what the query was ("e-mail", "hold id", ...)."""

    user_id: int
    kind: str
    label: str = ""


# resolve(query: str) -> list[CustomerMatch]; the query is stripped, never empty.
CustomerSearch = Callable[[str], list[CustomerMatch]]
# targets(user) -> [(model label_lower, pk)] whose AdminAction rows concern the user.
CustomerTargets = Callable[[Any], list[tuple[str, Any]]]

_sections: dict[str, CustomerSection] = {}
_searches: list[CustomerSearch] = []
_targets: list[CustomerTargets] = []


def register_customer_section(section: CustomerSection) -> None:
    """Add (or replace, by key: `ready` may run twice in tests) a section of the page."""
    _sections[section.key] = section


def register_customer_search(resolve: CustomerSearch) -> None:
    if resolve not in _searches:
        _searches.append(resolve)


def register_customer_targets(targets: CustomerTargets) -> None:
    if targets not in _targets:
        _targets.append(targets)


def customer_sections(*, viewer) -> list[CustomerSection]:
    """The sections `viewer` may see, in page order."""
    return sorted((s for s in _sections.values() if viewer.has_perms(s.permissions)),
                  key=lambda s: (s.order, s.key))


def customer_search(query: str) -> list[CustomerMatch]:
    """Every user `query` names, once each (the first resolver's kind wins), in resolver order."""
    query = (query or "").strip()
    if not query:
        return []
    found: dict[int, CustomerMatch] = {}
    for resolve in _searches:
        for match in resolve(query):
            found.setdefault(match.user_id, match)
    return list(found.values())


def customer_targets(user) -> list[tuple[str, str]]:
    """(target_type, target_id) pairs, as `operator_action` writes them, concerning `user`."""
    pairs = {(user._meta.label_lower, str(user.pk))}
    for targets in _targets:
        pairs.update((label, str(pk)) for label, pk in targets(user))
    return sorted(pairs)


# --- Helpers for the apps' sections and resolvers (one way to parse a query, build a link) ---

_INT_MAX = 2**63 - 1  # a bigint primary key: a larger number names nothing


def query_uuid(query: str) -> UUID | None:
    """The query as a UUID (a public id, a hold id), or None."""
    try:
        return UUID(query)
    except ValueError:
        return None


def query_int(query: str) -> int | None:
    """The query as a positive database id (an operation or payment id, "#123" too), or None."""
    digits = query.removeprefix("#")
    if not digits.isdigit() or not 0 < int(digits) <= _INT_MAX:
        return None
    return int(digits)


def admin_changelist_url(model, **filters) -> str:
    """The model's admin list, filtered (the section's "see all" link)."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def admin_change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[quote(obj.pk)])

