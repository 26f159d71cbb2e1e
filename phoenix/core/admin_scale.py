"""Changelists that stay fast on huge tables (1M operations, 100k users): one helper for
every app's admin.

- The count: exact up to ``EXACT_COUNT_UP_TO`` rows (a bounded ``COUNT`` over a ``LIMIT``
  subquery, so it never reads more rows than that), PostgreSQL's estimate (the planner's row
  count from ``EXPLAIN``) above it; ``show_full_result_count = False`` drops the second,
  unfiltered count.
- Deep paging bounded: at most ``MAX_PAGES`` pages (a larger page number shows the last one);
  past that an operator narrows with a filter or a search.
- Searches by the kind of the term, each an exact lookup on an indexed column: an e-mail
  (stored lower-case) only the e-mail fields, a UUID only the UUID fields (and the text
  fields, where idempotency keys are UUIDs), an integer only the integer fields (and the
  text fields), anything else only the text fields. Never ``icontains`` (a scan), and the
  fields of one kind in one OR.
"""

from __future__ import annotations

import json
import uuid

from django.core.paginator import Paginator
from django.db import connections, models
from django.utils.functional import cached_property

EXACT_COUNT_UP_TO = 10_000
MAX_PAGES = 200


def queryset_estimated_rows(queryset) -> int:
    """The planner's estimate of the rows `queryset` returns (no rows read)."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Exact count below the threshold, the planner's estimate above it; pages capped."""

    exact_up_to = EXACT_COUNT_UP_TO
    max_pages = MAX_PAGES

    @cached_property
    def count(self) -> int:
        bounded = self.object_list.order_by()[: self.exact_up_to + 1].count()
        if bounded <= self.exact_up_to:
            return bounded
        self.estimated = True
        return max(queryset_estimated_rows(self.object_list), self.exact_up_to + 1)

    estimated = False

    @cached_property
    def num_pages(self) -> int:
        return min(super().num_pages, self.max_pages)

    def validate_number(self, number):
        # A page past the cap (or past an estimate's end) shows the last allowed page.
        try:
            number = int(number)
        except (TypeError, ValueError):
            number = 1
        return max(1, min(number, self.num_pages))


def _final_field(model, path: str):
    field = None
    for part in path.split("__"):
        field = model._meta.pk if part == "pk" else model._meta.get_field(part)
        if field.is_relation:
            model = field.related_model
    return field


def _term_kind(term: str) -> str:
    if "@" in term:
        return "email"
    try:
        uuid.UUID(term)
    except ValueError:
        pass
    else:
        return "uuid"
    if term.isdigit() and int(term) < 2**63:
        return "integer"
    return "text"


# Which field kinds a term of each kind is looked up in.
_KINDS_FOR_TERM = {
    "email": ("email",),
    "uuid": ("uuid", "text"),
    "integer": ("integer", "text"),
    "text": ("text",),
}


def _field_kind(field) -> str:
    if isinstance(field, models.EmailField):
        return "email"
    if isinstance(field, models.UUIDField):
        return "uuid"
    if isinstance(field, models.IntegerField | models.AutoField | models.BigAutoField):
        return "integer"
    return "text"


class ScaleAdminMixin:
    """Every big table's changelist: estimated count, bounded pages, indexed exact search.
    ``search_fields`` are plain paths (no prefixes): the term's kind picks which apply."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term or not self.search_fields:
            return queryset, False
        kind = _term_kind(term)
        value = term.lower() if kind == "email" else term
        lookups = []
        for path in self.search_fields:
            field_kind = _field_kind(_final_field(queryset.model, path))
            if field_kind in _KINDS_FOR_TERM[kind]:
                lookups.append((path, int(value) if field_kind == "integer" else value))
        if not lookups:
            return queryset.none(), False
        # One OR per table keeps each branch on its index; across tables (a join) the
        # branches are a union of primary keys, each found by its own index.
        if len(lookups) == 1:
            return queryset.filter(**dict(lookups)), False
        model = queryset.model
        branches = [model._default_manager.filter(**{path: val}).values("pk") for path, val in lookups]
        union = branches[0].union(*branches[1:])
        return queryset.filter(pk__in=union), False
