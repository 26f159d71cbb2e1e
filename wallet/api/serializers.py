"""Request and response shapes of the /luna API. Integers only."""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from phoenix.core.api import ErrorSerializer
from phoenix.core.input_policy import CodeField, FlatRequestSerializer, StrictIntegerField
from wallet.models import BalanceOperation, EnergyAction, EnergyPack, UsageEvent
from wallet.services import MAX_AMOUNT, MAX_HOLD_LIFETIME_SECONDS, MAX_HOLD_TTL_SECONDS

MAX_METADATA_BYTES = 4096

USER_ID_HELP = "The user's public id. End users: omit it or give their own; satellites: required."
KEY_HELP = ("Optional, 1 to 128 characters; or the Idempotency-Key header (when both are sent they must be "
            "equal). A retry with the same key gets the first answer.")


@extend_schema_field(OpenApiTypes.OBJECT)
class MetadataField(serializers.JSONField):
    """A JSON object (the schema says so; a bare JSONField would be "any value")."""


def _metadata_field():
    return MetadataField(required=False, default=dict,
                         help_text=f"A JSON object of at most {MAX_METADATA_BYTES} bytes, kept with the usage "
                         "event (e.g. the satellite's own ids).")


class _MetadataMixin:
    def validate_metadata(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("A JSON object.")
        if len(json.dumps(value)) > MAX_METADATA_BYTES:
            raise serializers.ValidationError(f"At most {MAX_METADATA_BYTES} bytes.")
        return value


# --- Requests ------------------------------------------------------------------------------


class UserRequestSerializer(FlatRequestSerializer):
    user_id = serializers.UUIDField(required=False, allow_null=True, help_text=USER_ID_HELP)


class ActionRequestSerializer(UserRequestSerializer):
    # A plain string: an unknown code is 400 `unknown_action`, not a generic validation error.
    action = CodeField(max_length=64, help_text="An active EnergyAction code.")


class ConsumeRequestSerializer(_MetadataMixin, ActionRequestSerializer):
    idempotency_key = CodeField(required=False, max_length=128, help_text=KEY_HELP)
    source_app = CodeField(required=False, max_length=32,
                           help_text="The calling app (default: the action's).")
    metadata = _metadata_field()


class FreezeRequestSerializer(ConsumeRequestSerializer):
    ttl_seconds = StrictIntegerField(required=False, min_value=1, max_value=MAX_HOLD_TTL_SECONDS,
                                     help_text="Hold lifetime (default 300 s).")
    max_lifetime_seconds = StrictIntegerField(
        required=False, min_value=1, max_value=MAX_HOLD_LIFETIME_SECONDS,
        help_text="How long `extend` may keep the hold alive in all (default: ttl_seconds, not renewable).")


class CommitRequestSerializer(_MetadataMixin, FlatRequestSerializer):
    hold_id = serializers.UUIDField()
    amount = StrictIntegerField(required=False, min_value=1, max_value=MAX_AMOUNT,
                                help_text="Capture less than held (the rest is released), or more: a "
                                          "true-up up to the action's overrun cap, from the available energy.")
    idempotency_key = CodeField(required=False, max_length=128, help_text=KEY_HELP)
    source_app = CodeField(required=False, max_length=32)
    metadata = _metadata_field()


class ExtendRequestSerializer(FlatRequestSerializer):
    hold_id = serializers.UUIDField()
    ttl_seconds = StrictIntegerField(required=False, min_value=1, max_value=MAX_HOLD_TTL_SECONDS,
                                     help_text="Renew by this much from now (default: the hold's ttl).")
    idempotency_key = CodeField(required=False, max_length=128, help_text=KEY_HELP)


class StatementQuerySerializer(FlatRequestSerializer):
    vars()["from"] = serializers.DateTimeField(required=False, help_text="Operations created at or after.")
    to = serializers.DateTimeField(required=False, help_text="Operations created before.")


class RefundRequestSerializer(FlatRequestSerializer):
    """Exactly one of transaction_id and hold_id."""

    transaction_id = StrictIntegerField(required=False, min_value=1,
                                        help_text="A consume's or commit's transaction_id: credited back once.")
    hold_id = serializers.UUIDField(required=False, help_text="A pending hold: released.")
    reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=255)
    idempotency_key = CodeField(required=False, max_length=128, help_text=KEY_HELP)

    def validate(self, attrs):
        if ("transaction_id" in attrs) == ("hold_id" in attrs):
            raise serializers.ValidationError("Give either transaction_id or hold_id.")
        return attrs


class EventRequestSerializer(ConsumeRequestSerializer):
    pass


# --- Answers ---------------------------------------------------------------------------------


class PackSummarySerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()
    energy_points = serializers.IntegerField()


class NextExpirySerializer(serializers.Serializer):
    amount = serializers.IntegerField(help_text="Points the soonest-expiring lot(s) still hold.")
    expires_at = serializers.DateTimeField()


class CheckSerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    held = serializers.IntegerField()
    available = serializers.IntegerField()
    paid = serializers.IntegerField(help_text="Of the balance: purchased energy (paid and legacy lots).")
    free = serializers.IntegerField(help_text="Of the balance: welcome, bonus, promotional and goodwill lots.")
    next_expiry = NextExpirySerializer(allow_null=True, help_text="null when no lot with energy expires.")
    unlimited = serializers.BooleanField()


class LotMoveSerializer(serializers.Serializer):
    lot_id = serializers.IntegerField()
    category = serializers.CharField()
    kind = serializers.CharField(help_text="draw | restore | reserve | unreserve")
    amount = serializers.IntegerField()


class EnergyLotSerializer(serializers.Serializer):
    lot_id = serializers.IntegerField(source="id")
    category = serializers.CharField(help_text="paid | bonus | welcome | promotional | goodwill | legacy")
    amount = serializers.IntegerField()
    remaining = serializers.IntegerField()
    reserved = serializers.IntegerField(help_text="Held by pending holds.")
    priority = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="null: never expires.")
    created_at = serializers.DateTimeField()


class CanPerformSerializer(serializers.Serializer):
    can_perform = serializers.BooleanField()
    energy_required = serializers.IntegerField(help_text="0 for unlimited users.")
    available = serializers.IntegerField()
    unlimited = serializers.BooleanField()
    required_pack = PackSummarySerializer(required=False, allow_null=True,
                                          help_text="Only when can_perform is false: the cheapest pack covering "
                                                    "the shortfall (null if none does).")


class ConsumeSerializer(serializers.Serializer):
    transaction_id = serializers.IntegerField(allow_null=True, help_text="The debit; null when nothing was "
                                              "deducted (unlimited user, free action).")
    event_id = serializers.IntegerField()
    energy_consumed = serializers.IntegerField()
    available = serializers.IntegerField()
    unlimited = serializers.BooleanField()
    lots = LotMoveSerializer(many=True, help_text="The lots that paid for it (empty when nothing was deducted).")


class FreezeSerializer(serializers.Serializer):
    hold_id = serializers.UUIDField(allow_null=True, help_text="null for unlimited users and free actions: "
                                    "nothing is reserved and the action is recorded at once (event_id).")
    amount = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True)
    available = serializers.IntegerField()
    unlimited = serializers.BooleanField()
    event_id = serializers.IntegerField(allow_null=True)


