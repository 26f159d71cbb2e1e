"""The energy ledger and the energy catalogues.

Every number is an integer number of energy points. The database enforces the rules on
its own (CHECKs, unique keys, an append-only trigger on operations, see migration 0002);
the services check the same rules first so callers get a clear, typed error.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from wallet.signals import catalogue_bulk_changed

# The hash a wallet's first operation chains to.
GENESIS_HASH = "0" * 64


class OperationSource(models.TextChoices):
    API = "api", "API"
    STRIPE = "stripe", "Stripe"
    ADMIN = "admin", "Admin"
    SYSTEM = "system", "System"


class OperationType(models.TextChoices):
    CREDIT = "credit", "Credit"
    DEBIT = "debit", "Debit"
    FREEZE = "freeze", "Freeze"
    COMMIT = "commit", "Commit"
    RELEASE = "release", "Release"
    # Written only by the health job: it moves `held` back to the sum of pending holds
    # when they drifted apart. Dedicated types (rather than a hold-less freeze/release)
    # keep the per-type CHECK exact and make corrections easy to find in the ledger.
    HELD_CORRECTION_UP = "held_correction_up", "Held correction (+)"
    HELD_CORRECTION_DOWN = "held_correction_down", "Held correction (-)"
    # Written by the lot-expiry job (and by a release/refund handing energy back to a lot
    # already past its expiry): the unreserved remainder of expired lots leaves the balance.
    LOT_EXPIRY = "lot_expiry", "Lot expiry"


# (balance delta sign, held delta sign) per type: the ledger's table of types. Used by the CHECKs below,
# the health replay query and the tests, so there is one definition.
OPERATION_EFFECTS: dict[str, tuple[int, int]] = {
    OperationType.CREDIT: (+1, 0),
    OperationType.DEBIT: (-1, 0),
    OperationType.FREEZE: (0, +1),
    OperationType.COMMIT: (-1, -1),
    OperationType.RELEASE: (0, -1),
    OperationType.HELD_CORRECTION_UP: (0, +1),
    OperationType.HELD_CORRECTION_DOWN: (0, -1),
    OperationType.LOT_EXPIRY: (-1, 0),
}

# Operation types that consumed energy and may be refunded (once) with a credit.
REFUNDABLE_TYPES = (OperationType.DEBIT, OperationType.COMMIT)
# Operation types that always belong to a hold.
HOLD_TYPES = (OperationType.FREEZE, OperationType.COMMIT, OperationType.RELEASE)


def _choices_check(field: str, choices: type[models.TextChoices], name: str):
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


def _arithmetic_check(op_type: str) -> models.CheckConstraint:
    """`type <> X OR (balance_after = balance_before ± amount AND held_after = ...)`."""
    balance_sign, held_sign = OPERATION_EFFECTS[op_type]

    def after(before: str, sign: int):
        if sign > 0:
            return F(before) + F("amount")
        if sign < 0:
            return F(before) - F("amount")
        return F(before)

    return models.CheckConstraint(
        condition=~Q(type=op_type)
        | Q(
            balance_after=after("balance_before", balance_sign),
            held_after=after("held_before", held_sign),
        ),
        name=f"walletop_{op_type}_arithmetic",
    )


class Wallet(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallet"
    )
    balance = models.BigIntegerField(default=0, help_text="Posted energy points.")
    held = models.BigIntegerField(default=0, help_text="Sum of pending holds.")
    # Head of the operation hash chain, kept here so appending an operation needs no
    # read of the previous row (the wallet row is locked anyway).
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Operator actions (wallet.operator), granted to roles by phoenix.core.roles.
        permissions = [
            ("adjust_wallet", "Can adjust a wallet (credit or debit) from the admin"),
            ("correct_wallet_warning", "Can auto-correct a wallet health WARNING"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_gte_0"),
            models.CheckConstraint(condition=Q(held__gte=0), name="wallet_held_gte_0"),
            models.CheckConstraint(condition=Q(held__lte=F("balance")), name="wallet_held_lte_balance"),
            models.CheckConstraint(condition=Q(last_seq__gte=0), name="wallet_last_seq_gte_0"),
        ]

    def __str__(self) -> str:
        return f"wallet of {self.user.email}: {self.balance} ({self.held} held)"

    @property
    def available(self) -> int:
        return self.balance - self.held


class HoldStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CAPTURED = "captured", "Captured"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class Hold(models.Model):
    """A reservation of energy for an action in progress; resolves exactly once."""

    # A UUID: hold ids travel through the satellites' backends and the API.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="holds")
    amount = models.BigIntegerField()
    captured_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Set on capture; the rest was released."
    )
    status = models.CharField(max_length=16, choices=HoldStatus.choices, default=HoldStatus.PENDING)
    action_code = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=OperationSource.choices, default=OperationSource.API)
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # A renewable hold (a lease): `extend` moves `expires_at` forward by `ttl_seconds` (or
    # the asked TTL), never past `max_expires_at` (created_at + max_lifetime_seconds). NULL on
    # holds from before renewals (they cannot be extended).
    ttl_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="The TTL an extend renews by.")
    max_expires_at = models.DateTimeField(null=True, blank=True, help_text="The hold never lives past this.")
    # A commit's true-up: energy taken beyond the hold (a debit of the same hold, same transaction).
    overrun_amount = models.BigIntegerField(null=True, blank=True, help_text="Taken beyond the hold at commit.")

    class Meta:
        permissions = [("release_hold", "Can release a stuck hold")]  # an operator action (wallet.operator)
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_gt_0"),
            _choices_check("status", HoldStatus, "hold_status_valid"),
            _choices_check("source", OperationSource, "hold_source_valid"),
            # Captured holds, and only they, carry a captured amount in 1..amount.
            models.CheckConstraint(
                condition=Q(status=HoldStatus.CAPTURED, captured_amount__isnull=False)
                | (~Q(status=HoldStatus.CAPTURED) & Q(captured_amount__isnull=True)),
                name="hold_captured_amount_iff_captured",
            ),
            models.CheckConstraint(
                condition=Q(captured_amount__isnull=True)
                | Q(captured_amount__gt=0, captured_amount__lte=F("amount")),
                name="hold_captured_amount_range",
            ),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.PENDING, resolved_at__isnull=True)
                | (~Q(status=HoldStatus.PENDING) & Q(resolved_at__isnull=False)),
                name="hold_resolved_at_iff_resolved",
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="hold_expires_after_creation"),
            models.CheckConstraint(condition=Q(max_expires_at__isnull=True) | Q(expires_at__lte=F("max_expires_at")),
                                   name="hold_expires_within_max_lifetime"),
            models.CheckConstraint(
                condition=Q(overrun_amount__isnull=True)
                | Q(overrun_amount__gt=0, status=HoldStatus.CAPTURED, captured_amount=F("amount")),
                name="hold_overrun_only_on_full_capture",
            ),
        ]
        indexes = [
            # The expiry job's scan: pending holds by deadline.
            models.Index(fields=["idempotency_key"], condition=Q(idempotency_key__isnull=False),
                         name="hold_idempotency_key_idx"),  # the admin's exact search by key
            models.Index(fields=["expires_at"], name="hold_pending_expiry_idx",
                         condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"hold of {self.wallet.user.email}: {self.amount} {self.action_code} ({self.status})"


class BalanceOperation(models.Model):
    """One append-only ledger row. Never updated or deleted (a database trigger refuses)."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="operations")
    seq = models.BigIntegerField(help_text="Position in the wallet's ledger, from 1.")
    type = models.CharField(max_length=24, choices=OperationType.choices)
    amount = models.BigIntegerField()
    balance_before = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    held_before = models.BigIntegerField()
    held_after = models.BigIntegerField()
    hold = models.ForeignKey(Hold, on_delete=models.PROTECT, null=True, blank=True, related_name="operations")
    # Set on the credit that refunds a debit/commit; UNIQUE, so a debit is refunded at most once.
    refund_of = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="refunded_by"
    )
    source = models.CharField(max_length=16, choices=OperationSource.choices)
    reason = models.CharField(max_length=255, blank=True, default="")
    reference = models.CharField(max_length=255, blank=True, default="",
                                 help_text="Action code, Stripe event id, ...")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    # sha256 of the request that used the idempotency key: a replay with another request
    # is a conflict, not a silent success.
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wallet", "seq"], name="walletop_unique_wallet_seq"),
            models.UniqueConstraint(fields=["wallet", "idempotency_key"],
                                    name="walletop_unique_wallet_idempotency_key"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="walletop_amount_gt_0"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="walletop_seq_gte_1"),
            _choices_check("type", OperationType, "walletop_type_valid"),
            _choices_check("source", OperationSource, "walletop_source_valid"),
            *[_arithmetic_check(op_type) for op_type in OPERATION_EFFECTS],
            models.CheckConstraint(
                condition=Q(balance_after__gte=0, held_after__gte=0, held_after__lte=F("balance_after")),
                name="walletop_after_state_valid",
            ),
            models.CheckConstraint(
                condition=~Q(type__in=HOLD_TYPES) | Q(hold__isnull=False), name="walletop_hold_types_have_hold"
            ),
            models.CheckConstraint(
                condition=Q(refund_of__isnull=True) | Q(type=OperationType.CREDIT), name="walletop_refund_is_credit"
            ),
            models.CheckConstraint(
                condition=Q(hash__regex=r"^[0-9a-f]{64}$", prev_hash__regex=r"^[0-9a-f]{64}$"),
                name="walletop_hashes_are_sha256_hex",
            ),
        ]
        # The admin's exact searches (empty references, most rows, not indexed; the unique
        # (wallet, key) index cannot find a key alone).
        indexes = [models.Index(fields=["reference"], condition=~Q(reference=""), name="walletop_reference_idx"),
                   models.Index(fields=["idempotency_key"], condition=Q(idempotency_key__isnull=False),
                                name="walletop_idempotency_key_idx"),
                   # The rollup job and the dashboard's live tail read recent operations by time.
                   # BRIN: a few pages, almost free to maintain on an append-only table whose
                   # created_at follows insertion order (a btree would cost every debit).
                   BrinIndex(fields=["created_at"], name="walletop_created_brin", pages_per_range=32)]

    def __str__(self) -> str:
        return f"{self.type} {self.amount} on the wallet of {self.wallet.user.email} (#{self.seq})"

    @property
    def available_after(self) -> int:
        return self.balance_after - self.held_after


