"""Bounded input: every whole number a client sends (in a path, a query string, a form or a chat
payload) is checked against what the database can hold before it reaches a query.

An id is a whole number from 1 to ``MAX_ID`` = 2^31 - 1: every key column is an ``Integer``,
which PostgreSQL stores in 32 bits (SQLite in 64), and SQLAlchemy casts a parameter compared with
one to ``INTEGER``, so a larger number fails the query there as it fails SQLite beyond 2^63 - 1.
A page number runs from 1 to ``MAX_PAGE``. Outside those ranges a value names nothing:
the URL converter and the query helpers answer 404, the form coercion gives the field an error,
and the chat payload parser answers ``invalid``. Without this, SQLite raised "Python int too
large to convert to SQLite INTEGER" on 2^63 and PostgreSQL "integer out of range" on 2^31: a 500.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter, Map

from portal.errors import NotFound

MAX_ID = 2**31 - 1
# Offsets (page times page size, at most a few hundred rows a page) stay far inside 64 bits.
MAX_PAGE = 2**31 - 1
_NOT_FOUND = "The page you asked for does not exist, or you do not have access to it."


def is_id(value: Any) -> bool:
    """True for an ``int`` (not a ``bool``) from 1 to ``MAX_ID``."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def is_text(value: str) -> bool:
    """True for text every backend stores: encodable as UTF-8 (no lone surrogate such as
    ``"\\ud800"``, which JSON can carry) and free of NUL characters (PostgreSQL refuses them)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_id(value: Any) -> int:
    """Form coercion for an id field: ``"42"`` → 42; ``ValueError`` (a form error) for anything
    that is not a whole number from 1 to ``MAX_ID``. Accepts ints as well (a field's default)."""
    number = _whole_number(value)
    if number is None or not is_id(number):
        raise ValueError("Not a valid choice.")
    return number


def to_optional_id(value: Any) -> int | None:
    """As :func:`to_id`, but ``""`` and ``None`` (an unchosen option) are ``None``."""
    if value is None or value == "":
        return None
    return to_id(value)


def find_id(value: Any) -> int | None:
    """A hidden field's id, or ``None`` for anything that is not one (typed by whoever sent it)."""
    try:
        return to_optional_id(value.strip() if isinstance(value, str) else value)
    except ValueError:
        return None


def query_id(name: str) -> int | None:
    """The id in query argument ``name``: ``None`` when absent or empty; ``NotFound`` (404) when it
    is not a whole number from 1 to ``MAX_ID``."""
    return _id_in(request.args.get(name, ""))


def posted_id(name: str) -> int | None:
    """The id in form field ``name`` of a one-button form (no WTForms field): ``None`` when
    absent or empty; ``NotFound`` (404) when it is not a whole number from 1 to ``MAX_ID``."""
    return _id_in(request.form.get(name, ""))


def _id_in(raw: str) -> int | None:
    if raw == "":
        return None
    number = _whole_number(raw)
    if number is None or not is_id(number):
        raise NotFound(_NOT_FOUND)
    return number


def query_page(name: str = "page") -> int:
    """The page number in query argument ``name``: 1 when absent or empty; ``NotFound`` (404) when
    it is not a whole number from 1 to ``MAX_PAGE``."""
    raw = request.args.get(name, "")
    if raw == "":
        return 1
    number = _whole_number(raw)
    if number is None or not 1 <= number <= MAX_PAGE:
        raise NotFound(_NOT_FOUND)
    return number


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    # ASCII digits only: int() would also take "٤٢", " 42 ", "4_2" and "+42".
    if isinstance(value, str) and 0 < len(value) <= 20 and value.isascii() and value.isdigit():
        return int(value)
    return None


class IdConverter(IntegerConverter):
    """``<int:...>`` for the whole app: a whole number from 1 to ``MAX_ID`` by default, so a path
    with an id that cannot exist is a 404 before any view runs. ``<int(min=0):...>`` still works
    for a route that wants another range."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = 1,
        max: int | None = MAX_ID,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


def init_app(app: Flask) -> None:
    """Install the bounded ``int`` converter (call before any blueprint is registered) and cap
    the WebSocket messages of the app's Socket.IO server (call after ``socketio.init_app``)."""
    from portal.extensions import socketio

    app.url_map.converters["int"] = IdConverter
    if socketio.server is not None:
        _cap_websocket_messages(socketio.server.eio)


def _cap_websocket_messages(eio: Any) -> None:
    """Engine.IO checks ``max_http_buffer_size`` against a WebSocket message only once the
    message is whole, so a client could make the server buffer (or inflate, with
    permessage-deflate) any amount first. simple-websocket can stop at the cap while it reads:
    hand it the same limit. The driver table is shared by every server of the process, so this
    server gets a copy of its own."""
    websocket = eio._async.get("websocket") if eio._async else None
    if websocket is None or getattr(websocket, "capped", False):
        return
    limit = int(eio.max_http_buffer_size)

    class CappedWebSocket(websocket):  # type: ignore[misc, valid-type]
        capped = True

        def __init__(self, handler: Any, server: Any, **kwargs: Any) -> None:
            super().__init__(handler, server, **kwargs)
            if isinstance(getattr(self, "server_args", None), dict):
                self.server_args["max_message_size"] = limit

    eio._async = {**eio._async, "websocket": CappedWebSocket}