class CommitSerializer(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    event_id = serializers.IntegerField()
    energy_consumed = serializers.IntegerField(help_text="The commit plus the true-up, if any.")
    available = serializers.IntegerField()
    lots = LotMoveSerializer(many=True, help_text="The lots that paid for it.")
    overrun = serializers.IntegerField(help_text="Points taken beyond the hold (a true-up); 0 if none.")
    overrun_transaction_id = serializers.IntegerField(allow_null=True, help_text="The true-up's debit.")


class ExtendSerializer(serializers.Serializer):
    hold_id = serializers.UUIDField()
    expires_at = serializers.DateTimeField()
    max_expires_at = serializers.DateTimeField(allow_null=True, help_text="The hold never lives past this.")
    at_max_lifetime = serializers.BooleanField(help_text="True: further extends change nothing; commit soon.")


class StatementHeadSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    hash = serializers.CharField()


class StatementOperationSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    type = serializers.CharField()
    amount = serializers.IntegerField()
    balance_before = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    held_before = serializers.IntegerField()
    held_after = serializers.IntegerField()
    hold_id = serializers.CharField(allow_null=True)
    refund_of_id = serializers.IntegerField(allow_null=True)
    source = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    reference = serializers.CharField(allow_blank=True)
    actor_id = serializers.IntegerField(allow_null=True)
    idempotency_key = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    created_at_us = serializers.IntegerField(help_text="created_at in microseconds since the epoch (hashed).")
    prev_hash = serializers.CharField()
    hash = serializers.CharField()


class StatementSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    wallet_id = serializers.IntegerField(allow_null=True, help_text="Part of every operation's hashed content.")
    # `from` is a Python keyword: declared through the class namespace.
    vars()["from"] = serializers.DateTimeField(allow_null=True)
    to = serializers.DateTimeField(allow_null=True)
    head = StatementHeadSerializer(help_text="The wallet's last operation when the statement was read.")
    operations = StatementOperationSerializer(many=True)


class RefundSerializer(serializers.Serializer):
    refunded = serializers.IntegerField(help_text="Points credited back or released.")
    available = serializers.IntegerField()


class TransactionSerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField(source="id")
    # A plain string (not an enum component): "type" enums of other apps would collide by name.
    type = serializers.CharField(help_text="credit | debit | freeze | commit | release | held_correction_up | "
                                           "held_correction_down | lot_expiry")
    hold_id = serializers.UUIDField(allow_null=True)
    refund_of = serializers.IntegerField(source="refund_of_id", allow_null=True)
    available_after = serializers.IntegerField()
    lots = serializers.SerializerMethodField(help_text="The lots it moved (a credit's new lots are in /lots).")

    class Meta:
        model = BalanceOperation
        fields = ["transaction_id", "seq", "type", "amount", "balance_after", "held_after", "available_after",
                  "source", "reason", "reference", "hold_id", "refund_of", "lots", "created_at"]

    @extend_schema_field(LotMoveSerializer(many=True))
    def get_lots(self, operation) -> list:
        return self.context.get("lots", {}).get(operation.pk, [])


class TopActionSerializer(serializers.Serializer):
    action = serializers.CharField()
    count = serializers.IntegerField()
    energy = serializers.IntegerField()


class AnalyticsSerializer(serializers.Serializer):
    window_days = serializers.IntegerField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    actions = serializers.IntegerField()
    unlimited_actions = serializers.IntegerField()
    consumed = serializers.IntegerField(help_text="Energy consumed by actions in the window.")
    refunded = serializers.IntegerField(help_text="Energy credited back by refunds in the window.")
    purchased = serializers.IntegerField(help_text="Energy credited by pack purchases (Stripe) in the window.")
    average_per_action = serializers.IntegerField(help_text="consumed // actions (whole points).")
    top_actions = TopActionSerializer(many=True)


class EnergyActionSerializer(serializers.ModelSerializer):
    class Meta:
        model = EnergyAction
        fields = ["code", "label", "category", "cost", "source_app"]


class EnergyPackSerializer(serializers.ModelSerializer):
    class Meta:
        model = EnergyPack
        fields = ["code", "label", "price_cents", "currency", "energy_points", "first_purchase_bonus_percent",
                  "badge", "is_unlimited"]


class LeaderboardEntrySerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    user = serializers.CharField(help_text="Pseudonym: truncated HMAC of the user's public id.")
    actions = serializers.IntegerField()
    energy_consumed = serializers.IntegerField()


class LeaderboardSerializer(serializers.Serializer):
    window_days = serializers.IntegerField()
    generated_at = serializers.DateTimeField()
    entries = LeaderboardEntrySerializer(many=True)


class UsageEventSerializer(serializers.ModelSerializer):
    event_id = serializers.IntegerField(source="id")
    transaction_id = serializers.IntegerField(source="operation_id", allow_null=True)
    metadata = MetadataField(help_text="The JSON object the action was recorded with.")
    energy_consumed = serializers.IntegerField(
        help_text="Points the action consumed (0 unlimited/free); negative on a compensating event: the points "
                  "its refund gave back.")
    refund_of = serializers.IntegerField(
        source="refund_of_id", allow_null=True,
        help_text="On a compensating event (a refund): the event_id of the action it cancels; else null.")
    refunded_by = serializers.SerializerMethodField(
        help_text="On a refunded action: the event_id of its compensating event; else null.")

    class Meta:
        model = UsageEvent
        fields = ["event_id", "action_code", "category", "source_app", "energy_consumed", "unlimited",
                  "transaction_id", "refund_of", "refunded_by", "metadata", "created_at"]

    def get_refunded_by(self, event) -> int | None:
        compensation = getattr(event, "refunded_by", None)
        return compensation.pk if compensation is not None else None


class NamedTotalSerializer(serializers.Serializer):
    name = serializers.CharField()
    actions = serializers.IntegerField()
    energy = serializers.IntegerField()


class WeekSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="Monday of the ISO week.")
    actions = serializers.IntegerField()
    energy = serializers.IntegerField()


class NarrativeActionSerializer(serializers.Serializer):
    action = serializers.CharField()
    category = serializers.CharField()
    source_app = serializers.CharField()
    at = serializers.DateTimeField()


class MilestoneSerializer(serializers.Serializer):
    kind = serializers.CharField()
    count = serializers.IntegerField()
    reached_at = serializers.DateTimeField()


class NarrativeSerializer(serializers.Serializer):
    actions = serializers.IntegerField()
    energy_consumed = serializers.IntegerField()
    unlimited_actions = serializers.IntegerField()
    by_category = NamedTotalSerializer(many=True)
    by_app = NamedTotalSerializer(many=True)
    timeline = WeekSerializer(many=True)
    first_action = NarrativeActionSerializer(allow_null=True)
    latest_action = NarrativeActionSerializer(allow_null=True)
    milestones = MilestoneSerializer(many=True)


class InsufficientEnergySerializer(ErrorSerializer):
    """402 insufficient_energy: what the action needs, what is available, and the cheapest pack covering the
    shortfall (null if none does)."""

    energy_required = serializers.IntegerField()
    available = serializers.IntegerField()
    required_pack = PackSummarySerializer(allow_null=True)


class ActivityQuerySerializer(FlatRequestSerializer):
    since = serializers.DateTimeField(required=False, help_text="Events at or after this time (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Events before this time (ISO 8601).")
    app = serializers.CharField(required=False, max_length=32, help_text="Only this source app.")

    def validate(self, attrs):
        if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be after since."]})
        return attrs


class ActivityEventSerializer(serializers.Serializer):
    event_id = serializers.IntegerField(source="id")
    action = serializers.CharField(source="action_code")
    label = serializers.CharField(allow_null=True, help_text="The action's catalogue label (null if no longer "
                                                             "in the catalogue).")
    category = serializers.CharField()
    source_app = serializers.CharField()
    energy_consumed = serializers.IntegerField(help_text="0 for free actions and unlimited users.")
    created_at = serializers.DateTimeField()
