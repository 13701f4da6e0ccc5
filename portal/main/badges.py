"""Counts in the navigation bar (the bell's unread notifications, chat's unread messages):
feature packages add them, every signed-in page reads them all in one statement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import ScalarSelect, select

from portal.extensions import db
from portal.models import User

# A badge gets the signed-in user and returns the SQL of its count, or None when the user has no
# such badge (chat for an administrator): the count is then 0.
Badge = Callable[[User], ScalarSelect[Any] | None]

# ``app.extensions[_KEY]``: the template variable each badge fills, and the badge.
_KEY = "nav_badges"


def register_badge(app: Flask, name: str, badge: Badge) -> None:
    """Have every page's template see ``name`` (an int) counted by ``badge``."""
    app.extensions.setdefault(_KEY, {})[name] = badge


def badge_counts(user: User | None) -> dict[str, int]:
    """Every registered badge's count for ``user`` (0 for everyone signed out), in one query."""
    badges: dict[str, Badge] = current_app.extensions.get(_KEY, {})
    counts = dict.fromkeys(badges, 0)
    if user is None:
        return counts
    queries = [
        query.label(name) for name, badge in badges.items() if (query := badge(user)) is not None
    ]
    if queries:
        row = db.session.execute(select(*queries)).one()
        counts.update({name: int(value or 0) for name, value in row._mapping.items()})
    return counts
