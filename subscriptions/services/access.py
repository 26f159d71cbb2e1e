"""Every write on individual access: the access state machine.

Rules shared by every service here:

- one transaction, the Access row locked with ``select_for_update`` (callers that lock
  more rows lock ProAccount -> License -> Access, in that order);
- each applied transition writes one append-only ``AccessEvent``;
- billing-driven transitions take the Stripe ``event_time`` (and optionally the event id
  as ``reference``): an event older than the newest one applied is ignored (``stale``),
  a replayed reference is ignored (``duplicate``), so duplicated or out-of-order webhook
  delivery never moves the state backwards. Ignored calls return ``applied=False``;
- illegal transitions raise ``AccessTransitionError`` (a ``ConflictError``, HTTP 409)
  with a machine code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from subscriptions.errors import (
    AlreadyLicensed,
    AlreadyLifetime,
    InvalidTrialEnd,
    NeedsCancelExisting,
    NotPremium,
    NotTrial,
)
from subscriptions.events import access_changed_emit, access_stored_flags
from subscriptions.models import Access, AccessEvent, AccessType, LicenseOverlay
from subscriptions.selectors import fallback_type, type_after_license_revoked

TRIAL_DAYS = 7
# An operator extends a trial by 1 to this many days, or to a date at most this far ahead.
TRIAL_EXTEND_MAX_DAYS = 365


@dataclass(frozen=True)
class AccessChange:
    """What a service did: ``applied`` False means a no-op, ``reason`` says why."""

    access: Access
    applied: bool
    reason: str = "applied"  # applied | duplicate | stale | unchanged | other_subscription
    detail: dict = field(default_factory=dict)


# --- helpers ------------------------------------------------------------------------


def _lock(user) -> Access:
    """The user's Access row, locked. Users created without registration (admin,
    fixtures) get an EXPIRED row: they never had access of their own."""
    access = Access.objects.select_for_update().filter(user=user).first()
    if access is None:
        Access.objects.get_or_create(user=user, defaults={"type": AccessType.EXPIRED})
        access = Access.objects.select_for_update().get(user=user)
    return access


def access_transition_record(access: Access, *, kind: str, from_type: str, event_time: datetime,
            reference: str = "", **detail) -> AccessEvent:
    before = access_stored_flags(access)
    access.save()
    event = AccessEvent.objects.create(
        access=access, kind=kind, from_type=from_type, to_type=access.type,
        event_time=event_time, reference=reference, detail=detail,
    )
    access_changed_emit(access=access, before=before, kind=kind)
    return event


def _billing_guard(access: Access, *, kind: str, event_time: datetime, reference: str) -> str | None:
    """Why a billing event must be ignored, or None to apply it."""
    if reference and AccessEvent.objects.filter(access=access, kind=kind, reference=reference).exists():
        return "duplicate"
    if access.billing_event_at is not None and event_time < access.billing_event_at:
        return "stale"
    return None


def _other_subscription(access: Access, stripe_subscription_id: str) -> bool:
    # An event about a subscription the user no longer has (an older one) changes nothing.
    return bool(
        stripe_subscription_id and access.stripe_subscription_id
        and stripe_subscription_id != access.stripe_subscription_id
    )


def _activation_applied(access: Access, stripe_subscription_id: str) -> bool:
    """This subscription's activation already happened (it is the access's current plan)."""
    return bool(stripe_subscription_id and access.type == AccessType.PREMIUM
                and access.stripe_subscription_id == stripe_subscription_id)


def _latest_event_is_activation_of(access: Access, stripe_subscription_id: str) -> bool:
    """Nothing happened to the access since this subscription's activation (no renewal, no
    cancellation): its first period end may still be set from Stripe's own figure."""
    latest = access.events.order_by("-id").values("kind", "detail").first()
    return bool(latest and latest["kind"] == "premium_activated"
                and latest["detail"].get("stripe_subscription_id") == stripe_subscription_id)


def _advance_clock(access: Access, event_time: datetime) -> None:
    if access.billing_event_at is None or event_time > access.billing_event_at:
        access.billing_event_at = event_time


def _leave_premium(access: Access, *, now: datetime) -> None:
    access.type = fallback_type(access, now=now)
    access.cancel_at_period_end = False


# --- sign-up ------------------------------------------------------------------------


@transaction.atomic
def access_open_trial(*, user, now: datetime | None = None) -> Access:
    """Sign-up -> TRIAL for 7 days. Idempotent: an existing row is returned unchanged."""
    now = now or timezone.now()
    access, created = Access.objects.get_or_create(
        user=user,
        defaults={"type": AccessType.TRIAL, "trial_ends_at": now + timedelta(days=TRIAL_DAYS)},
    )
    if created:
        AccessEvent.objects.create(
            access=access, kind="trial_opened", from_type="", to_type=access.type,
            event_time=now, detail={"trial_ends_at": access.trial_ends_at.isoformat()},
        )
    return access


