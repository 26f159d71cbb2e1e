"""The /pro API: thin views over licenses.services and selectors.

Purchasing seats needs Stripe and lives in billing (it calls ``license_purchase``)."""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from licenses import selectors, services
from licenses.api import examples as ex
from licenses.api import serializers as s
from licenses.errors import (
    CollaboratorNotFound,
    InvitationNotFound,
    LicenseNotFound,
    NotACollaborator,
    ProAccountNotFound,
)
from licenses.models import Invitation, License, Membership, ProAccount
from phoenix.core.idempotency import idempotent
from phoenix.core.openapi import IDEMPOTENCY_HEADER

LICENSE_ID_PATH = OpenApiParameter("license_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                                   description="A license of the caller's pro account.",
                                   examples=[OpenApiExample("license", value=ex.LICENSE_ID)])


def _license(account: ProAccount, license_id: str) -> License:
    try:
        public_id = uuid.UUID(str(license_id))
    except ValueError:
        raise LicenseNotFound() from None
    lic = License.objects.filter(pro_account=account, public_id=public_id).select_related("assignee").first()
    if lic is None:
        raise LicenseNotFound()
    return lic


def _user_by_public_id(value) -> object:
    user = get_user_model().objects.filter(public_id=value, is_active=True).first()
    if user is None:
        raise CollaboratorNotFound()
    return user


def _license_body(lic: License) -> dict:
    fresh = License.objects.select_related("assignee", "pending_assignment__collaborator").filter(pk=lic.pk).first()
    lic = fresh or lic
    return s.LicenseSerializer(lic).data


class ProAccountView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["pro"], responses={200: s.ProAccountSerializer, **ex.OWNER_ERRORS}, examples=ex.ACCOUNT,
                   summary="The caller's pro account.")
    def get(self, request):
        return Response(s.ProAccountSerializer(selectors.pro_account_for_owner(request.user)).data)

    @extend_schema(
        tags=["pro"], request=None, parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.ProAccountSerializer, **ex.OPEN_RESPONSES}, examples=ex.OPEN,
        summary="Open a pro account for the caller, with a 7-day trial.",
    )
    @idempotent
    def post(self, request):
        account = services.pro_account_open(owner=request.user)
        return Response(s.ProAccountSerializer(account).data, status=status.HTTP_201_CREATED)


class CollaboratorListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["pro"], responses={200: s.CollaboratorSerializer(many=True), **ex.OWNER_ERRORS},
                   examples=ex.COLLABORATORS, summary="The collaborators linked to the caller's pro account.")
    def get(self, request):
        account = selectors.pro_account_for_owner(request.user)
        return Response(s.CollaboratorSerializer(selectors.collaborators_for(pro_account=account), many=True).data)


class CollaboratorDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["pro"], request=None,
        parameters=[IDEMPOTENCY_HEADER, OpenApiParameter("user_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                                     description="The collaborator's public id.",
                                     examples=[OpenApiExample("collaborator", value=ex.COLLABORATOR["id"])])],
        responses={204: OpenApiResponse(description="Unlinked."), **ex.UNLINK_COLLABORATOR_RESPONSES},
        summary="Unlink a collaborator.",
        description="Their license becomes `unlinked`; they keep access until the grouped billing date.",
    )
    @idempotent
    def delete(self, request, user_id):
        account = selectors.pro_account_for_owner(request.user)
        try:
            user = _user_by_public_id(uuid.UUID(str(user_id)))
        except ValueError:
            raise CollaboratorNotFound() from None
        try:
            services.collaborator_unlink(pro_account=account, collaborator=user, actor=request.user)
        except NotACollaborator:
            # The same answer as for a random id: the pro cannot probe for accounts.
            raise CollaboratorNotFound() from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class LicensePoolView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["pro"], responses={200: s.LicensePoolSerializer, **ex.OWNER_ERRORS}, examples=ex.POOL,
                   summary="The seat licenses of the caller's pro account, with counts per status.")
    def get(self, request):
        account = selectors.pro_account_for_owner(request.user)
        return Response(s.LicensePoolSerializer(selectors.license_pool(pro_account=account)).data)


