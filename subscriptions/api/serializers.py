from rest_framework import serializers

from subscriptions.models import AccessType


class AccessSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=AccessType.values)
    premium = serializers.BooleanField(help_text="check_premium_access: TRIAL before its end, "
                                       "PREMIUM, LIFETIME, LICENSED with an active license.")
    unlimited = serializers.BooleanField(help_text="Unlimited energy: PREMIUM, LIFETIME, active LICENSED.")
    trial_ends_at = serializers.DateTimeField(allow_null=True)
    current_period_end = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    license_status = serializers.CharField(help_text="none | active | suspended: the license the user holds")
