"""Sections that feature packages add to the home page, so the core never imports them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from portal.models import User

# A panel gets the signed-in user and returns (template, context) or None to stay hidden.
HomePanel = Callable[[User], tuple[str, dict[str, Any]] | None]

# ``app.extensions[_KEY]``: the app's panels, in the order their packages were initialised.
_KEY = "home_panels"


def register_home_panel(app: Flask, panel: HomePanel) -> None:
    """Add ``panel`` to ``app``'s home page (a feature's ``init_app`` calls this; registering
    twice adds it once)."""
    panels: list[HomePanel] = app.extensions.setdefault(_KEY, [])
    if panel not in panels:
        panels.append(panel)


def panels_for(user: User) -> list[tuple[str, dict[str, Any]]]:
    """The sections of ``user``'s home page, in order."""
    panels: list[HomePanel] = current_app.extensions.get(_KEY, [])
    return [shown for panel in panels if (shown := panel(user)) is not None]