class IncidentSeverity(models.TextChoices):
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    CORRECTED = "corrected", "Auto-corrected"
    RESOLVED = "resolved", "Resolved"


class Incident(models.Model):
    """A wallet health finding. CRITICAL ones stay open until an operator resolves them."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="incidents")
    code = models.CharField(max_length=48, help_text="e.g. hash_chain_broken, held_pending_mismatch")
    severity = models.CharField(max_length=16, choices=IncidentSeverity.choices)
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    detail = models.JSONField(default=dict, blank=True)
    correction = models.ForeignKey(BalanceOperation, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", help_text="The operation that corrected it.")
    detected_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    times_seen = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True, default="")

    class Meta:
        # Operator actions (wallet.operator).
        permissions = [
            ("run_health_check", "Can run the wallet health check now"),
            ("resolve_incident", "Can resolve a wallet incident"),
        ]
        constraints = [
            _choices_check("severity", IncidentSeverity, "incident_severity_valid"),
            _choices_check("status", IncidentStatus, "incident_status_valid"),
            # One open incident per wallet and anomaly: the hourly job bumps it instead of
            # opening (and mailing) a new one every hour.
            models.UniqueConstraint(fields=["wallet", "code"], condition=Q(status="open"),
                                    name="incident_one_open_per_wallet_code"),
            models.CheckConstraint(
                condition=~Q(status=IncidentStatus.CORRECTED) | Q(correction__isnull=False),
                name="incident_corrected_has_operation",
            ),
        ]
        indexes = [models.Index(fields=["status", "-detected_at"], name="incident_status_idx")]

    def __str__(self) -> str:
        return f"{self.severity} {self.code} on the wallet of {self.wallet.user.email} ({self.status})"


# --- Catalogues: data an admin edits ----------------------------------------------


class EnergyActionCategory(models.TextChoices):
    SIMPLE = "simple", "Simple"
    MEDIUM = "medium", "Medium"
    COMPLEX = "complex", "Complex"
    PREMIUM = "premium", "Premium"
    LUNA = "luna", "Luna"


class CatalogueQuerySet(models.QuerySet):
    """Bulk writes of the catalogue say so (a row's save/delete sends post_save/post_delete)."""

    def update(self, **kwargs):
        changed = super().update(**kwargs)
        catalogue_bulk_changed.send(sender=self.model)
        return changed

    def delete(self):
        deleted = super().delete()
        catalogue_bulk_changed.send(sender=self.model)
        return deleted


class EnergyAction(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=120)
    category = models.CharField(max_length=16, choices=EnergyActionCategory.choices)
    cost = models.PositiveIntegerField(help_text="Energy points; 0 for a free action.")
    source_app = models.CharField(max_length=32, help_text="letters, cv, luna or any")
    is_active = models.BooleanField(default=True)
    overrun_cap_percent = models.PositiveIntegerField(
        default=0, help_text="A commit may take up to this % more than the hold (a true-up); 0: never more.")

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        ordering = ["cost", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(cost__gte=0), name="energyaction_cost_gte_0"),
            models.CheckConstraint(condition=Q(overrun_cap_percent__lte=1000),
                                   name="energyaction_overrun_cap_percent_lte_1000"),
            _choices_check("category", EnergyActionCategory, "energyaction_category_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.cost})"


class EnergyPackBadge(models.TextChoices):
    NONE = "", "None"
    POPULAR = "popular", "Popular"
    BEST_DEAL = "best_deal", "Best deal"


class EnergyPack(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=120)
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="EUR", help_text="ISO 4217, upper case")
    energy_points = models.PositiveIntegerField(default=0, help_text="0 for the unlimited pack.")
    first_purchase_bonus_percent = models.PositiveSmallIntegerField(default=0)
    badge = models.CharField(max_length=16, choices=EnergyPackBadge.choices, blank=True, default="")
    is_unlimited = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    validity_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days the purchased energy stays usable; empty = never expires.")

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        ordering = ["price_cents", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(price_cents__gt=0), name="energypack_price_gt_0"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="energypack_currency_iso"),
            models.CheckConstraint(condition=Q(is_unlimited=True) | Q(energy_points__gt=0),
                                   name="energypack_points_unless_unlimited"),
            models.CheckConstraint(condition=Q(first_purchase_bonus_percent__lte=100),
                                   name="energypack_bonus_lte_100"),
            _choices_check("badge", EnergyPackBadge, "energypack_badge_valid"),
            models.CheckConstraint(condition=Q(validity_days__isnull=True) | Q(validity_days__gt=0),
                                   name="energypack_validity_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.price_cents // 100}.{self.price_cents % 100:02d} {self.currency})"


# --- Event store (the seeds' "capital narratif") -----------------------------------


class UsageEventQuerySet(models.QuerySet):
    def performed(self) -> UsageEventQuerySet:
        """Actions that count: neither a refunded one nor the compensating event of a refund.
        THE netting rule of the narrative, analytics, leaderboard and activity totals."""
        return self.filter(refund_of__isnull=True, refunded_by__isnull=True)


class UsageEvent(models.Model):
    """One performed action, free and unlimited ones included. Append-only (a database
    trigger refuses UPDATE and DELETE); written in the same transaction as the ledger
    change it accompanies, by `wallet.services.energy`.

    A refund of the action's debit or commit appends a compensating event (`refund_of` the
    original, `energy_consumed` the negated points, `operation` the refunding credit): the
    original stays, and every aggregate counts neither (`UsageEvent.objects.performed()`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="usage_events")
    action_code = models.CharField(max_length=64)
    category = models.CharField(max_length=16, blank=True, default="")
    source_app = models.CharField(max_length=32, blank=True, default="")
    energy_consumed = models.BigIntegerField(
        default=0, help_text="0 for unlimited users and free actions; negative (the points given back) on a "
                             "compensating event.")
    unlimited = models.BooleanField(default=False)
    # The debit or commit that paid for it; one operation pays for at most one event.
    operation = models.OneToOneField(BalanceOperation, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="usage_event")
    # The compensating event of a refund names the event it cancels (at most one per event).
    refund_of = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="refunded_by")
    metadata = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = UsageEventQuerySet.as_manager()

    class Meta:
        constraints = [
            # Performed actions consume; compensating events give back (and always something).
            models.CheckConstraint(
                condition=Q(refund_of__isnull=True, energy_consumed__gte=0)
                | Q(refund_of__isnull=False, energy_consumed__lt=0),
                name="usageevent_energy_sign",
            ),
            models.CheckConstraint(condition=Q(unlimited=False) | Q(energy_consumed=0),
                                   name="usageevent_unlimited_consumes_nothing"),
            # Energy moved exactly when an operation moved it (a debit/commit, or the refunding credit).
            models.CheckConstraint(
                condition=Q(energy_consumed=0, operation__isnull=True)
                | (~Q(energy_consumed=0) & Q(operation__isnull=False)),
                name="usageevent_operation_iff_energy",
            ),
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="usageevent_unique_user_key"),
        ]
        indexes = [
            # the admin's exact search by key (the unique (user, key) index cannot find a key alone)
            models.Index(fields=["idempotency_key"], condition=Q(idempotency_key__isnull=False),
                         name="usageevent_idempotency_key_idx"),
            models.Index(fields=["user", "-id"], name="usageevent_user_idx"),
            models.Index(fields=["created_at"], name="usageevent_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action_code} by {self.user.email} ({self.energy_consumed})"


# --- Energy lots: every credit is a lot; every debit says which lots paid for it --------------


class LotCategory(models.TextChoices):
    PAID = "paid", "Paid (pack purchase)"
    BONUS = "bonus", "First-purchase bonus"
    WELCOME = "welcome", "Welcome grant"
    PROMOTIONAL = "promotional", "Promotional (admin grant)"
    GOODWILL = "goodwill", "Goodwill (admin grant)"
    # The opening lot of a wallet that existed before lots (migration 0003): its mix of paid
    # and free energy is unknown, so it is consumed like paid energy (last) and never expires.
    LEGACY = "legacy", "Legacy balance"


# Categories consumed after every free one (the consumption order's second key).
PAID_LIKE_CATEGORIES = (LotCategory.PAID, LotCategory.LEGACY)
FREE_CATEGORIES = tuple(c for c in LotCategory.values if c not in PAID_LIKE_CATEGORIES)
DEFAULT_LOT_PRIORITY = 50  # lower is consumed first (Stripe credit grants' convention)

# THE consumption order (README "Energy lots"), as SQL over the lot alias `l`: soonest expiry
# first (a lot that never expires comes last), then free before paid, then priority (lower
# first), then oldest; the id makes the order total (the running sums rely on it).
_PAID_LIKE_SQL = ", ".join(f"'{c.value}'" for c in PAID_LIKE_CATEGORIES)
LOT_ORDER_SQL = (f"(l.expires_at IS NULL), l.expires_at, (l.category IN ({_PAID_LIKE_SQL})), "
                 "l.priority, l.created_at, l.id")


class EnergyLot(models.Model):
    """One credit of energy: its category, expiry and priority, and what is left of it.

    `remaining` is the lot's part of the wallet's balance (the wallet's balance is the sum
    of its lots' remaining); `reserved` is the part pending holds keep (the wallet's held).
    Only `remaining` and `reserved` ever change, each change written as `LotConsumption`
    rows (a trigger refuses any other update, and deletes; migration 0003).
    """

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="lots")
    category = models.CharField(max_length=16, choices=LotCategory.choices)
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    reserved = models.BigIntegerField(default=0, help_text="Held by pending holds.")
    priority = models.SmallIntegerField(default=DEFAULT_LOT_PRIORITY, help_text="Lower is consumed first.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    # The credit it came from (null only for the migrated opening lots), and for a pack its
    # payment's key, as the operation's reference; `price_cents` is what the lot cost (0 when free).
    operation = models.ForeignKey(BalanceOperation, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="lots_created")
    reference = models.CharField(max_length=255, blank=True, default="")
    price_cents = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            _choices_check("category", LotCategory, "energylot_category_valid"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="energylot_amount_gt_0"),
            models.CheckConstraint(condition=Q(remaining__gte=0, remaining__lte=F("amount")),
                                   name="energylot_remaining_in_0_amount"),
            models.CheckConstraint(condition=Q(reserved__gte=0, reserved__lte=F("remaining")),
                                   name="energylot_reserved_in_0_remaining"),
            models.CheckConstraint(condition=Q(price_cents__gte=0), name="energylot_price_gte_0"),
            models.CheckConstraint(condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("created_at")),
                                   name="energylot_expires_after_creation"),
        ]
        indexes = [
            # The consume path: a wallet's lots with energy left.
            models.Index(fields=["wallet", "expires_at"], name="energylot_wallet_live_idx",
                         condition=Q(remaining__gt=0)),
            # The expiry job's scan: lots with an unreserved remainder, by expiry.
            models.Index(fields=["expires_at"], name="energylot_expiry_idx",
                         condition=Q(remaining__gt=F("reserved"), expires_at__isnull=False)),
            models.Index(fields=["reference"], name="energylot_reference_idx", condition=~Q(reference="")),
        ]

    def __str__(self) -> str:
        return f"{self.category} lot {self.pk} of {self.wallet.user.email}: {self.remaining}/{self.amount}"

    @property
    def unreserved(self) -> int:
        return self.remaining - self.reserved


class LotConsumptionKind(models.TextChoices):
    DRAW = "draw", "Draw (remaining -)"          # debit, commit, clawback, expiry
    RESTORE = "restore", "Restore (remaining +)"  # refund of a debit/commit back to its lots
    RESERVE = "reserve", "Reserve (reserved +)"   # freeze
    UNRESERVE = "unreserve", "Unreserve (reserved -)"  # commit, release, hold expiry


class LotConsumption(models.Model):
    """Append-only: how much one operation took from (or gave back to, or reserved on) one lot.

    A lot's remaining is its amount - its draws + its restores; its reserved is its reserves -
    its unreserves (the health job checks both); an operation's rows of a kind sum to its amount.
    """

    lot = models.ForeignKey(EnergyLot, on_delete=models.PROTECT, related_name="consumptions")
    operation = models.ForeignKey(BalanceOperation, on_delete=models.PROTECT, related_name="lot_consumptions")
    kind = models.CharField(max_length=12, choices=LotConsumptionKind.choices)
    amount = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="lotconsumption_amount_gt_0"),
            _choices_check("kind", LotConsumptionKind, "lotconsumption_kind_valid"),
            models.UniqueConstraint(fields=["operation", "lot", "kind"], name="lotconsumption_unique_op_lot_kind"),
        ]
        indexes = [models.Index(fields=["lot"], name="lotconsumption_lot_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} of lot {self.lot_id} by operation {self.operation_id}"


class EnergyValidity(models.Model):
    """Admin-editable validity of the free grants (one row, id 1; seeded by migration 0003).
    A pack's own validity is `EnergyPack.validity_days`; an operator's grant names its expiry."""

    welcome_validity_days = models.PositiveIntegerField(
        null=True, blank=True, default=90, help_text="Days the welcome grant stays usable; empty = never.")
    bonus_validity_days = models.PositiveIntegerField(
        null=True, blank=True, default=90, help_text="Days a first-purchase bonus stays usable; empty = never.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "energy validity settings"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="energyvalidity_single_row"),
            models.CheckConstraint(condition=Q(welcome_validity_days__isnull=True) | Q(welcome_validity_days__gt=0),
                                   name="energyvalidity_welcome_gt_0"),
            models.CheckConstraint(condition=Q(bonus_validity_days__isnull=True) | Q(bonus_validity_days__gt=0),
                                   name="energyvalidity_bonus_gt_0"),
        ]

    def __str__(self) -> str:
        return f"welcome {self.welcome_validity_days} d, bonus {self.bonus_validity_days} d"


# --- Renewable holds, the spend-velocity breaker ----------------------------------------------


class HoldExtension(models.Model):
    """One renewal of a hold's expiry (append-only: the hold's history of heartbeats)."""

    hold = models.ForeignKey(Hold, on_delete=models.PROTECT, related_name="extensions")
    expires_at_before = models.DateTimeField()
    expires_at_after = models.DateTimeField()
    source = models.CharField(max_length=16, choices=OperationSource.choices)
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(expires_at_after__gte=F("expires_at_before")),
                                   name="holdextension_never_shortens"),
            models.UniqueConstraint(fields=["hold", "idempotency_key"], name="holdextension_unique_hold_key"),
            _choices_check("source", OperationSource, "holdextension_source_valid"),
        ]

    def __str__(self) -> str:
        return f"hold {self.hold_id} extended to {self.expires_at_after}"


class SpendVelocityLimit(models.Model):
    """The breaker's defaults (one row, pk=1, seeded by migration 0005; an admin edits it).

    A user may spend at most `max_energy` points per fixed window of `window_seconds`; an
    unlimited user (who spends nothing) may perform at most `max_actions` actions per window
    (fair use). NULL: no limit."""

    window_seconds = models.PositiveIntegerField(default=3600)
    max_energy = models.BigIntegerField(null=True, blank=True)
    max_actions = models.PositiveIntegerField(null=True, blank=True)
    # Opt-in (NULL: off): a limit per satellite API key over all its users. Its counter is one
    # row per key, locked by every charge through the key until the charge's transaction ends.
    max_energy_per_api_key = models.BigIntegerField(
        null=True, blank=True, help_text="Energy per window through one satellite API key, all users; blank: off.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="spendvelocitylimit_single_row"),
            models.CheckConstraint(condition=Q(window_seconds__gte=1), name="spendvelocitylimit_window_gte_1"),
            models.CheckConstraint(condition=Q(max_energy__isnull=True) | Q(max_energy__gte=0),
                                   name="spendvelocitylimit_max_energy_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.max_energy} energy / {self.max_actions} actions per {self.window_seconds} s"


class SpendVelocityOverride(models.Model):
    """A user's own limits (an admin sets them); a NULL field falls back to the default."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    max_energy = models.BigIntegerField(null=True, blank=True)
    max_actions = models.PositiveIntegerField(null=True, blank=True)
    note = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(max_energy__isnull=True) | Q(max_energy__gte=0),
                                              name="spendvelocityoverride_max_energy_gte_0")]

    def __str__(self) -> str:
        return f"velocity override of {self.user.email}"


