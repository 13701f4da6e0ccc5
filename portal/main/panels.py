"""Sections that feature packages add to the home page, so the core never imports them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portal.models import User

# A panel gets the signed-in user and returns (template, context) or None to stay hidden.
HomePanel = Callable[[User], tuple[str, dict[str, Any]] | None]
_panels: list[HomePanel] = []


def register_home_panel(panel: HomePanel) -> HomePanel:
    """Add ``panel`` to every home page (a decorator; registering twice adds it once)."""
    if panel not in _panels:
        _panels.append(panel)
    return panel


def panels_for(user: User) -> list[tuple[str, dict[str, Any]]]:
    return [shown for panel in _panels if (shown := panel(user)) is not None]
