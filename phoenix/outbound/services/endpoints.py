"""The endpoint registry: create, change, rotate the secret, enable / disable.

The URL rule (no SSRF through an endpoint URL): http(s) only, https unless
WEBHOOK_ALLOW_HTTP; every address the host resolves to must be public unless
WEBHOOK_ALLOW_PRIVATE_ADDRESSES (loopback, private, link-local, reserved are refused);
at most URL_MAX_LENGTH characters; no credentials in it. It is checked when the endpoint
is saved and again before every delivery (a name may resolve elsewhere later).
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from phoenix.outbound.catalogue import SUBSCRIBABLE_TYPES, event_type_get
from phoenix.outbound.errors import InvalidEndpoint, InvalidEndpointUrl, UnknownEventType
from phoenix.outbound.models import SECRET_PREFIX, URL_MAX_LENGTH, DisabledReason, Endpoint

SECRET_BYTES = 32
DESCRIPTION_MAX_LENGTH = 255


def endpoint_secret_new() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _refused(reason: str, detail: str) -> InvalidEndpointUrl:
    return InvalidEndpointUrl(detail, reason=reason)


def host_addresses(host: str, port: int | None) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise _refused("unresolvable", f"The host {host!r} does not resolve.") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def endpoint_url_check(url) -> str:
    """The URL if it is allowed, else InvalidEndpointUrl with a machine `reason`."""
    if not isinstance(url, str) or not url.strip():
        raise _refused("required", "A URL is required.")
    url = url.strip()
    if len(url) > URL_MAX_LENGTH:
        raise _refused("too_long", f"A URL is at most {URL_MAX_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refused("malformed", "The URL cannot be parsed.") from None
    if parts.scheme not in ("http", "https"):
        raise _refused("scheme", "Only http(s) URLs can receive webhooks.")
    if parts.scheme == "http" and not settings.WEBHOOK_ALLOW_HTTP:
        raise _refused("https_required", "The URL must be https (http only where WEBHOOK_ALLOW_HTTP is set).")
    if not parts.hostname:
        raise _refused("host_required", "The URL has no host.")
    if parts.username or parts.password:
        raise _refused("credentials", "Credentials in the URL are not allowed.")
    if not settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        for address in host_addresses(parts.hostname, port):
            if not address.is_global:
                raise _refused("private_address",
                               f"The host resolves to {address}, which is not a public address "
                               "(private, loopback and link-local addresses need WEBHOOK_ALLOW_PRIVATE_ADDRESSES).")
    return url


def endpoint_event_types_check(event_types) -> list[str]:
    if isinstance(event_types, str) or not isinstance(event_types, list | tuple) or not event_types:
        raise InvalidEndpoint(fields={"event_types": [f"A non-empty list of: {', '.join(SUBSCRIBABLE_TYPES)}."]})
    for name in event_types:
        event_type_get(name)
        if name not in SUBSCRIBABLE_TYPES:
            raise UnknownEventType(f"{name!r} is sent on request only, not subscribed to.", event_type=name)
    return sorted(set(event_types))


def _check_fields(*, description, balance_low_threshold) -> None:
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX_LENGTH:
        raise InvalidEndpoint(fields={"description": [f"At most {DESCRIPTION_MAX_LENGTH} characters."]})
    if balance_low_threshold is not None and (
        isinstance(balance_low_threshold, bool) or not isinstance(balance_low_threshold, int)
        or not 0 <= balance_low_threshold <= 10**12
    ):
        raise InvalidEndpoint(fields={"balance_low_threshold": ["A whole number of points, 0 or more."]})


@transaction.atomic
def endpoint_create(*, url: str, event_types: list[str], description: str = "",
                    balance_low_threshold: int | None = None) -> Endpoint:
    """Register an endpoint; its `secret` is shown to the operator once, then only used to sign."""
    _check_fields(description=description, balance_low_threshold=balance_low_threshold)
    return Endpoint.objects.create(
        url=endpoint_url_check(url), event_types=endpoint_event_types_check(event_types),
        description=description, balance_low_threshold=balance_low_threshold, secret=endpoint_secret_new(),
    )


@transaction.atomic
def endpoint_update(*, endpoint: Endpoint, url: str, event_types: list[str], description: str,
                    balance_low_threshold: int | None) -> Endpoint:
    _check_fields(description=description, balance_low_threshold=balance_low_threshold)
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.url = endpoint_url_check(url)
    endpoint.event_types = endpoint_event_types_check(event_types)
    endpoint.description = description
    endpoint.balance_low_threshold = balance_low_threshold
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_secret_rotate(*, endpoint: Endpoint, overlap: timedelta | None = None,
                           now: datetime | None = None) -> Endpoint:
    """A new secret; the old one keeps signing (both signatures sent) until the overlap ends,
    so a receiver can switch to the new one without missing a delivery."""
    now = now or timezone.now()
    overlap = overlap if overlap is not None else timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.previous_secret, endpoint.previous_secret_expires_at = endpoint.secret, now + overlap
    endpoint.secret = endpoint_secret_new()
    endpoint.save()
    return endpoint


def endpoint_signing_secrets(endpoint: Endpoint, *, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one
    during its overlap."""
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        keys.append(endpoint.previous_secret)
    return keys


@transaction.atomic
def endpoint_disable(*, endpoint: Endpoint, reason: str = DisabledReason.OPERATOR,
                     now: datetime | None = None) -> bool:
    """Disable an enabled endpoint (nothing is sent to it until enabled); False if it was not."""
    return bool(Endpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_reason=reason, disabled_at=now or timezone.now(), updated_at=timezone.now()))


@transaction.atomic
def endpoint_enable(*, endpoint: Endpoint) -> bool:
    """Enable a disabled endpoint; its pending deliveries flow again, failing clock reset."""
    return bool(Endpoint.objects.filter(pk=endpoint.pk, enabled=False).update(
        enabled=True, disabled_reason="", disabled_at=None, failing_since=None, updated_at=timezone.now()))
