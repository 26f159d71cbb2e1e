"""One input policy for every JSON endpoint (the Stripe webhook included).

- A body over ``API_MAX_BODY_BYTES`` is refused before it is read: 413 ``payload_too_large``
  (``phoenix.core.middleware.InputPolicyMiddleware``; Django's own ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is the same limit).
- ``StrictJSONParser`` (DRF's parser for every view) refuses JSON nested deeper than
  ``API_MAX_JSON_DEPTH`` (400 ``nesting_too_deep``) and any string or key holding a NUL or
  an unpaired surrogate, which PostgreSQL and UTF-8 cannot store (400 ``invalid_characters``
  with ``field``, the path of the offending value). Parsing happens before any view, throttle
  or idempotency code reads the data, so no cache or database key is built from such input.
- ``StrictIntegerField`` / ``StrictBooleanField`` / ``CodeField``: no string -> number
  coercion, no trimming of codes.
- ``FlatRequestSerializer``: the base of request serializers made of plain fields, built per
  request at half DRF's cost (a shallow copy of each declared field instead of a rebuild).
- Query parameters: an API view accepts only the ones it declares (``query_parameters``,
  plus its paginator's): anything else is 400 ``unknown_query_parameter``
  (``phoenix.core.middleware.InputPolicyMiddleware``); a bad page or page size is 400 (``StrictPaging``).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.parsers import JSONParser

from phoenix.core.errors import PayloadTooLarge, PhoenixError

__all__ = ["PayloadTooLarge"]  # the error lives in errors (its handler maps Django's own to it)


class NestingTooDeep(PhoenixError):
    code = "nesting_too_deep"
    default_detail = "The JSON body is nested too deeply."


class InvalidCharacters(PhoenixError):
    code = "invalid_characters"
    default_detail = "A text value holds a NUL character or an unpaired surrogate."


class UnknownQueryParameter(PhoenixError):
    code = "unknown_query_parameter"
    default_detail = "This endpoint does not take this query parameter."


class InvalidPaging(PhoenixError):
    code = "invalid_paging"
    default_detail = "page and page_size are positive integers (page_size at most the documented maximum)."


def text_is_storable(value: str) -> bool:
    """No NUL (PostgreSQL text cannot hold it) and valid UTF-8 (no lone surrogate)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_json_value(data: Any, *, max_depth: int) -> None:
    """Walk parsed JSON without recursion: depth and storable text, naming the field."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= max_depth:
                raise NestingTooDeep(max_depth=max_depth)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and not text_is_storable(key):
                    raise InvalidCharacters(field=path or "(body)")
                child = f"{path}.{key}" if isinstance(key, str) and path else (
                    key if isinstance(key, str) else f"{path}[{key}]")
                stack.append((item, child, depth + 1))
        elif isinstance(value, str) and not text_is_storable(value):
            raise InvalidCharacters(field=path or "(body)")


def parse_json_body(raw: bytes | str) -> Any:
    """The policy's JSON parsing, for the views that read the raw body (the webhook)."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise NestingTooDeep(max_depth=settings.API_MAX_JSON_DEPTH) from None
    check_json_value(data, max_depth=settings.API_MAX_JSON_DEPTH)
    return data


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise NestingTooDeep(max_depth=settings.API_MAX_JSON_DEPTH) from None
        check_json_value(data, max_depth=settings.API_MAX_JSON_DEPTH)
        return data


# --- strict fields ------------------------------------------------------------------------


class StrictIntegerField(serializers.IntegerField):
    """A JSON number that is an integer: ``"300"``, ``true`` or ``3.5`` are refused."""

    default_error_messages = {"strict": "A JSON integer is required (not a string, boolean or fraction)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)) or (
                isinstance(data, float) and not data.is_integer()):
            self.fail("strict")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"strict": "A JSON boolean (true or false) is required."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("strict")
        return data


class FlatRequestSerializer(serializers.Serializer):
    """A request serializer whose fields are all plain (no nested serializer, no child field).

    DRF builds every serializer's fields anew per instance (`copy.deepcopy` of the declared
    fields, which runs each field's `__init__` again, validators included): on /luna's hot path
    half of the request's validation. A plain field keeps no per-request state but what `bind`
    sets on it, so a shallow copy of the declared field serves; a field with children (whose
    `bind` would be shared) is refused when the class is declared.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, field in cls._declared_fields.items():
            if isinstance(field, serializers.BaseSerializer) or hasattr(field, "child"):
                raise TypeError(f"{cls.__name__}.{name}: a FlatRequestSerializer has plain fields only")

    def get_fields(self):
        return {name: _shallow_copy(field) for name, field in self._declared_fields.items()}


def _shallow_copy(field: serializers.Field) -> serializers.Field:
    # copy.copy's reduce protocol, without its calls: the same new instance sharing the attributes.
    copied = object.__new__(type(field))
    copied.__dict__.update(field.__dict__)
    return copied


class CodeField(serializers.CharField):
    """A machine code or key, taken exactly as sent (never trimmed)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)


class StrictPaging:
    """Mixin for a DRF paginator: a bad page or page size is 400, never silently ignored."""

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param) if self.page_size_query_param else None
        if raw is not None and (not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size):
            raise InvalidPaging(parameter=self.page_size_query_param, max_page_size=self.max_page_size)
        return super().get_page_size(request)

    def paginate_queryset(self, queryset, request, view=None):
        page_param = getattr(self, "page_query_param", None)
        raw = request.query_params.get(page_param) if page_param else None
        if raw is not None and (not raw.isdigit() or int(raw) < 1):
            raise InvalidPaging(parameter=page_param)
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:  # a page past the end, a bad cursor
            raise InvalidPaging(str(exc.detail), parameter=page_param or "cursor") from None
