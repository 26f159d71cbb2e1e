from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from phoenix.accounts import services
from phoenix.accounts.api import serializers as s
from phoenix.accounts.api.throttles import LoginEmailThrottle, LoginIPThrottle, RegisterIPThrottle
from phoenix.accounts.profile import profile_sections
from phoenix.core.api import ErrorSerializer, IsUserOrSatellite, resolve_subject_user


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


def _profile_body(user) -> dict:
    body = dict(s.UserRefSerializer(user).data)
    body["date_joined"] = user.date_joined
    body.update(profile_sections(user))
    return body


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [RegisterIPThrottle]

    @extend_schema(
        tags=["auth"],
        request=s.CredentialsSerializer,
        responses={
            201: s.RegisterResponseSerializer,
            400: _error("validation_error: bad e-mail or weak password (`fields`)"),
            409: _error("email_taken"),
            429: _error("throttled"),
        },
        auth=[],
    )
    def post(self, request):
        data = s.CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = services.user_register(**data.validated_data)
        body = {**s.UserRefSerializer(user).data, "token": token}
        return Response(body, status=status.HTTP_201_CREATED)


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginIPThrottle, LoginEmailThrottle]

    @extend_schema(
        tags=["auth"],
        request=s.CredentialsSerializer,
        responses={
            200: s.LoginResponseSerializer,
            400: _error("validation_error"),
            401: _error("invalid_credentials"),
            429: _error("throttled (per IP and per e-mail); `retry_after` in seconds"),
        },
        auth=[],
    )
    def post(self, request):
        data = s.CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = services.user_login(request=request, **data.validated_data)
        return Response({"token": token, "user": s.UserRefSerializer(user).data})


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"], request=None,
        responses={204: None, 401: _error("not_authenticated")},
    )
    def post(self, request):
        services.user_logout(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProfileView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        responses={200: s.ProfileSerializer, 401: _error("not_authenticated")},
    )
    def get(self, request):
        return Response(_profile_body(request.user))

    @extend_schema(
        tags=["auth"],
        request=s.EraseSerializer,
        responses={
            204: OpenApiResponse(description="Personal data erased; financial records kept."),
            400: _error("validation_error"),
            401: _error("not_authenticated or invalid_credentials"),
        },
        description="GDPR erasure: anonymizes personal data, revokes the token, keeps "
        "financial records. Confirm with the current password.",
    )
    def delete(self, request):
        data = s.EraseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_erase(user=request.user, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserProfileView(APIView):
    """A user's profile by public id: satellites for anyone, end users for themselves."""

    permission_classes = [IsUserOrSatellite]

    @extend_schema(
        tags=["auth"],
        responses={
            200: s.ProfileSerializer,
            401: _error("not_authenticated"),
            404: _error("user_not_found (also for another user's id)"),
        },
    )
    def get(self, request, user_id):
        return Response(_profile_body(resolve_subject_user(request, user_id)))
