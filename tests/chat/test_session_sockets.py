"""Sockets are bound to the sign-in session they were opened with: revoking the session
disconnects them at once, and a copied cookie opens neither a page nor a socket afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from chat import events, presence
from portal import session_sockets
from portal.extensions import db
from portal.models import Role, User, UserSession
from portal.services import accounts, tokens
from tests.chat.test_events import Socket
from tests.conftest import IsolatedClient, login
from tests.factories import make_hcp, make_user


@pytest.fixture
def opened(app: Flask) -> Iterator[list[Socket]]:
    sockets: list[Socket] = []
    yield sockets
    for socket in sockets:
        socket.disconnect()
    presence.reset()
    events.reset()
    session_sockets.reset()


def browser(app: Flask) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()


def signed_in(app: Flask, user: User) -> FlaskClient:
    client = browser(app)
    assert login(client, user.email).status_code == 302
    return client


def open_socket(app: Flask, client: FlaskClient, opened: list[Socket]) -> Socket:
    socket = Socket(app, client)
    opened.append(socket)
    return socket


def wait_until_disconnected(socket: Socket, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds  # sockets are closed by a background task
    while socket.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    return not socket.connected


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = browser(app)
    thief.set_cookie("session", cookie.value)
    return thief


def test_socket_of_a_live_session_keeps_working(app, opened):
    client = signed_in(app, make_hcp())
    socket = open_socket(app, client, opened)

    assert socket.connected
    assert socket.emit("conversations", {})["ok"] is True
    assert socket.emit("conversations", {})["ok"] is True


def test_sign_out_disconnects_the_open_socket_and_the_copied_cookie_opens_nothing(app, opened):
    hcp = make_hcp()
    client = signed_in(app, hcp)
    socket = open_socket(app, client, opened)
    thief = copy_of(app, client)
    assert socket.connected

    assert client.post("/logout").status_code == 302

    assert wait_until_disconnected(socket)
    assert not open_socket(app, thief, opened).connected
    response = thief.get("/chat/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_signing_out_one_session_leaves_the_users_other_sockets_open(app, opened):
    hcp = make_hcp()
    laptop, phone = signed_in(app, hcp), signed_in(app, hcp)
    laptop_socket = open_socket(app, laptop, opened)
    phone_socket = open_socket(app, phone, opened)

    laptop.post("/logout")

    assert wait_until_disconnected(laptop_socket)
    assert phone_socket.connected
    assert phone_socket.emit("conversations", {})["ok"] is True


def test_password_reset_disconnects_a_live_socket(app, opened):
    hcp = make_hcp()
    socket = open_socket(app, signed_in(app, hcp), opened)

    accounts.reset_password(
        tokens.make_reset_token(hcp.id, hcp.password_hash), "another long passphrase 7"
    )

    assert wait_until_disconnected(socket)


def test_suspension_disconnects_a_live_socket_and_revokes_its_session(app, opened):
    from portal.services.users import suspend_user

    rep = make_user(Role.REP)
    socket = open_socket(app, signed_in(app, rep), opened)

    suspend_user(make_user(Role.ADMIN), rep, reason="Licence revoked by the board")

    assert wait_until_disconnected(socket)
    record = db.session.scalar(select(UserSession).where(UserSession.user_id == rep.id))
    assert record is not None and record.revoked_reason == "account suspended"


def test_a_socket_event_after_revocation_is_refused(app, opened):
    """Even before the disconnect lands, every event checks the session again."""
    hcp = make_hcp()
    client = signed_in(app, hcp)
    socket = open_socket(app, client, opened)
    record = db.session.scalar(select(UserSession).where(UserSession.user_id == hcp.id))
    assert record is not None
    record.revoked_at = record.created_at  # revoked behind the disconnect's back
    db.session.commit()

    ack = socket.emit("conversations", {})

    assert ack["ok"] is False and ack["error"] == "forbidden"


@pytest.mark.app_config(REDIS_URL=None)
def test_bindings_are_forgotten_when_the_socket_closes(app, opened):
    hcp = make_hcp()
    socket = open_socket(app, signed_in(app, hcp), opened)
    record = db.session.scalar(select(UserSession).where(UserSession.user_id == hcp.id))
    assert record is not None
    assert len(session_sockets.sockets_of(record.id)) == 1

    socket.disconnect()

    assert session_sockets.sockets_of(record.id) == []


def test_with_redis_the_binding_is_visible_to_every_process(app, redis_url, monkeypatch):
    """With ``REDIS_URL`` the bindings live in Redis, where any server process finds them, and
    the disconnect goes to the Socket.IO server, whose message queue routes it to the process
    holding the socket (python-socketio's pubsub manager publishes a disconnect for a sid it
    does not hold)."""
    from portal.extensions import socketio

    app.config["REDIS_URL"] = redis_url
    session_sockets.bind("a" * 64, "/chat", "sid-on-another-process")
    session_sockets.reset()  # nothing in this process's memory: Redis answers
    assert session_sockets.sockets_of("a" * 64) == [("/chat", "sid-on-another-process")]
    routed: list[tuple[str, str]] = []
    monkeypatch.setattr(
        socketio.server, "disconnect", lambda sid, namespace=None: routed.append((namespace, sid))
    )

    session_sockets.disconnect(["a" * 64])

    assert routed == [("/chat", "sid-on-another-process")]
    session_sockets.unbind("a" * 64, "/chat", "sid-on-another-process")
    assert session_sockets.sockets_of("a" * 64) == []
