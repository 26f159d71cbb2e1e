"""Shared API building blocks: who is calling, and on whose behalf.

End users authenticate with ``Authorization: Token <key>``; satellite services with
``Authorization: Api-Key <key>`` (djangorestframework-api-key). A satellite may act for
any user; an end user may only name themselves: naming anybody else answers 404, so
the API never tells an end user whether another account exists.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework_api_key.permissions import HasAPIKey

from phoenix.core.errors import NotFoundError, PhoenixError

API_KEY_KEYWORD = "Api-Key"


class IsSatelliteService(HasAPIKey):
    """A request carrying a valid, unrevoked ``Api-Key``."""


class IsUserOrSatellite(BasePermission):
    """An authenticated end user, or a satellite service with an API key."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if IsAuthenticated().has_permission(request, view) or is_satellite(request, view):
            return True
        if request.META.get("HTTP_AUTHORIZATION", "").startswith(f"{API_KEY_KEYWORD} "):
            # Credentials were sent, and are wrong: not "no credentials".
            raise AuthenticationFailed("Invalid or revoked API key.")
        return False


def is_satellite(request: Request, view: Any = None) -> bool:
    # Memoized on the request: the key check hashes the key, which is deliberately slow.
    cached = getattr(request, "_phoenix_is_satellite", None)
    if cached is None:
        cached = IsSatelliteService().has_permission(request, view)
        request._phoenix_is_satellite = cached
    return cached


class UserIdRequired(PhoenixError):
    code = "user_id_required"
    default_detail = "A satellite service must name the user it acts for (user_id)."


class UserNotFound(NotFoundError):
    code = "user_not_found"
    default_detail = "No such user."


def resolve_subject_user(request: Request, user_id: Any = None):
    """The user a request acts for.

    - satellite service: ``user_id`` is required and may name any active user;
    - end user: ``user_id`` may be omitted or name themselves; anything else is 404.
    """
    user_model = get_user_model()
    if user_id in (None, ""):
        if request.user and request.user.is_authenticated:
            return request.user
        raise UserIdRequired()

    try:
        public_id = uuid.UUID(str(user_id))
    except ValueError:
        raise UserNotFound() from None

    if request.user and request.user.is_authenticated and not is_satellite(request):
        if request.user.public_id == public_id:
            return request.user
        raise UserNotFound()

    try:
        return user_model.objects.get(public_id=public_id, is_active=True)
    except user_model.DoesNotExist:
        raise UserNotFound() from None


class ErrorSerializer(serializers.Serializer):
    """Every error answer: a machine code, a human text, and extra fields for some codes."""

    error = serializers.CharField(help_text="Machine-readable error code.")
    detail = serializers.CharField(help_text="Human-readable explanation.")