class SpendCounter(models.Model):
    """What a user spent in the current window: read and updated by ONE upsert inside the
    consume's transaction, under the wallet lock (never a cache)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, primary_key=True,
                                related_name="+")
    window_start = models.DateTimeField()
    energy = models.BigIntegerField(default=0)
    actions = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(energy__gte=0), name="spendcounter_energy_gte_0")]

    def __str__(self) -> str:
        return f"user {self.user_id}: {self.energy} energy, {self.actions} actions since {self.window_start}"


class ApiKeySpendCounter(models.Model):
    """What a satellite API key (its public prefix) spent in the current window, all users."""

    api_key_prefix = models.CharField(max_length=16, primary_key=True)
    window_start = models.DateTimeField()
    energy = models.BigIntegerField(default=0)
    max_energy = models.BigIntegerField(help_text="The limit of the last charge.")
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(energy__gte=0), name="apikeyspendcounter_energy_gte_0")]

    def __str__(self) -> str:
        return f"API key {self.api_key_prefix}: {self.energy} energy since {self.window_start}"


class RollupCategory(models.TextChoices):
    """What an operation counts as on the dashboard (one definition: wallet.services.rollup)."""

    CONSUMPTION = "consumption", "Consumption (an API debit or hold capture)"
    CONSUMPTION_REFUND = "consumption_refund", "Refund of a consumption"
    REFUND = "refund", "Other refund credit"
    OTHER = "other", "Other operation"


class OperationRollup(models.Model):
    """Balance operations aggregated per hour, type, category and (for consumption and its
    refunds) action code, so the dashboard reads a few thousand rows instead of the ledger.

    Written only by `operation_rollup_refresh` (a job every 5 minutes), which recomputes the
    last hours' buckets from the ledger in one transaction; the dashboard adds the operations
    after `OperationRollupCursor.last_operation_id` live, so its figures are the ledger's.
    """

    hour = models.DateTimeField(help_text="Start of the hour (UTC).")
    type = models.CharField(max_length=32)
    category = models.CharField(max_length=24, choices=RollupCategory.choices)
    reference = models.CharField(max_length=255, blank=True, default="",
                                 help_text="The action code (consumption and its refunds), else empty.")
    operations = models.PositiveIntegerField()
    amount = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "type", "category", "reference"], name="rollup_bucket_unique"),
            models.CheckConstraint(condition=Q(operations__gt=0), name="rollup_operations_positive"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="rollup_amount_not_negative"),
            models.CheckConstraint(condition=Q(category__in=RollupCategory.values), name="rollup_category_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.type} {self.category} {self.reference}: {self.operations} ops"


class OperationRollupCursor(models.Model):
    """One row: the rollups hold every operation up to `last_operation_id` that was committed
    when they were refreshed (`rolled_through`: the moment the refresh ran as)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_operation_id = models.BigIntegerField()
    rolled_through = models.DateTimeField()
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="rollup_cursor_single_row"),
            # Operation ids start at 1; 0 is "nothing rolled up yet".
            models.CheckConstraint(condition=Q(last_operation_id__gte=0), name="rollup_cursor_id_not_negative"),
        ]

    def __str__(self) -> str:
        return f"rollups through operation {self.last_operation_id} ({self.rolled_through:%Y-%m-%d %H:%M:%S})"


