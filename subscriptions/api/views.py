from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from phoenix.core.api import IsUserOrSatellite, resolve_subject_user
from phoenix.core.openapi import USER_ID_PATH
from subscriptions.api import examples as ex
from subscriptions.api.serializers import AccessSerializer
from subscriptions.selectors import access_summary


class AccessView(APIView):
    """A user's access state: satellites for anyone, end users for themselves."""

    permission_classes = [IsUserOrSatellite]

    @extend_schema(
        tags=["subscriptions"], parameters=[USER_ID_PATH],
        responses={200: AccessSerializer, **ex.ACCESS_RESPONSES}, examples=ex.ACCESS,
        summary="A user's access: trial, premium, lifetime, licensed or expired.",
    )
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        return Response(AccessSerializer(access_summary(user)).data)
