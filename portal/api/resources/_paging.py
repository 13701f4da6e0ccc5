"""Keyset cursors for the API's lists ordered newest first by (time, id).

A cursor names the last record of a page (its time and id); the next page reads the records
strictly older in that total order with an index-friendly condition, ``limit + 1`` rows to know
whether another page follows. Records inserted while a client pages are either newer than its
first page (it sees them next time) or fall among the pages still to come (it sees them once):
none already listed comes again, none pre-existing is skipped.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_

from portal.errors import InvalidInput

_VERSION = "k1"
_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"
T = TypeVar("T")


def encode(at: dt.datetime, ident: int) -> str:
    raw = f"{_VERSION}|{at.astimezone(dt.UTC).strftime(_STAMP)}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str) -> tuple[dt.datetime, int]:
    """The (time, id) a cursor names; :class:`InvalidInput` (400) if it is not one of ours."""
    problem = InvalidInput("That cursor is not valid: use a page's 'next'.", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        version, stamp, ident = raw.split("|")
        if version != _VERSION:
            raise ValueError(version)
        number = int(ident)
        if not 0 < number < 2**63:
            raise ValueError(ident)
        return dt.datetime.strptime(stamp, _STAMP).replace(tzinfo=dt.UTC), number
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise problem from exc


def older_than(at: Any, ident: Any, cursor: str | None) -> ColumnElement[bool] | None:
    """The SQL condition "after the cursor, newest first" on a (time, id) pair, or None."""
    if cursor is None:
        return None
    moment, number = decode(cursor)
    return or_(at < moment, and_(at == moment, ident < number))


def split(rows: Sequence[T], limit: int, key: Any) -> tuple[list[T], str | None]:
    """The page (``limit`` of ``limit + 1`` rows read) and the cursor of the next, if any."""
    page = list(rows[:limit])
    if len(rows) <= limit:
        return page, None
    at, ident = key(page[-1])
    return page, encode(at, ident)
