"""Runbooks: one Markdown page per incident code, kept in the repository under
`docs/runbooks/<code>.md`, shown on the incident pages and at /admin/runbooks/<code>/.

Rendered with markdown-it (CommonMark) with raw HTML off: a runbook is text and links, and
whatever it contains is escaped, never injected into the admin page.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

RUNBOOK_DIR = Path(settings.BASE_DIR) / "docs" / "runbooks"
# An incident code: what may name a runbook file (nothing else is looked up on disk).
CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")

_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def runbook_codes() -> list[str]:
    """Every code that has a runbook, sorted."""
    return sorted(path.stem for path in RUNBOOK_DIR.glob("*.md") if CODE_PATTERN.fullmatch(path.stem))


def runbook_path(code: str) -> Path | None:
    """The runbook file of `code`, or None (no such runbook, or not a code)."""
    if not CODE_PATTERN.fullmatch(code or ""):
        return None
    path = RUNBOOK_DIR / f"{code}.md"
    return path if path.is_file() else None


def runbook_title(code: str) -> str:
    """The runbook's first heading (its one-line summary), or the code."""
    path = runbook_path(code)
    if path is None:
        return code
    first = path.read_text(encoding="utf-8").lstrip().splitlines()[0]
    return first.lstrip("#").strip() or code


@lru_cache(maxsize=128)
def _render(path: Path, mtime_ns: int) -> str:
    return _markdown.render(path.read_text(encoding="utf-8"))


def runbook_html(code: str) -> SafeString | None:
    """The runbook of `code` rendered to HTML (None: there is none). Cached per file version."""
    path = runbook_path(code)
    if path is None:
        return None
    return mark_safe(_render(path, path.stat().st_mtime_ns))  # raw HTML is off: the output is escaped
