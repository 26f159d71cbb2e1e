"""Brute-force protection for login and registration, counted in Redis.

Rates are read from settings on every request (not frozen at import) so an operator
can change them through the environment.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from phoenix.accounts.api.serializers import CredentialsSerializer
from phoenix.accounts.models import normalize_email


class _SettingsRateThrottle(SimpleRateThrottle):
    rate_setting: str = ""

    def get_rate(self) -> str:
        return getattr(settings, self.rate_setting)


class LoginIPThrottle(_SettingsRateThrottle):
    """Login attempts per client IP."""

    scope = "login_ip"
    rate_setting = "LOGIN_THROTTLE_RATE"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginIPEmailThrottle(_SettingsRateThrottle):
    """Login attempts per (client IP, target account). Not per account alone: attempts from
    other IPs must not lock a user out of their own login. The e-mail is validated first
    (the input policy already refused unstorable text) and hashed into the key."""

    scope = "login_ip_email"
    rate_setting = "LOGIN_IP_EMAIL_THROTTLE_RATE"

    def get_cache_key(self, request, view):
        data = CredentialsSerializer(data=request.data)
        if not data.is_valid():
            return None  # the view answers 400; the per-IP throttle still counted the attempt
        email = normalize_email(data.validated_data["email"])
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": f"{self.get_ident(request)}:{digest}"}


class LoginIPEmailBackoffThrottle(LoginIPEmailThrottle):
    """The back-off: past the per-minute rate, an (IP, account) that keeps failing waits for
    the hourly window (LOGIN_IP_EMAIL_HOURLY_RATE), not just the next minute."""

    scope = "login_ip_email_hour"
    rate_setting = "LOGIN_IP_EMAIL_HOURLY_RATE"


class RegisterIPThrottle(_SettingsRateThrottle):
    scope = "register_ip"
    rate_setting = "REGISTER_THROTTLE_RATE"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