# --- trial, by an operator (subscriptions.operator) ---------------------------------


def trial_end_extended(*, trial_ends_at: datetime, now: datetime, days: int | None = None,
                       until: datetime | None = None) -> datetime:
    """The end a trial gets when extended by `days` (from its current end, or from `now` when it
    already ran out and the hourly job has not expired it yet) or to `until` (exactly one of the
    two). Raises InvalidTrialEnd unless the result is later than both the current end and `now`,
    and at most TRIAL_EXTEND_MAX_DAYS ahead."""
    if (days is None) == (until is None):
        raise InvalidTrialEnd("Extend by a number of days or to a date (one of the two).")
    if days is not None:
        if not 1 <= days <= TRIAL_EXTEND_MAX_DAYS:
            raise InvalidTrialEnd(f"Extend by 1 to {TRIAL_EXTEND_MAX_DAYS} days.")
        until = max(trial_ends_at, now) + timedelta(days=days)
    if until <= now:
        raise InvalidTrialEnd("The new trial end is in the past.")
    if until <= trial_ends_at:
        raise InvalidTrialEnd(f"The new trial end must be later than the current one ({trial_ends_at.isoformat()}).")
    if until > now + timedelta(days=TRIAL_EXTEND_MAX_DAYS):
        raise InvalidTrialEnd(f"The new trial end is more than {TRIAL_EXTEND_MAX_DAYS} days ahead.")
    return until


@transaction.atomic
def access_extend_trial(*, user, now: datetime, days: int | None = None, until: datetime | None = None,
                        reference: str = "") -> AccessEvent:
    """TRIAL stays TRIAL with a later end (`trial_end_extended`). Not TRIAL: ``not_trial``."""
    access = _lock(user)
    if access.type != AccessType.TRIAL:
        raise NotTrial()
    previous_end = access.trial_ends_at
    access.trial_ends_at = trial_end_extended(trial_ends_at=previous_end, now=now, days=days, until=until)
    return access_transition_record(access, kind="trial_extended", from_type=access.type, event_time=now,
                                    reference=reference, trial_ends_at_before=previous_end.isoformat(),
                                    trial_ends_at=access.trial_ends_at.isoformat())


@transaction.atomic
def access_end_trial(*, user, now: datetime, reference: str = "") -> AccessEvent:
    """TRIAL ends now: the type the hourly job gives an ended trial (`fallback_type`, normally
    EXPIRED), with the same event kind (``trial_ended``). The trial end moves to `now` so that
    no later fallback (a license revoked, a subscription ended) finds the trial still running.
    Not TRIAL: ``not_trial``."""
    access = _lock(user)
    if access.type != AccessType.TRIAL:
        raise NotTrial()
    from_type, previous_end = access.type, access.trial_ends_at
    access.trial_ends_at = min(previous_end, now)
    access.type = fallback_type(access, now=now)
    return access_transition_record(access, kind="trial_ended", from_type=from_type, event_time=now,
                                    reference=reference, trial_ends_at_before=previous_end.isoformat(),
                                    ended_early=True)


# --- monthly subscription (billing-driven) ------------------------------------------


@transaction.atomic
def access_activate_premium(
    *, user, period_end: datetime, event_time: datetime,
    stripe_subscription_id: str = "", reference: str = "", provisional: bool = False,
) -> AccessChange:
    """Monthly payment (checkout completed, or the subscription's first invoice) -> PREMIUM
    until ``period_end`` (``provisional``: a guess, when Stripe's period is not known yet).

    From TRIAL, EXPIRED, LICENSED (the user pays for access of their own) or PREMIUM
    (a new subscription replaces the old one). LIFETIME: ``already_lifetime``.

    Stripe announces one activation twice (``checkout.session.completed`` and the first
    ``invoice.paid``), in either order or at once: whichever comes second finds this
    subscription already active and is a no-op, except that a period end from Stripe
    replaces a provisional one. So any interleaving gives one activation and one final row.
    """
    access = _lock(user)
    if _activation_applied(access, stripe_subscription_id):
        if (not provisional and access.current_period_end != period_end
                and _latest_event_is_activation_of(access, stripe_subscription_id)):
            access.current_period_end = period_end
        _advance_clock(access, event_time)
        access.save(update_fields=["current_period_end", "billing_event_at", "updated_at"])
        return AccessChange(access, False, "duplicate")
    if ignored := _billing_guard(access, kind="premium_activated", event_time=event_time, reference=reference):
        return AccessChange(access, False, ignored)
    if access.type == AccessType.LIFETIME:
        raise AlreadyLifetime()
    from_type = access.type
    access.type = AccessType.PREMIUM
    access.current_period_end = period_end
    access.cancel_at_period_end = False
    access.stripe_subscription_id = stripe_subscription_id
    _advance_clock(access, event_time)
    access_transition_record(access, kind="premium_activated", from_type=from_type, event_time=event_time,
            reference=reference, period_end=period_end.isoformat(),
            stripe_subscription_id=stripe_subscription_id)
    return AccessChange(access, True)


