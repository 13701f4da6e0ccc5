"""Sockets are bound to the sign-in session they were opened with: revoking the session
disconnects them at once, and a copied cookie opens neither a page nor a socket afterwards.
Every event reads the bound session again before it acts, so an event racing the disconnect is
refused, changes nothing, and closes its socket."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from chat import events, presence, sending
from chat.errors import SessionEnded
from chat.models import Conversation, Message
from portal import session_sockets
from portal.extensions import db
from portal.models import AuditRecord, Role, User, UserSession, utcnow
from portal.services import accounts, sessions, tokens
from tests.chat.factories import active_conversation, chat_pair, send
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


def session_of(user: User) -> UserSession:
    record = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert record is not None
    return record


def chat_state() -> tuple[Any, ...]:
    """Everything a chat event could change: messages, conversations, the audit trail."""
    return (
        db.session.execute(select(Message.__table__).order_by(Message.id)).all(),
        db.session.execute(select(Conversation.__table__).order_by(Conversation.id)).all(),
        db.session.scalar(select(func.count()).select_from(AuditRecord)),
    )


@pytest.fixture
def undelivered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The disconnect a revocation sends never arrives (a lost queue message, or simply a
    message that races it): only the per-event check stands between the socket and the chat."""
    monkeypatch.setattr(session_sockets, "disconnect", lambda session_ids: None)


# Every client event of docs/chat-protocol.md, with a payload it would accept (``CONVERSATION``
# and ``MESSAGE`` stand for the pair's conversation and the HCP's message).
EVENTS = [
    ("conversations", {}),
    ("join", {"conversation_id": "CONVERSATION", "after_seq": 0}),
    ("history", {"conversation_id": "CONVERSATION", "before_seq": 2}),
    ("leave", {"conversation_id": "CONVERSATION"}),
    ("send", {"conversation_id": "CONVERSATION", "client_id": "NEW", "body": "Still there?"}),
    ("delivered", {"conversation_id": "CONVERSATION", "seq": 1}),
    ("read", {"conversation_id": "CONVERSATION", "seq": 1}),
    ("typing", {"conversation_id": "CONVERSATION"}),
    ("edit", {"message_id": "MESSAGE", "body": "Changed my mind"}),
    ("delete", {"message_id": "MESSAGE"}),
]


@pytest.mark.parametrize(("name", "payload"), EVENTS, ids=[name for name, _ in EVENTS])
def test_every_event_racing_a_sign_out_is_refused_changes_nothing_and_closes_the_socket(
    app, opened, undelivered, name, payload
):
    hcp, msl, _territory = chat_pair(Role.MSL)
    conversation = active_conversation(hcp, msl)
    mine = send(hcp, conversation, "Is the titration schedule the same?")
    send(msl, conversation, "Yes, the same.")
    client = signed_in(app, hcp)
    socket = open_socket(app, client, opened)
    open_socket(app, signed_in(app, msl), opened)  # the peer is online: send would batch
    values = {"CONVERSATION": conversation.id, "MESSAGE": mine["id"], "NEW": str(uuid.uuid4())}
    payload = {key: values.get(value, value) for key, value in payload.items()}
    assert client.post("/logout").status_code == 302
    before = chat_state()

    ack = socket.emit(name, payload)

    assert ack == {"ok": False, "error": "forbidden", "message": events.SESSION_ENDED}
    assert chat_state() == before
    assert wait_until_disconnected(socket)


def test_a_send_racing_a_sign_out_is_refused_by_the_transaction_that_would_store_it(
    app, opened, undelivered, monkeypatch
):
    hcp, msl, _territory = chat_pair(Role.MSL)
    conversation = active_conversation(hcp, msl)
    client = signed_in(app, hcp)
    socket = open_socket(app, client, opened)
    open_socket(app, signed_in(app, msl), opened)  # the peer is online: send would batch
    queued: list[sending.Pending] = []
    submit = sending.GroupCommit.submit

    def spy(group: sending.GroupCommit, pending: sending.Pending) -> None:
        queued.append(pending)
        submit(group, pending)

    monkeypatch.setattr(sending.GroupCommit, "submit", spy)
    payload = {"conversation_id": conversation.id, "body": "Still there?"}
    assert socket.emit("send", {**payload, "client_id": str(uuid.uuid4())})["ok"] is True

    assert client.post("/logout").status_code == 302
    ack = socket.emit("send", {**payload, "client_id": str(uuid.uuid4())})

    # No read of the session before the batch: the batch reads it, with the message's rows.
    assert len(queued) == 2 and isinstance(queued[1].outcome.error, SessionEnded)  # type: ignore[union-attr]
    assert ack == {"ok": False, "error": "forbidden", "message": events.SESSION_ENDED}
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1
    assert wait_until_disconnected(socket)


def test_a_socket_event_after_revocation_behind_its_back_is_refused(app, opened):
    """Revoked in the database, with no disconnect sent at all: the next event refuses."""
    hcp = make_hcp()
    socket = open_socket(app, signed_in(app, hcp), opened)
    record = session_of(hcp)
    record.revoked_at = record.created_at
    db.session.commit()

    ack = socket.emit("conversations", {})

    assert ack["ok"] is False and ack["error"] == "forbidden"
    assert wait_until_disconnected(socket)


def test_an_idle_session_is_refused_at_the_next_event_and_revoked(app, opened, undelivered):
    hcp = make_hcp()
    socket = open_socket(app, signed_in(app, hcp), opened)
    record = session_of(hcp)
    idle = dt.timedelta(minutes=app.config["HCP_IDLE_MINUTES"] + 1)
    record.last_seen_at = utcnow() - idle
    db.session.commit()

    ack = socket.emit("conversations", {})

    assert ack["ok"] is False and ack["error"] == "forbidden"
    db.session.refresh(record)
    assert record.revoked_reason == sessions.Reason.IDLE.value
    assert wait_until_disconnected(socket)


def test_a_chat_in_use_keeps_its_session_alive(app, opened):
    # Sends skip the per-event request context, not the session: they count as activity.
    hcp, msl, _territory = chat_pair(Role.MSL)
    conversation = active_conversation(hcp, msl)
    socket = open_socket(app, signed_in(app, hcp), opened)
    record = session_of(hcp)
    earlier = utcnow() - dt.timedelta(minutes=5)
    record.last_seen_at = earlier
    db.session.commit()

    ack = socket.emit(
        "send",
        {"conversation_id": conversation.id, "client_id": str(uuid.uuid4()), "body": "Hello"},
    )

    assert ack["ok"] is True
    db.session.refresh(record)
    assert record.last_seen_at > earlier and record.revoked_at is None


def test_the_per_event_check_is_one_indexed_read(app):
    hcp = make_hcp()
    token = sessions.start(hcp, ip=None, user_agent="pytest")
    session_id, hcp_id = sessions.hash_token(token), hcp.id
    db.session.remove()  # nothing cached: the check reads the database
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        record = sessions.find_live(session_id)
        assert record is not None and record.user.id == hcp_id
    finally:
        event.remove(db.engine, "before_cursor_execute", count)

    assert len(statements) == 1
    assert "user_sessions.id = " in statements[0]  # by primary key, the account joined


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
