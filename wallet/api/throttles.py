"""Per-caller rate limits of the /luna API, rates read from settings at each request
(LUNA_USER_THROTTLE_RATE, LUNA_SATELLITE_THROTTLE_RATE; README configuration table). The
sliding-window counter of phoenix.core.throttling: one Redis round trip per request."""

from __future__ import annotations

from rest_framework_api_key.permissions import KeyParser

from phoenix.core.api import is_satellite
from phoenix.core.throttling import SlidingWindowThrottle


class LunaUserThrottle(SlidingWindowThrottle):
    """Per end user (Token auth)."""

    scope = "luna_user"
    setting_name = "LUNA_USER_THROTTLE_RATE"

    def get_ident(self, request) -> str | None:
        if is_satellite(request) or not (request.user and request.user.is_authenticated):
            return None
        return str(request.user.pk)


class LunaSatelliteThrottle(SlidingWindowThrottle):
    """Per satellite API key (its public prefix)."""

    scope = "luna_satellite"
    setting_name = "LUNA_SATELLITE_THROTTLE_RATE"

    def get_ident(self, request) -> str | None:
        if not is_satellite(request):
            return None
        return (KeyParser().get(request) or "").partition(".")[0]
