"""Counts in the navigation bar (the bell's unread notifications, chat's unread messages):
feature packages add them, every signed-in page reads them all in one statement.

A badge is its SQL, written once against :data:`USER_ID` (the signed-in user's id, bound on each
page), and the rule of who has it (chat: not an administrator). The statement of each mix of
badges is built once per process and then only executed: the navigation bar is on every page,
and building the SQL again each time cost more than running it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import BindParameter, Integer, ScalarSelect, Select, bindparam, select

from portal.extensions import db
from portal.models import User

# The signed-in user's id in every badge's SQL.
USER_ID: BindParameter[int] = bindparam("badge_user_id", type_=Integer())

# ``app.extensions[_KEY]``: the template variable each badge fills, and the badge.
_KEY = "nav_badges"
_STATEMENTS = "nav_badge_statements"


@dataclasses.dataclass(frozen=True)
class Badge:
    query: ScalarSelect[Any]  # the count, for the user :data:`USER_ID`
    shown_to: Callable[[User], bool]  # whether a user has this badge (else its count is 0)


def register_badge(
    app: Flask,
    name: str,
    query: ScalarSelect[Any],
    *,
    shown_to: Callable[[User], bool] = lambda user: True,
) -> None:
    """Have every page's template see ``name`` (an int): ``query`` counted for the signed-in
    user (written against :data:`USER_ID`), or 0 for those ``shown_to`` leaves out."""
    app.extensions.setdefault(_KEY, {})[name] = Badge(query, shown_to)
    app.extensions[_STATEMENTS] = {}


def _statement(names: tuple[str, ...]) -> Select[Any]:
    statements: dict[tuple[str, ...], Select[Any]] = current_app.extensions[_STATEMENTS]
    statement = statements.get(names)
    if statement is None:
        badges: dict[str, Badge] = current_app.extensions[_KEY]
        statement = statements[names] = select(*(badges[n].query.label(n) for n in names))
    return statement


def badge_counts(user: User | None) -> dict[str, int]:
    """Every registered badge's count for ``user`` (0 for everyone signed out), in one query."""
    badges: dict[str, Badge] = current_app.extensions.get(_KEY, {})
    counts = dict.fromkeys(badges, 0)
    if user is None:
        return counts
    names = tuple(name for name, badge in badges.items() if badge.shown_to(user))
    if names:
        row = db.session.execute(_statement(names), {USER_ID.key: user.id}).one()
        counts.update({name: int(value or 0) for name, value in row._mapping.items()})
    return counts
