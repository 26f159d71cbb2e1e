from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from phoenix.accounts import services
from phoenix.accounts.api import examples as ex
from phoenix.accounts.api import serializers as s
from phoenix.accounts.api.throttles import (
    LoginIPEmailBackoffThrottle,
    LoginIPEmailThrottle,
    LoginIPThrottle,
    RegisterIPThrottle,
)
from phoenix.accounts.profile import profile_sections
from phoenix.core.api import IsUserOrSatellite, resolve_subject_user
from phoenix.core.openapi import USER_ID_PATH


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
        responses={201: s.RegisterResponseSerializer, **ex.REGISTER_RESPONSES},
        examples=ex.REGISTER,
        summary="Create an account; the answer carries its API token.",
        description="The e-mail address is stored lower-cased and must be unused (else 409 `email_taken`). "
        + ex.PASSWORD_RULES + " The new user starts a trial, with a welcome energy credit.",
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
    throttle_classes = [LoginIPThrottle, LoginIPEmailThrottle, LoginIPEmailBackoffThrottle]

    @extend_schema(
        tags=["auth"],
        request=s.CredentialsSerializer,
        responses={200: s.LoginResponseSerializer, **ex.LOGIN_RESPONSES},
        examples=ex.LOGIN,
        summary="Get the user's API token (`Authorization: Token <key>`).",
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
        responses={204: OpenApiResponse(description="Token revoked."), **ex.AUTH_ONLY},
        summary="Revoke the caller's token.",
    )
    def post(self, request):
        services.user_logout(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProfileView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        responses={200: s.ProfileSerializer, **ex.AUTH_ONLY}, examples=ex.PROFILE,
        summary="The caller's profile, access and energy.",
    )
    def get(self, request):
        return Response(_profile_body(request.user))

    @extend_schema(
        tags=["auth"],
        request=s.EraseSerializer,
        responses={
            204: OpenApiResponse(description="Personal data erased; financial records kept."),
            **ex.ERASE_RESPONSES,
        },
        examples=ex.ERASE,
        summary="Erase the caller's personal data (GDPR).",
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
        tags=["auth"], parameters=[USER_ID_PATH],
        responses={200: s.ProfileSerializer, **ex.USER_PROFILE_RESPONSES}, examples=ex.PROFILE,
        summary="A user's profile, access and energy, by public id.",
    )
    def get(self, request, user_id):
        return Response(_profile_body(resolve_subject_user(request, user_id)))
