"""The Stripe event as webhook handlers see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class StripeEvent:
    """A verified Stripe event as handlers see it (plain dicts, Stripe's shapes)."""

    id: str
    type: str
    created: datetime
    livemode: bool
    object: dict[str, Any]
    previous_attributes: dict[str, Any]
    payload: dict[str, Any]

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> StripeEvent:
        data = payload.get("data") or {}
        return cls(
            id=payload["id"],
            type=payload["type"],
            created=datetime.fromtimestamp(int(payload.get("created") or 0), tz=UTC),
            livemode=bool(payload.get("livemode", False)),
            object=data.get("object") or {},
            previous_attributes=data.get("previous_attributes") or {},
            payload=payload,
        )
