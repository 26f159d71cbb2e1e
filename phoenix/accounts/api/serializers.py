from rest_framework import serializers


class CredentialsSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class UserRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    email = serializers.EmailField()


class RegisterResponseSerializer(UserRefSerializer):
    token = serializers.CharField()


class LoginResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    user = UserRefSerializer()


class AccessSectionSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["TRIAL", "PREMIUM", "LIFETIME", "LICENSED", "EXPIRED"])
    premium = serializers.BooleanField()
    unlimited = serializers.BooleanField()
    trial_ends_at = serializers.DateTimeField(allow_null=True)


class ProfileNextExpirySerializer(serializers.Serializer):
    amount = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class EnergySectionSerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    held = serializers.IntegerField()
    available = serializers.IntegerField()
    paid = serializers.IntegerField(help_text="Of the balance: purchased energy.")
    free = serializers.IntegerField(help_text="Of the balance: welcome, bonus and granted energy.")
    next_expiry = ProfileNextExpirySerializer(allow_null=True,
                                              help_text="The soonest expiry (amount, date); null if none.")


class ProfileSerializer(UserRefSerializer):
    date_joined = serializers.DateTimeField()
    access = AccessSectionSerializer(required=False, help_text="Present once subscriptions is installed.")
    energy = EnergySectionSerializer(required=False, help_text="Present once the wallet is installed.")


class EraseSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, help_text="The current password, to confirm."
    )
