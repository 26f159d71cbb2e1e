"""Sections of GET /auth/profile contributed by the apps above `phoenix`.

`subscriptions` adds ``access`` and `wallet` adds ``energy`` from their AppConfig.ready(),
keeping the dependency direction (ARCHITECTURE.md: phoenix imports neither).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ProfileSection = Callable[[Any], dict[str, Any]]

_sections: dict[str, ProfileSection] = {}


def register_profile_section(name: str, build: ProfileSection) -> None:
    _sections[name] = build


def profile_sections(user) -> dict[str, Any]:
    return {name: build(user) for name, build in _sections.items()}