@transaction.atomic
def access_renew_premium(
    *, user, period_end: datetime, event_time: datetime,
    stripe_subscription_id: str = "", reference: str = "",
) -> AccessChange:
    """A paid renewal invoice: the period end moves forward, never back.

    Also revives an access that a payment failure (or a missed renewal) expired: a paid
    invoice newer than that failure means the user has paid for this period.
    """
    access = _lock(user)
    if ignored := _billing_guard(access, kind="premium_renewed", event_time=event_time, reference=reference):
        return AccessChange(access, False, ignored)
    if _other_subscription(access, stripe_subscription_id):
        return AccessChange(access, False, "other_subscription")
    if access.type == AccessType.LIFETIME:
        raise AlreadyLifetime()
    _advance_clock(access, event_time)
    if access.type == AccessType.PREMIUM and access.current_period_end >= period_end:
        access.save(update_fields=["billing_event_at", "updated_at"])
        return AccessChange(access, False, "unchanged")
    from_type = access.type
    access.type = AccessType.PREMIUM
    access.current_period_end = period_end
    if stripe_subscription_id:
        access.stripe_subscription_id = stripe_subscription_id
    access_transition_record(access, kind="premium_renewed", from_type=from_type, event_time=event_time,
            reference=reference, period_end=period_end.isoformat())
    return AccessChange(access, True)


@transaction.atomic
def access_payment_failed(
    *, user, event_time: datetime, stripe_subscription_id: str = "", reference: str = "",
) -> AccessChange:
    """First failed renewal -> EXPIRED at once (or back to a license the user holds).

    Not PREMIUM (already expired, lifetime, ...): nothing to do, but the event time is
    remembered so an older "paid" event delivered later cannot revive the access.
    """
    return _end_premium(user=user, kind="payment_failed", event_time=event_time,
                        stripe_subscription_id=stripe_subscription_id, reference=reference)


@transaction.atomic
def access_set_cancel_at_period_end(
    *, user, event_time: datetime, stripe_subscription_id: str = "", reference: str = "",
) -> AccessChange:
    """Cancellation: stays PREMIUM until the period ends (then the hourly job expires it)."""
    return _set_cancel_flag(user=user, value=True, kind="cancel_scheduled", event_time=event_time,
                            stripe_subscription_id=stripe_subscription_id, reference=reference)


@transaction.atomic
def access_resume(
    *, user, event_time: datetime, stripe_subscription_id: str = "", reference: str = "",
) -> AccessChange:
    """The user withdrew the cancellation before the period end."""
    return _set_cancel_flag(user=user, value=False, kind="cancel_withdrawn", event_time=event_time,
                            stripe_subscription_id=stripe_subscription_id, reference=reference)


def _set_cancel_flag(*, user, value: bool, kind: str, event_time: datetime,
                     stripe_subscription_id: str, reference: str) -> AccessChange:
    access = _lock(user)
    if ignored := _billing_guard(access, kind=kind, event_time=event_time, reference=reference):
        return AccessChange(access, False, ignored)
    if _other_subscription(access, stripe_subscription_id):
        return AccessChange(access, False, "other_subscription")
    if access.type != AccessType.PREMIUM:
        raise NotPremium()
    _advance_clock(access, event_time)
    if access.cancel_at_period_end == value:
        access.save(update_fields=["billing_event_at", "updated_at"])
        return AccessChange(access, False, "unchanged")
    access.cancel_at_period_end = value
    access_transition_record(access, kind=kind, from_type=access.type, event_time=event_time, reference=reference)
    return AccessChange(access, True)


@transaction.atomic
def access_end_premium(
    *, user, event_time: datetime, stripe_subscription_id: str = "", reference: str = "",
) -> AccessChange:
    """The subscription is gone (Stripe ``customer.subscription.deleted``) -> EXPIRED
    (or LICENSED when the user holds a license, e.g. after a license assignment)."""
    return _end_premium(user=user, kind="premium_ended", event_time=event_time,
                        stripe_subscription_id=stripe_subscription_id, reference=reference)


