from rest_framework import serializers

from licenses.models import ProAccountStatus
from licenses.selectors import invitation_status
from phoenix.core.input_policy import StrictBooleanField


class ProUserRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    email = serializers.EmailField()


class ProAccountSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField(help_text="trial | active | expired | suspended")
    trial_ends_at = serializers.DateTimeField()
    billing_anchor_day = serializers.IntegerField(allow_null=True)
    next_billing_at = serializers.DateTimeField(allow_null=True, help_text="The next grouped billing date.")
    regularize_required = serializers.SerializerMethodField(
        help_text="A grouped renewal failed: the pro must regularize the payment."
    )
    created_at = serializers.DateTimeField()

    def get_regularize_required(self, account) -> bool:
        return account.status == ProAccountStatus.SUSPENDED


class PendingAssignmentSerializer(serializers.Serializer):
    collaborator = ProUserRefSerializer()
    created_at = serializers.DateTimeField()


class LicenseSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    kind = serializers.CharField(help_text="monthly | lifetime")
    status = serializers.CharField(help_text="available | active | suspended | canceled | unlinked")
    is_owner_license = serializers.BooleanField()
    assignee = ProUserRefSerializer(allow_null=True)
    assigned_at = serializers.DateTimeField(allow_null=True)
    effective_at = serializers.DateTimeField(
        allow_null=True, help_text="When a cancel/unlink takes effect (the grouped billing date)."
    )
    pending_assignment = serializers.SerializerMethodField()

    def get_pending_assignment(self, lic) -> PendingAssignmentSerializer(allow_null=True):
        pending = getattr(lic, "pending_assignment", None)
        return PendingAssignmentSerializer(pending).data if pending is not None else None


class LicenseCountsSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    active = serializers.IntegerField()
    suspended = serializers.IntegerField()
    canceled = serializers.IntegerField()
    unlinked = serializers.IntegerField()


class LicensePoolSerializer(serializers.Serializer):
    counts = LicenseCountsSerializer()
    total = serializers.IntegerField()
    licenses = LicenseSerializer(many=True)


class LicenseRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    kind = serializers.CharField(help_text="monthly | lifetime")
    status = serializers.CharField(help_text="available | active | suspended | canceled | unlinked")


class CollaboratorSerializer(serializers.Serializer):
    user = ProUserRefSerializer()
    linked_at = serializers.DateTimeField()
    access_type = serializers.CharField(help_text="TRIAL | PREMIUM | LIFETIME | LICENSED | EXPIRED")
    premium = serializers.BooleanField()
    license = LicenseRefSerializer(allow_null=True)
    activity_visible = serializers.BooleanField(
        help_text="Activity is shown only when the collaborator has premium access.")
    activity_url = serializers.CharField(
        allow_null=True,
        help_text="When visible: the path of their activity (`GET /pro/collaborators/{user_id}/activity`); "
                  "null when hidden.",
    )


class AssignSerializer(serializers.Serializer):
    user_id = serializers.UUIDField(help_text="The collaborator (or the owner themselves).")


class AssignResponseSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["assigned", "needs_cancel_existing"])
    license = LicenseSerializer()


class MembershipSerializer(serializers.Serializer):
    pro_account_id = serializers.UUIDField(source="pro_account.public_id")
    owner = ProUserRefSerializer(source="pro_account.owner")
    linked_at = serializers.DateTimeField(source="created_at")


class InviteSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class InvitationSerializer(serializers.Serializer):
    """What the pro sees of an invitation: the address they typed and its status, nothing
    about the person."""

    id = serializers.UUIDField(source="public_id")
    email = serializers.EmailField()
    status = serializers.ChoiceField(choices=["pending", "accepted", "declined", "revoked", "expired"])
    expires_at = serializers.DateTimeField()
    responded_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def to_representation(self, invitation):
        body = super().to_representation(invitation)
        body["status"] = invitation_status(invitation)
        return body


class ReceivedInvitationSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    pro_account_id = serializers.UUIDField(source="pro_account.public_id")
    owner = ProUserRefSerializer(source="pro_account.owner")
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class AcceptSerializer(serializers.Serializer):
    premium_cancel_consent = StrictBooleanField(
        default=False,
        help_text="true: if the pro assigns you a seat, your own paid plan (PREMIUM) is canceled at Stripe. "
        "Without it, assigning you a seat while you are PREMIUM is refused (409 `consent_required`).",
    )


class RespondByLinkSerializer(AcceptSerializer):
    token = serializers.CharField(max_length=512, trim_whitespace=False, help_text="The token of the e-mailed link.")
    decision = serializers.ChoiceField(choices=["accept", "decline"])


class InvitationAnswerSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField()
    premium_cancel_consent = serializers.BooleanField()
