from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from phoenix.core.api import ErrorSerializer, IsUserOrSatellite, resolve_subject_user
from subscriptions.api.serializers import AccessSerializer
from subscriptions.selectors import access_summary


class AccessView(APIView):
    """A user's access state: satellites for anyone, end users for themselves."""

    permission_classes = [IsUserOrSatellite]

    @extend_schema(
        tags=["subscriptions"],
        responses={
            200: AccessSerializer,
            401: OpenApiResponse(ErrorSerializer, description="not_authenticated"),
            404: OpenApiResponse(ErrorSerializer, description="user_not_found (also for another user's id)"),
        },
    )
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        return Response(AccessSerializer(access_summary(user)).data)
