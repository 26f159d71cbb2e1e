"""Energy actions over the ledger: the writes behind the /luna API.

The ledger services (`wallet.services.balance`, `.holds`) know nothing of actions or of unlimited users;
these orchestrate them: resolve the action in the catalogue, ask `subscriptions` whether
the user is unlimited, move energy through the ledger, and record the `UsageEvent` in
the SAME transaction as the ledger change (so an event exists iff its energy moved).

Unlimited users (and free actions) never touch the ledger: nothing is deducted, the
event is recorded with `energy_consumed = 0` (and `unlimited = True`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from phoenix.core.transactions import service_atomic
from subscriptions.selectors import has_unlimited_energy
from wallet import selectors
from wallet.errors import AlreadyRefunded, HoldNotPending, InsufficientEnergy, WalletValidationError
from wallet.models import BalanceOperation, EnergyAction, Hold, HoldStatus, OperationSource, UsageEvent
from wallet.services.balance import wallet_debit, wallet_refund_debit
from wallet.services.holds import (
    DEFAULT_HOLD_TTL_SECONDS,
    wallet_commit,
    wallet_freeze,
    wallet_hold_extend,
    wallet_release,
)
from wallet.services.ledger import lock_wallet_of_user
from wallet.services.velocity import (
    velocity_api_key_charge,
    velocity_charge,
    velocity_charge_rider,
    velocity_guarded,
    velocity_refuse,
)

DEFAULT_SOURCE_APP = "api"


@dataclass(frozen=True)
class ConsumeResult:
    event: UsageEvent
    operation: BalanceOperation | None  # None: unlimited user or free action
    energy_consumed: int
    available: int
    unlimited: bool


@dataclass(frozen=True)
class FreezeResult:
    hold: Hold | None  # None: unlimited user or free action (nothing to reserve)
    event: UsageEvent | None  # recorded at once when there is no hold to commit
    amount: int
    available: int
    unlimited: bool


@dataclass(frozen=True)
class RefundResult:
    refunded: int
    available: int
    operation: BalanceOperation


def _insufficient_with_pack(exc: InsufficientEnergy) -> InsufficientEnergy:
    """The 402 answer also names the cheapest pack that covers the shortfall."""
    pack = selectors.energy_pack_covering(shortfall=exc.required - exc.available)
    return InsufficientEnergy(required=exc.required, available=exc.available,
                              required_pack=selectors.energy_pack_summary(pack))


def _event_build(
    *, user, action: EnergyAction | None, action_code: str, energy_consumed: int, unlimited: bool,
    operation: BalanceOperation | None, metadata: dict | None, source_app: str | None,
    idempotency_key: str | None = None,
) -> UsageEvent:
    return UsageEvent(
        user=user, action_code=action_code,
        category=action.category if action else "",
        # The caller's app wins (a satellite says who it is); else the catalogue's.
        source_app=(source_app or (action.source_app if action else "") or DEFAULT_SOURCE_APP)[:32],
        energy_consumed=energy_consumed, unlimited=unlimited, operation=operation,
        metadata=metadata or {}, idempotency_key=idempotency_key, created_at=timezone.now(),
    )


_EVENT_FIELDS = [field for field in UsageEvent._meta.concrete_fields if not field.primary_key]

# The event, inserted only when the breaker allowed the charge (a row in the charge's `charged`).
_CHARGED_EVENT_INSERT = (
    f"INSERT INTO {UsageEvent._meta.db_table} ({', '.join(field.column for field in _EVENT_FIELDS)}) "
    f"SELECT {', '.join(f'%(event_{field.column})s' for field in _EVENT_FIELDS)} FROM charged RETURNING id"
)


# The same insert riding on a paid consume's debit statement (`velocity_charge_rider`): its
# operation is the statement's own `op`.
_OPERATION_COLUMN = UsageEvent._meta.get_field("operation").column
_RIDING_EVENT_FIELDS = [field for field in _EVENT_FIELDS if field.column != _OPERATION_COLUMN]
_RIDING_EVENT_VALUES = ", ".join("op.id" if field.column == _OPERATION_COLUMN else f"%(event_{field.column})s"
                                 for field in _EVENT_FIELDS)
_RIDING_EVENT_CTE = (
    f"charged_event AS (INSERT INTO {UsageEvent._meta.db_table} ({', '.join(field.column for field in _EVENT_FIELDS)}) "
    f"SELECT {_RIDING_EVENT_VALUES} FROM charged, op RETURNING id)"
)


def _event_values(event: UsageEvent, fields) -> dict:
    return {f"event_{field.column}": field.get_db_prep_save(getattr(event, field.attname), connection)
            for field in fields}


def _event_saved(event: UsageEvent, pk: int) -> UsageEvent:
    event.pk = pk
    event._state.adding, event._state.db = False, connection.alias
    return event


def _event_create(event: UsageEvent, *, charge: dict | None = None) -> UsageEvent:
    """Insert `event` (from `_event_build`); with `charge` (velocity_charge's arguments) the
    breaker's charge and the insert are one statement, refused together."""
    if charge is None:
        event.save(force_insert=True)
        return event
    (pk,) = velocity_charge(**charge, now=event.created_at, then=_CHARGED_EVENT_INSERT,
                            then_params=_event_values(event, _EVENT_FIELDS))
    return _event_saved(event, pk)


def _paid_consume(*, user, action: EnergyAction, event: UsageEvent, idempotency_key: str | None,
                  api_key_prefix: str | None) -> UsageEvent:
    """Debit the action's cost with the breaker's charge and the usage event riding on the
    debit's own statement (one round trip for the three), refused together."""
    rider = velocity_charge_rider(user_id=user.pk, energy=action.cost, now=event.created_at,
                                  then_ctes=_RIDING_EVENT_CTE, then_answer="SELECT id FROM charged_event",
                                  then_params=_event_values(event, _RIDING_EVENT_FIELDS))
    try:
        operation = wallet_debit(
            user=user, amount=action.cost, source=OperationSource.API, reason=f"action {action.code}",
            reference=action.code, idempotency_key=idempotency_key, rider=rider,
        )
    except InsufficientEnergy as exc:
        # Raised by Python before or after statements that succeeded: the transaction can
        # still answer the pack read; re-raising then rolls this transaction back whole.
        transaction.set_rollback(False)
        raise _insufficient_with_pack(exc) from None
    event.operation = operation
    charge = {"wallet": operation.wallet, "energy": operation.amount, "fair_use": False,
              "api_key_prefix": api_key_prefix}
    if not hasattr(operation, "rider_answer"):
        # The key's first debit, replayed (its event was not found above: written by another
        # caller's transaction under the same wallet key): this event is charged on its own.
        return _event_create(event, charge=charge)
    if operation.rider_answer is None:  # no `charged` row: the breaker refused (the debit rolls back)
        velocity_refuse(user_id=user.pk, fair_use=False, now=event.created_at)
    if api_key_prefix:
        velocity_api_key_charge(api_key_prefix=api_key_prefix, energy=operation.amount, user_id=user.pk,
                                now=event.created_at)
    return _event_saved(event, operation.rider_answer)


def _check_metadata(metadata: Any) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise WalletValidationError(fields={"metadata": ["A JSON object."]})
    return metadata


def _fair_use_charge(user, *, unlimited: bool) -> dict | None:  # actions only: no per-key energy
    """An unlimited user spends nothing: the breaker counts their actions (fair use), under
    the wallet lock like a paid charge. The charge for `_event_create`; None: nothing to count."""
    if not unlimited:
        return None
    return {"wallet": lock_wallet_of_user(user), "energy": 0, "fair_use": True}


@velocity_guarded
@service_atomic
def energy_consume(
    *, user, action_code: str, idempotency_key: str | None = None, metadata: dict | None = None,
    source_app: str | None = None, api_key_prefix: str | None = None,
) -> ConsumeResult:
    """Perform an action: debit its cost (unless unlimited or free) and record the event.

    Raises UnknownAction (400), InsufficientEnergy (402, with `required_pack`) and
    SpendVelocityExceeded (429, the breaker: counted in this transaction, under the wallet lock).
    `idempotency_key` (in-process callers; the HTTP API has its own response store) is the
    wallet's key for the debit, and the event's: a replay returns the first result.
    """
    metadata = _check_metadata(metadata)
    action = selectors.energy_action_active(code=action_code)
    if idempotency_key is not None:
        first = UsageEvent.objects.filter(user_id=user.pk, idempotency_key=idempotency_key).first()
        if first is not None:
            return _consume_result(first)
    # Asked before any lock: a user turning unlimited mid-request is charged, never the reverse
    # for long (the next request sees the new access). Never cached.
    unlimited = has_unlimited_energy(user)
    paid = not unlimited and action.cost > 0
    event = _event_build(
        user=user, action=action, action_code=action.code, energy_consumed=action.cost if paid else 0,
        unlimited=unlimited, operation=None, metadata=metadata, source_app=source_app,
        idempotency_key=idempotency_key,
    )
    if paid:
        # A paid event is serialized by the wallet lock (its replay returned above): no twin
        # can race its insert, so no savepoint.
        return _consume_result(_paid_consume(user=user, action=action, event=event,
                                             idempotency_key=idempotency_key, api_key_prefix=api_key_prefix))
    charge = _fair_use_charge(user, unlimited=unlimited)
    if idempotency_key is None:
        return _consume_result(_event_create(event, charge=charge))
    try:
        # A savepoint: a concurrent same-key unlimited/free event loses cleanly (its charge with it).
        with transaction.atomic():
            event = _event_create(event, charge=charge)
    except IntegrityError:
        event = UsageEvent.objects.get(user_id=user.pk, idempotency_key=idempotency_key)
    return _consume_result(event)


def _consume_result(event: UsageEvent) -> ConsumeResult:
    operation = event.operation
    available = (operation.available_after if operation is not None
                 else selectors.wallet_balance(event.user)["available"])
    return ConsumeResult(event=event, operation=operation, energy_consumed=event.energy_consumed,
                         available=available, unlimited=event.unlimited)


@velocity_guarded
@transaction.atomic
def energy_freeze(
    *, user, action_code: str, ttl_seconds: int = DEFAULT_HOLD_TTL_SECONDS, max_lifetime_seconds: int | None = None,
    metadata: dict | None = None, source_app: str | None = None, api_key_prefix: str | None = None,
) -> FreezeResult:
    """Reserve an action's cost while it runs; `energy_commit` records the event.

    Unlimited users and free actions reserve nothing: there is no hold to commit, so the
    action is recorded now (it is authorized and costs nothing).
    """
    metadata = _check_metadata(metadata)
    action = selectors.energy_action_active(code=action_code)
    unlimited = has_unlimited_energy(user)
    if unlimited or action.cost == 0:
        event = _event_create(_event_build(user=user, action=action, action_code=action.code, energy_consumed=0,
                                           unlimited=unlimited, operation=None, metadata=metadata,
                                           source_app=source_app),
                              charge=_fair_use_charge(user, unlimited=unlimited))
        return FreezeResult(hold=None, event=event, amount=0,
                            available=selectors.wallet_balance(user)["available"], unlimited=unlimited)
    try:
        hold = wallet_freeze(user=user, amount=action.cost, action_code=action.code, ttl_seconds=ttl_seconds,
                             max_lifetime_seconds=max_lifetime_seconds, source=OperationSource.API)
    except InsufficientEnergy as exc:
        raise _insufficient_with_pack(exc) from None
    velocity_charge(wallet=hold.wallet, energy=hold.amount, fair_use=False, api_key_prefix=api_key_prefix)
    operation = hold.operations.order_by("-seq").first()
    return FreezeResult(hold=hold, event=None, amount=hold.amount, available=operation.available_after,
                        unlimited=False)


@transaction.atomic
def energy_commit(
    *, hold_id, amount: int | None = None, user=None, metadata: dict | None = None, source_app: str | None = None,
) -> ConsumeResult:
    """Capture a hold (fully, or `amount` of it) and record the action's usage event.

    `user` scopes the hold (an end user's request); None for satellites. Raises
    HoldNotFound (404), HoldNotPending / HoldExpired (409), InvalidAmount (400).
    """
    metadata = _check_metadata(metadata)
    operation = wallet_commit(hold_id=hold_id, amount=amount, user=user, source=OperationSource.API)
    hold = operation.hold
    consumed = operation.amount + (hold.overrun_amount or 0)  # a true-up took more than the hold
    action = EnergyAction.objects.filter(code=hold.action_code).first()  # may be inactive since the freeze
    event = _event_create(_event_build(
        user=operation.wallet.user, action=action, action_code=hold.action_code,
        energy_consumed=consumed, unlimited=False, operation=operation, metadata=metadata,
        source_app=source_app,
    ))
    return ConsumeResult(event=event, operation=operation, energy_consumed=consumed,
                         available=operation.available_after, unlimited=False)


@transaction.atomic
def energy_extend(*, hold_id, ttl_seconds: int | None = None, user=None):
    """POST /luna/energy/extend: renew a pending hold's lease (see `wallet_hold_extend`)."""
    hold, _extension = wallet_hold_extend(hold_id=hold_id, ttl_seconds=ttl_seconds, user=user,
                                          source=OperationSource.API)
    return hold


@transaction.atomic
def energy_refund(
    *, transaction_id: int | None = None, hold_id=None, user=None, reason: str = "",
) -> RefundResult:
    """Undo an action: credit a consume/commit back (once), or release a pending hold.

    A second refund of the same thing is 409 `already_refunded`. The usage event stays
    (the store is append-only); a compensating event linked to it (`refund_of`) nets it out
    of every aggregate. A released hold had no event yet, so none is written.
    """
    if (transaction_id is None) == (hold_id is None):
        raise WalletValidationError(fields={"non_field_errors": ["Give either transaction_id or hold_id."]})
    if transaction_id is not None:
        operation = wallet_refund_debit(operation_id=transaction_id, user=user, source=OperationSource.API,
                                        reason=reason[:255])
        # Read back: energy returned to a lot already past its expiry expired right after the credit.
        available = selectors.wallet_balance(operation.wallet.user)["available"]
        return RefundResult(refunded=operation.amount, available=available, operation=operation)
    try:
        operation = wallet_release(hold_id=hold_id, user=user, source=OperationSource.API, reason=reason[:255])
    except HoldNotPending as exc:
        if exc.hold_status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
            raise AlreadyRefunded(f"The hold is already {exc.hold_status}.") from None
        raise
    return RefundResult(refunded=operation.amount, available=operation.available_after, operation=operation)


@transaction.atomic
def usage_event_record(
    *, user, action_code: str, metadata: dict | None = None, source_app: str | None = None,
) -> UsageEvent:
    """POST /luna/events: an action a satellite performed without energy moving here
    (consumes nothing). The action must be in the active catalogue."""
    metadata = _check_metadata(metadata)
    action = selectors.energy_action_active(code=action_code)
    return _event_create(_event_build(user=user, action=action, action_code=action.code, energy_consumed=0,
                                      unlimited=has_unlimited_energy(user), operation=None, metadata=metadata,
                                      source_app=source_app))
