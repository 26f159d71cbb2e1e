"""Brute-force protection for login and registration, counted in Redis.

Rates are read from settings on every request (not frozen at import) so an operator
can change them through the environment.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

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


class LoginEmailThrottle(_SettingsRateThrottle):
    """Login attempts per target account, whatever IPs they come from."""

    scope = "login_email"
    rate_setting = "LOGIN_THROTTLE_RATE"

    def get_cache_key(self, request, view):
        email = request.data.get("email") if hasattr(request.data, "get") else None
        if not isinstance(email, str) or not email:
            return None
        return self.cache_format % {"scope": self.scope, "ident": normalize_email(email)}


class RegisterIPThrottle(_SettingsRateThrottle):
    scope = "register_ip"
    rate_setting = "REGISTER_THROTTLE_RATE"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