class LicenseAssignView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["pro"], request=s.AssignSerializer, parameters=[IDEMPOTENCY_HEADER, LICENSE_ID_PATH],
        responses={
            200: s.AssignResponseSerializer,
            202: OpenApiResponse(s.AssignResponseSerializer, description="needs_cancel_existing: the "
                                 "collaborator is PREMIUM; the assignment is pending until Stripe confirms "
                                 "their personal subscription is canceled."),
            **ex.ASSIGN_RESPONSES,
        },
        examples=ex.ASSIGN,
        summary="Assign a seat to a collaborator (or to the owner themselves).",
    )
    @idempotent
    def post(self, request, license_id):
        data = s.AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = selectors.pro_account_for_owner(request.user)
        lic = _license(account, license_id)
        user = _user_by_public_id(data.validated_data["user_id"])
        try:
            result = services.license_assign(license=lic, collaborator=user, actor=request.user)
        except NotACollaborator:
            raise CollaboratorNotFound() from None  # as for a random id: no account probing
        code = status.HTTP_202_ACCEPTED if result.outcome == "needs_cancel_existing" else status.HTTP_200_OK
        return Response({"outcome": result.outcome, "license": _license_body(result.license)}, status=code)


class LicenseCancelView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["pro"], request=None, parameters=[IDEMPOTENCY_HEADER, LICENSE_ID_PATH],
        responses={200: s.LicenseSerializer, **ex.CANCEL_RESPONSES}, examples=ex.CANCEL,
        summary="Cancel a seat.",
        description="Effective on the grouped billing date (monthly deleted, lifetime back to the pool); the "
        "collaborator keeps access until then.",
    )
    @idempotent
    def post(self, request, license_id):
        account = selectors.pro_account_for_owner(request.user)
        lic = services.license_cancel(license=_license(account, license_id), actor=request.user)
        return Response(_license_body(lic))


class LicenseUnlinkView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["pro"], request=None, parameters=[IDEMPOTENCY_HEADER, LICENSE_ID_PATH],
        responses={200: s.LicenseSerializer, **ex.UNLINK_RESPONSES}, examples=ex.UNLINK,
        summary="Unlink the collaborator holding this seat (effective on the grouped billing date).",
    )
    @idempotent
    def post(self, request, license_id):
        account = selectors.pro_account_for_owner(request.user)
        lic = _license(account, license_id)
        services.license_unlink(license=lic, actor=request.user)
        return Response(_license_body(lic))


class MembershipListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["pro"], responses={200: s.MembershipSerializer(many=True), **ex.UNAUTH},
                   examples=ex.MEMBERSHIPS, summary="The pro accounts the caller is linked to as a collaborator.")
    def get(self, request):
        memberships = Membership.objects.filter(collaborator=request.user).select_related("pro_account__owner")
        return Response(s.MembershipSerializer(memberships.order_by("id"), many=True).data)


class LeaveView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["pro"], request=None,
        parameters=[IDEMPOTENCY_HEADER, OpenApiParameter("pro_account_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                                     description="A pro account the caller is linked to.",
                                     examples=[OpenApiExample("pro account", value=ex.PRO_ACCOUNT_ID)])],
        responses={204: OpenApiResponse(description="Left."), **ex.LEAVE_RESPONSES},
        summary="Leave a pro account (the caller is its collaborator).",
        description="The caller's license becomes `unlinked`; access is kept until the grouped billing date.",
    )
    @idempotent
    def post(self, request, pro_account_id):
        try:
            account = ProAccount.objects.filter(public_id=uuid.UUID(str(pro_account_id))).first()
        except ValueError:
            account = None
        if account is None:
            raise ProAccountNotFound()
        services.collaborator_unlink(pro_account=account, collaborator=request.user, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- invitations: nothing is linked before the invited person accepts -------------------------

INVITATION_ID_PATH = OpenApiParameter("invitation_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                                      description="An invitation's id.",
                                      examples=[OpenApiExample("invitation", value=ex.INVITATION_ID)])


def _invitation(invitation_id: str, **filters) -> Invitation:
    try:
        public_id = uuid.UUID(str(invitation_id))
    except ValueError:
        raise InvitationNotFound() from None
    invitation = Invitation.objects.filter(public_id=public_id, **filters).first()
    if invitation is None:
        raise InvitationNotFound()
    return invitation


class InvitationListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["pro"], responses={200: s.InvitationSerializer(many=True), **ex.OWNER_ERRORS},
                   examples=ex.INVITATIONS, summary="The invitations the caller's pro account sent.")
    def get(self, request):
        account = selectors.pro_account_for_owner(request.user)
        return Response(s.InvitationSerializer(selectors.invitations_sent(pro_account=account), many=True).data)

    @extend_schema(
        tags=["pro"], request=s.InviteSerializer, parameters=[IDEMPOTENCY_HEADER],
        responses={202: s.InvitationSerializer, **ex.INVITE_RESPONSES}, examples=ex.INVITE,
        summary="Invite a person by e-mail to become a collaborator.",
        description="An e-mail with a signed link goes to the address. The answer is the same whether the "
        "address has an account or not, and nothing is linked, assigned or canceled until the person accepts "
        "(`POST /pro/invitations/{id}/accept` or the link). Invitations expire after "
        "`PRO_INVITATION_DAYS` days (default 7).",
    )
    @idempotent
    def post(self, request):
        data = s.InviteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = selectors.pro_account_for_owner(request.user)
        invitation = services.invitation_send(pro_account=account, email=data.validated_data["email"],
                                              actor=request.user)
        return Response(s.InvitationSerializer(invitation).data, status=status.HTTP_202_ACCEPTED)


class InvitationRevokeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["pro"], request=None, parameters=[IDEMPOTENCY_HEADER, INVITATION_ID_PATH],
                   responses={200: s.InvitationSerializer, **ex.REVOKE_RESPONSES}, examples=ex.REVOKE,
                   summary="Revoke a pending invitation of the caller's pro account.")
    @idempotent
    def post(self, request, invitation_id):
        account = selectors.pro_account_for_owner(request.user)
        invitation = services.invitation_revoke(invitation=_invitation(invitation_id, pro_account=account),
                                                actor=request.user)
        return Response(s.InvitationSerializer(invitation).data)


class ReceivedInvitationListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["pro"], responses={200: s.ReceivedInvitationSerializer(many=True), **ex.UNAUTH},
                   examples=ex.RECEIVED, summary="The open invitations to the caller's e-mail address.")
    def get(self, request):
        return Response(s.ReceivedInvitationSerializer(selectors.invitations_received(user=request.user),
                                                       many=True).data)


def _answer(invitation: Invitation) -> dict:
    invitation.refresh_from_db()
    return s.InvitationAnswerSerializer(invitation).data


class InvitationAcceptView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["pro"], request=s.AcceptSerializer, parameters=[IDEMPOTENCY_HEADER, INVITATION_ID_PATH],
                   responses={200: s.InvitationAnswerSerializer, **ex.ANSWER_RESPONSES}, examples=ex.ACCEPT,
                   summary="Accept an invitation to the caller's address: become the pro's collaborator.")
    @idempotent
    def post(self, request, invitation_id):
        data = s.AcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = _invitation(invitation_id)
        services.invitation_accept(invitation=invitation, user=request.user,
                                   premium_cancel_consent=data.validated_data["premium_cancel_consent"])
        return Response(_answer(invitation))


class InvitationDeclineView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["pro"], request=None, parameters=[IDEMPOTENCY_HEADER, INVITATION_ID_PATH],
                   responses={200: s.InvitationAnswerSerializer, **ex.ANSWER_RESPONSES}, examples=ex.DECLINE,
                   summary="Decline an invitation to the caller's address.")
    @idempotent
    def post(self, request, invitation_id):
        invitation = _invitation(invitation_id)
        services.invitation_decline(invitation=invitation, user=request.user)
        return Response(_answer(invitation))


class InvitationRespondByLinkView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["pro"], request=s.RespondByLinkSerializer, auth=[],
        responses={200: s.InvitationAnswerSerializer, **ex.LINK_ANSWER_RESPONSES}, examples=ex.RESPOND,
        summary="Accept or decline an invitation through the e-mailed signed link.",
        description="The token proves the address: the account registered with it answers (none: 409 "
        "`account_required`, register first). A forged or unknown token: 404 `invitation_not_found`.",
    )
    def post(self, request):
        data = s.RespondByLinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = services.invitation_respond_by_token(**data.validated_data)
        return Response(s.InvitationAnswerSerializer(invitation).data)