def _end_premium(*, user, kind: str, event_time: datetime, stripe_subscription_id: str,
                 reference: str) -> AccessChange:
    access = _lock(user)
    if ignored := _billing_guard(access, kind=kind, event_time=event_time, reference=reference):
        return AccessChange(access, False, ignored)
    if _other_subscription(access, stripe_subscription_id):
        return AccessChange(access, False, "other_subscription")
    if access.type == AccessType.LIFETIME:
        return AccessChange(access, False, "unchanged")
    _advance_clock(access, event_time)
    if access.type != AccessType.PREMIUM:
        # Not PREMIUM any more, but the event time is kept so an older "paid" event
        # delivered later cannot revive the access.
        access.save(update_fields=["billing_event_at", "updated_at"])
        return AccessChange(access, False, "unchanged")
    from_type = access.type
    _leave_premium(access, now=event_time)
    access_transition_record(access, kind=kind, from_type=from_type, event_time=event_time, reference=reference)
    return AccessChange(access, True)


@transaction.atomic
def access_grant_lifetime(*, user, event_time: datetime, reference: str = "") -> AccessChange:
    """Lifetime payment -> LIFETIME, permanent. Any earlier state; idempotent.

    A PREMIUM user keeps their ``stripe_subscription_id`` here: billing cancels that
    subscription, and its later events find the access LIFETIME and change nothing.
    """
    access = _lock(user)
    if reference and AccessEvent.objects.filter(
        access=access, kind="lifetime_granted", reference=reference
    ).exists():
        return AccessChange(access, False, "duplicate")
    # Not time-guarded: lifetime is bought once and nothing billing-driven outranks it.
    if access.type == AccessType.LIFETIME:
        return AccessChange(access, False, "unchanged")
    from_type = access.type
    access.type = AccessType.LIFETIME
    access.cancel_at_period_end = False
    _advance_clock(access, event_time)
    access_transition_record(access, kind="lifetime_granted", from_type=from_type, event_time=event_time,
            reference=reference)
    return AccessChange(access, True)


# --- licenses (called only by `licenses`, inside its own locked transaction) ---------


@transaction.atomic
def access_lock(*, user) -> Access:
    """Lock a user's access row (licenses decides assignment under this lock)."""
    return _lock(user)


@transaction.atomic
def access_grant_license(
    *, user, now: datetime, personal_subscription_canceled: bool = False, reference: str = "",
) -> AccessChange:
    """The user now holds an active license: TRIAL/EXPIRED -> LICENSED.

    Refusals: LIFETIME ``already_lifetime``; holding a license ``already_licensed``;
    PREMIUM ``needs_cancel_existing`` unless ``personal_subscription_canceled`` (Stripe
    confirmed the cancellation; the type follows when billing reports the subscription
    ended, through ``access_end_premium``).
    """
    access = _lock(user)
    if access.type == AccessType.LIFETIME:
        raise AlreadyLifetime()
    if access.type == AccessType.LICENSED or access.license_status != LicenseOverlay.NONE:
        raise AlreadyLicensed()
    if access.type == AccessType.PREMIUM and not personal_subscription_canceled:
        raise NeedsCancelExisting(stripe_subscription_id=access.stripe_subscription_id)
    from_type = access.type
    access.license_status = LicenseOverlay.ACTIVE
    if access.type in (AccessType.TRIAL, AccessType.EXPIRED):
        access.type = AccessType.LICENSED
    access_transition_record(access, kind="license_granted", from_type=from_type, event_time=now, reference=reference)
    return AccessChange(access, True)


@transaction.atomic
def access_suspend_license(*, user, now: datetime, reference: str = "") -> AccessChange:
    """The held license is suspended (pro renewal failed): no premium access meanwhile."""
    return _set_license_overlay(user=user, value=LicenseOverlay.SUSPENDED, kind="license_suspended",
                                now=now, reference=reference)


@transaction.atomic
def access_reactivate_license(*, user, now: datetime, reference: str = "") -> AccessChange:
    """The suspended license is active again (the pro paid)."""
    return _set_license_overlay(user=user, value=LicenseOverlay.ACTIVE, kind="license_reactivated",
                                now=now, reference=reference)


def _set_license_overlay(*, user, value: str, kind: str, now: datetime, reference: str) -> AccessChange:
    access = _lock(user)
    if access.license_status in (LicenseOverlay.NONE, value):
        return AccessChange(access, False, "unchanged")
    access.license_status = value
    access_transition_record(access, kind=kind, from_type=access.type, event_time=now, reference=reference)
    return AccessChange(access, True)


@transaction.atomic
def access_revoke_license(*, user, now: datetime, reference: str = "") -> AccessChange:
    """The license ended (grouped date after cancel/unlink): LICENSED -> EXPIRED (or TRIAL
    while the trial still runs). Access of the user's own (PREMIUM, LIFETIME) is kept."""
    access = _lock(user)
    if access.license_status == LicenseOverlay.NONE:
        return AccessChange(access, False, "unchanged")
    from_type = access.type
    access.type = type_after_license_revoked(access, now=now)
    access.license_status = LicenseOverlay.NONE
    access_transition_record(access, kind="license_revoked", from_type=from_type, event_time=now, reference=reference)
    return AccessChange(access, True)
