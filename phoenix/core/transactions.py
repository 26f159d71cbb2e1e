"""`service_atomic`: a writing service's transaction, without a SAVEPOINT where one cannot matter.

Django's `transaction.atomic` opens a SAVEPOINT whenever it is nested, so a service called by
another service (`wallet_debit` inside `energy_consume`) or inside a view's transaction
(`@idempotent`) costs two more round trips (SAVEPOINT, RELEASE). A savepoint only matters to a
caller that catches the inner failure and goes on writing. Inside an *all-or-nothing* block,
whose code catches no failure of what it calls, every failure leaves the block and rolls it
back whole (to its own savepoint, or the transaction), so the inner savepoints buy nothing.

`service_atomic` opens such a block (`all_or_nothing`, a plain `atomic()` that says so) unless
it already runs inside one; nested inside one it is `atomic(savepoint=False)`. A test's
transaction or a caller's own `atomic()` is not all-or-nothing, so there the service keeps its
savepoint and a caller may catch its error and go on.

The rule for code inside an all-or-nothing block: catch an error of a nested service only to
re-raise (the block then rolls back). `energy_consume` enriches InsufficientEnergy with a pack
before re-raising; the one read it needs is allowed with `transaction.set_rollback(False)`
because that error is raised by Python, not by a failed statement.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from django.db import connection, transaction

_P = ParamSpec("_P")
_R = TypeVar("_R")

_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("phoenix_all_or_nothing", default=False)


@contextlib.contextmanager
def all_or_nothing() -> Iterator[None]:
    """`transaction.atomic()` for a block that catches no failure of what it calls."""
    with transaction.atomic():
        token = _inside.set(True)
        try:
            yield
        finally:
            _inside.reset(token)


def service_atomic(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a writing service: its own all-or-nothing transaction, or no savepoint when
    it already runs inside one."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if _inside.get() and connection.in_atomic_block:
            with transaction.atomic(savepoint=False):
                return function(*args, **kwargs)
        with all_or_nothing():
            return function(*args, **kwargs)

    return wrapper

