"""Per-caller rate limits of the /luna API, rates read from settings at each request
(LUNA_USER_THROTTLE_RATE, LUNA_SATELLITE_THROTTLE_RATE; README configuration table)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_api_key.permissions import KeyParser

from phoenix.core.api import is_satellite


class _SettingsRateThrottle(SimpleRateThrottle):
    setting_name = ""

    def __init__(self):
        # Deliberately not at class creation: the rate is a setting, changeable per test.
        pass

    def allow_request(self, request, view) -> bool:
        self.rate = getattr(settings, self.setting_name)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class LunaUserThrottle(_SettingsRateThrottle):
    """Per end user (Token auth)."""

    scope = "luna_user"
    setting_name = "LUNA_USER_THROTTLE_RATE"

    def get_cache_key(self, request, view) -> str | None:
        if is_satellite(request) or not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class LunaSatelliteThrottle(_SettingsRateThrottle):
    """Per satellite API key (its public prefix)."""

    scope = "luna_satellite"
    setting_name = "LUNA_SATELLITE_THROTTLE_RATE"

    def get_cache_key(self, request, view) -> str | None:
        if not is_satellite(request):
            return None
        prefix = (KeyParser().get(request) or "").partition(".")[0]
        return self.cache_format % {"scope": self.scope, "ident": prefix}
