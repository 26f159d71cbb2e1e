from __future__ import annotations

from rest_framework import serializers

from billing.models import Payment
from billing.products import ENERGY_PACK
from phoenix.core.input_policy import CodeField, StrictIntegerField


def split_product(value: str) -> tuple[str, str]:
    """``"cafe_luna"`` (an energy pack) or ``"<kind>:<code>"``."""
    kind, sep, code = value.partition(":")
    return (kind, code) if sep else (ENERGY_PACK, value)


class IdempotentRequestSerializer(serializers.Serializer):
    idempotency_key = CodeField(
        required=False, max_length=128,
        help_text="Optional, 1 to 128 characters; or the Idempotency-Key header (when both are sent they must be "
        "equal). A retry with the same key replays the first answer.",
    )


class PurchaseRequestSerializer(IdempotentRequestSerializer):
    user_id = serializers.UUIDField(required=False, help_text="Required for satellites.")
    pack = serializers.SlugField(max_length=64, trim_whitespace=False, help_text="Energy pack code, e.g. cafe_luna.")


class ProductRequestSerializer(IdempotentRequestSerializer):
    user_id = serializers.UUIDField(required=False, help_text="Required for satellites.")
    product = serializers.RegexField(
        r"^([a-z_]+:)?[a-z0-9_-]+$", max_length=120, trim_whitespace=False,
        help_text='An energy pack code ("cafe_luna") or "<kind>:<code>".',
    )


class CheckoutResponseSerializer(serializers.Serializer):
    payment_id = serializers.UUIDField()
    checkout_url = serializers.URLField()


class PortalResponseSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="The Stripe customer portal session: redirect the user there.")
    customer_id = serializers.CharField(help_text="The user's Stripe Customer.")


class CreateIntentResponseSerializer(serializers.Serializer):
    payment_id = serializers.UUIDField()
    payment_intent_id = serializers.CharField()
    client_secret = serializers.CharField()
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    publishable_key = serializers.CharField()


class ConfirmPaymentRequestSerializer(IdempotentRequestSerializer):
    user_id = serializers.UUIDField(required=False, help_text="Required for satellites.")
    payment_intent_id = serializers.RegexField(r"^pi_[A-Za-z0-9_]+$", max_length=255)


class PaymentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    product = serializers.CharField(source="product_code")
    energy_credited = serializers.IntegerField(
        source="fulfilled_quantity", help_text="What the payment granted (energy points for packs)."
    )

    class Meta:
        model = Payment
        fields = [
            "id", "status", "flow", "product_kind", "product", "amount_cents", "currency",
            "amount_refunded_cents", "energy_credited", "created_at", "status_changed_at",
        ]
        read_only_fields = fields


class WebhookAckSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["processed", "ignored"])


class SubjectRequestSerializer(IdempotentRequestSerializer):
    user_id = serializers.UUIDField(required=False, help_text="Required for satellites.")


class SeatPurchaseRequestSerializer(IdempotentRequestSerializer):
    kind = serializers.ChoiceField(choices=["monthly", "lifetime"])
    quantity = StrictIntegerField(min_value=1, max_value=1000)


class SeatPurchaseResponseSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=["checkout", "added"],
        help_text="checkout: pay at checkout_url (lifetime seats, or the first monthly seats, "
        "which start the grouped billing cycle); added: monthly seats added to the grouped "
        "subscription now, prorated, billed on the grouped date.",
    )
    payment_id = serializers.UUIDField(allow_null=True)
    checkout_url = serializers.CharField(allow_blank=True)
    license_ids = serializers.ListField(child=serializers.UUIDField(), help_text="Seats created (added).")
    amount_cents = serializers.IntegerField(help_text="Due at checkout, or prorated total billed on the grouped date.")
    prorated_unit_cents = serializers.IntegerField(allow_null=True)
    billed = serializers.ChoiceField(choices=["now", "next_grouped_date"])
    next_billing_at = serializers.DateTimeField(allow_null=True)


class RegularizeResponseSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="The pro account's status (suspended until Stripe reports the payment).")
    invoice_id = serializers.CharField(help_text="The open (unpaid) invoice of the grouped subscription.")
    amount_due = serializers.IntegerField(help_text="Minor units (cents).")
    currency = serializers.CharField()
    hosted_invoice_url = serializers.URLField(help_text="Stripe's hosted page where the pro pays the invoice.")
    attempt_count = serializers.IntegerField(help_text="Collection attempts Stripe already made.")