class HealthCheckpoint(models.Model):
    """How far the health check has verified a wallet's ledger: the hourly run verifies only the
    operations after `verified_seq` (chained from `verified_hash`, replayed from `replay_balance` /
    `replay_held`, the balance_after / held_after of operation `verified_seq`). Written only by the
    health run, never moved back; a wallet without one is verified from genesis."""

    wallet = models.OneToOneField(Wallet, on_delete=models.CASCADE, primary_key=True,
                                  related_name="health_checkpoint")
    verified_seq = models.BigIntegerField(help_text="The last operation verified (0: none yet).")
    verified_hash = models.CharField(max_length=64, help_text="That operation's hash (genesis for 0).")
    replay_balance = models.BigIntegerField(help_text="The replayed balance after that operation.")
    replay_held = models.BigIntegerField(help_text="The replayed held after that operation.")
    verified_at = models.DateTimeField(help_text="When the run that set this checkpoint started.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(verified_seq__gte=0), name="healthcheckpoint_seq_gte_0"),
            models.CheckConstraint(condition=Q(replay_balance__gte=0, replay_held__gte=0,
                                               replay_held__lte=F("replay_balance")),
                                   name="healthcheckpoint_replay_state_valid"),
            models.CheckConstraint(condition=Q(verified_hash__regex=r"^[0-9a-f]{64}$"),
                                   name="healthcheckpoint_hash_is_sha256_hex"),
            # Seq 0 is the genesis: nothing replayed yet.
            models.CheckConstraint(
                condition=~Q(verified_seq=0) | Q(verified_hash=GENESIS_HASH, replay_balance=0, replay_held=0),
                name="healthcheckpoint_seq_0_is_genesis"),
        ]

    def __str__(self) -> str:
        return f"wallet {self.wallet_id} verified to #{self.verified_seq}"
