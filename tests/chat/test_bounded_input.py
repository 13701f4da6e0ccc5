"""Bounded input on the chat socket: integers out of range, wrong types and text that is not valid
Unicode are answered ``invalid`` (no traceback, the socket stays open); one bad message in a
group-commit batch fails only its sender; an over-long message is answered ``too_long``, also
over a real WebSocket, while a packet past the hard cap closes the connection."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from chat import events, messages, presence, sending
from chat.drafts import Draft
from chat.models import Conversation, Message
from portal import inputs
from portal.errors import InvalidInput, NotFound
from portal.extensions import db, socketio
from portal.models import Role, User
from portal.services import sessions
from tests.chat.factories import active_conversation, chat_pair, send
from tests.chat.test_events import Socket
from tests.chat.test_live import TIMEOUT, ChatClient, demo_server
from tests.conftest import IsolatedClient, login

BODY = "Could you share the approved leaflet for the outpatient clinic?"
OUT_OF_RANGE = [2**31, 2**63, 10**30, -(2**63) - 1]
WRONG_TYPES = ["1", 1.0, 1.5, True, None, [1], {"id": 1}]


@pytest.fixture
def connect(app: Flask) -> Iterator[Callable[[User], Socket]]:
    """``connect(user)``: a socket signed in as ``user`` through a client of their own."""
    opened: list[Socket] = []

    app.test_client_class = IsolatedClient

    def _connect(user: User) -> Socket:
        client = app.test_client()
        login(client, user.email)
        opened.append(Socket(app, client))
        return opened[-1]

    yield _connect
    for socket in opened:
        socket.disconnect()
    presence.reset()
    events.reset()


@pytest.fixture
def pair(app: Flask) -> tuple[User, User, Conversation]:
    """An HCP and their MSL in an open chat."""
    hcp, msl, _territory = chat_pair(Role.MSL)
    return hcp, msl, active_conversation(hcp, msl)


def _stored(conversation_id: int) -> int:
    query = select(func.count()).select_from(Message)
    return int(db.session.scalar(query.where(Message.conversation_id == conversation_id)) or 0)


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def _payload(event: str, conversation_id: int, /, **fields: Any) -> dict[str, Any]:
    base: dict[str, dict[str, Any]] = {
        "join": {"conversation_id": conversation_id, "after_seq": 0},
        "history": {"conversation_id": conversation_id, "before_seq": 5},
        "leave": {"conversation_id": conversation_id},
        "read": {"conversation_id": conversation_id, "seq": 1},
        "delivered": {"conversation_id": conversation_id, "seq": 1},
        "typing": {"conversation_id": conversation_id},
        "send": {"conversation_id": conversation_id, "client_id": str(uuid.uuid4()), "body": "Hi"},
        "edit": {"message_id": 1, "body": "Hi"},
        "delete": {"message_id": 1},
    }
    return {**base[event], **fields}


INTEGER_FIELDS = [
    ("join", "conversation_id"),
    ("join", "after_seq"),
    ("history", "conversation_id"),
    ("history", "before_seq"),
    ("leave", "conversation_id"),
    ("read", "conversation_id"),
    ("read", "seq"),
    ("delivered", "seq"),
    ("typing", "conversation_id"),
    ("send", "conversation_id"),
    ("send", "material_id"),
    ("edit", "message_id"),
    ("delete", "message_id"),
]


# --- integers -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("event", "field"), INTEGER_FIELDS)
@pytest.mark.parametrize("number", OUT_OF_RANGE, ids=["2^31", "2^63", "10^30", "-2^63-1"])
def test_an_integer_out_of_range_is_invalid_without_a_traceback(
    connect, pair, caplog, event, field, number
):
    hcp, _msl, conversation = pair
    socket = connect(hcp)

    ack = socket.emit(event, _payload(event, conversation.id, **{field: number}))

    assert ack["ok"] is False and ack["error"] == "invalid" and ack["message"], ack
    assert socket.connected
    assert _tracebacks(caplog) == []
    assert _stored(conversation.id) == 0


@pytest.mark.parametrize(
    ("event", "field", "value"),
    [
        (event, field, value)
        for event, field in INTEGER_FIELDS
        for value in WRONG_TYPES
        # Optional fields: None means "from the start" and "no material".
        if not (value is None and field in ("after_seq", "material_id"))
    ],
)
def test_an_integer_field_of_another_type_is_invalid(connect, pair, caplog, event, field, value):
    hcp, _msl, conversation = pair
    socket = connect(hcp)

    ack = socket.emit(event, _payload(event, conversation.id, **{field: value}))

    assert ack["ok"] is False and ack["error"] == "invalid" and ack["message"], ack
    assert _tracebacks(caplog) == []


def test_the_largest_ids_and_sequence_numbers_are_answered_as_usual(connect, pair, caplog):
    hcp, msl, conversation = pair
    send(msl, conversation, "Hello doctor")
    socket = connect(hcp)
    big = inputs.MAX_ID

    joined = socket.emit("join", {"conversation_id": conversation.id, "after_seq": big})
    history = socket.emit("history", {"conversation_id": conversation.id, "before_seq": big})
    elsewhere = socket.emit("join", {"conversation_id": big, "after_seq": 0})

    assert (joined["ok"], joined["messages"]) == (True, [])
    assert history["ok"] is True and [m["body"] for m in history["messages"]] == ["Hello doctor"]
    assert elsewhere["error"] == "not_found"
    assert _tracebacks(caplog) == []


# --- text -----------------------------------------------------------------------------------------
BAD_TEXT = ["\ud800", "before \udfff after", "\udbff\udc00\ud800", "nul \x00 inside"]


@pytest.mark.parametrize("body", BAD_TEXT, ids=["lone-high", "lone-low", "trailing", "nul"])
def test_a_message_that_is_not_valid_text_is_invalid_without_a_traceback(
    connect, pair, caplog, body
):
    hcp, _msl, conversation = pair
    socket = connect(hcp)

    ack = socket.emit("send", _payload("send", conversation.id, body=body))

    assert ack["ok"] is False and ack["error"] == "invalid" and ack["message"], ack
    assert socket.connected
    assert _tracebacks(caplog) == []
    assert _stored(conversation.id) == 0
    # The next message from the same socket goes through.
    assert socket.emit("send", _payload("send", conversation.id))["ok"] is True


@pytest.mark.parametrize("body", BAD_TEXT, ids=["lone-high", "lone-low", "trailing", "nul"])
def test_an_edit_that_is_not_valid_text_is_invalid_and_keeps_the_message(
    connect, pair, caplog, body
):
    hcp, _msl, conversation = pair
    socket = connect(hcp)
    sent = socket.emit("send", _payload("send", conversation.id, body="First words"))

    ack = socket.emit("edit", {"message_id": sent["message"]["id"], "body": body})

    assert ack["ok"] is False and ack["error"] == "invalid", ack
    assert db.session.scalar(select(Message.body)) == "First words"
    assert _tracebacks(caplog) == []


def test_a_client_id_that_is_not_valid_text_is_invalid(connect, pair, caplog):
    hcp, _msl, conversation = pair

    ack = connect(hcp).emit("send", _payload("send", conversation.id, client_id="\ud800"))

    assert ack["ok"] is False and ack["error"] == "invalid"
    assert _tracebacks(caplog) == []


def test_text_outside_the_basic_plane_is_valid(connect, pair):
    hcp, _msl, conversation = pair
    body = "Thanks 👍 — ß-blocker, 漢字?"

    ack = connect(hcp).emit("send", _payload("send", conversation.id, body=body))

    assert ack["ok"] is True and ack["message"]["body"] == body


# --- one bad message in a batch -------------------------------------------------------------------
@pytest.fixture
def online_pair(app: Flask) -> Any:
    presence.reset()
    hcp, msl, _territory = chat_pair(Role.MSL)
    for user in (hcp, msl):
        presence.connected(user.id, f"sid-{user.id}")
    yield hcp, msl, active_conversation(hcp, msl)
    presence.reset()


def _session(user: Any) -> str:
    return sessions.hash_token(sessions.start(user, ip=None, user_agent="pytest"))


@pytest.mark.parametrize("conversation_id", [10**30, 2**63, 2**31, 0, -1])
def test_a_bad_conversation_id_in_a_batch_fails_only_its_own_message(
    online_pair, emitted, conversation_id
):
    hcp, msl, conversation = online_pair
    good = Draft(hcp.id, conversation.id, str(uuid.uuid4()), BODY)
    bad = Draft(msl.id, conversation_id, str(uuid.uuid4()), BODY)

    refused, stored = messages.send_many([bad, good])

    assert stored.message is not None and stored.message["seq"] == 1
    assert isinstance(refused.error, NotFound)  # answered to its own sender
    assert _stored(conversation.id) == 1
    assert [event for event, _data, _kw in emitted] == ["message"]


@pytest.mark.parametrize(
    "body", ["\x00", "bad \ud800 surrogate", "x" * 4_001], ids=["nul", "surrogate", "too long"]
)
def test_text_no_database_stores_fails_only_its_own_message_in_a_batch(online_pair, body):
    hcp, msl, conversation = online_pair
    good = Draft(hcp.id, conversation.id, str(uuid.uuid4()), BODY)
    bad = Draft(msl.id, conversation.id, str(uuid.uuid4()), body)

    refused, stored = messages.send_many([bad, good])

    assert isinstance(refused.error, InvalidInput) and stored.message is not None
    assert _stored(conversation.id) == 1


def test_a_bad_and_a_good_message_sent_at_once_share_a_batch_and_only_the_bad_one_fails(
    app, online_pair, monkeypatch
):
    hcp, msl, conversation = online_pair
    other_hcp, other_msl, _territory = chat_pair(Role.MSL)
    for user in (other_hcp, other_msl):
        presence.connected(user.id, f"sid-{user.id}")
    other = active_conversation(other_hcp, other_msl)
    batches: list[int] = []
    real_send_many = messages.send_many

    def spy(drafts: Any) -> Any:
        batches.append(len(drafts))
        return real_send_many(drafts)

    group = sending._group()
    monkeypatch.setattr(group, "_store", spy)
    senders = [
        ("bad", msl, 10**30),
        ("good", hcp, conversation.id),
        ("other user", other_msl, other.id),
    ]
    sessions_of = {user.id: _session(user) for _name, user, _c in senders}
    results: dict[str, Any] = {}

    def send_one(name: str, user_id: int, conversation_id: int) -> None:
        with app.app_context():
            try:
                results[name] = sending.send(
                    user_id, sessions_of[user_id], conversation_id,
                    client_id=str(uuid.uuid4()), body=BODY,
                )  # fmt: skip
            except Exception as exc:  # the assertions below look at it
                results[name] = exc

    with group._turn:  # every sender queues before anyone takes the batch
        threads = [
            threading.Thread(target=send_one, args=(name, user.id, conversation_id))
            for name, user, conversation_id in senders
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + TIMEOUT
        while len(group._queue) < len(senders) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(group._queue) == len(senders)
    for thread in threads:
        thread.join(TIMEOUT)

    assert isinstance(results["bad"], NotFound)
    assert results["good"]["seq"] == 1 and results["other user"]["seq"] == 1
    assert batches == [3]  # one batch, and nobody sent alone
    assert _stored(conversation.id) == 1 and _stored(other.id) == 1


# --- the payload limit ----------------------------------------------------------------------------
def test_the_payload_limit_lets_a_1_mb_message_reach_the_handler_and_stays_capped(app):
    limit = app.config["SOCKETIO_MAX_PAYLOAD_BYTES"]
    assert socketio.server.eio.max_http_buffer_size == limit
    # A 1 MB message is a little over 1 MB once wrapped in JSON and the Socket.IO packet.
    assert 2 * 1024 * 1024 <= limit <= 16 * 1024 * 1024


@pytest.mark.parametrize("size", [4_001, 1_000_000, 1024 * 1024])
def test_an_over_long_message_is_answered_too_long(connect, pair, caplog, size):
    hcp, _msl, conversation = pair
    socket = connect(hcp)

    ack = socket.emit("send", _payload("send", conversation.id, body="x" * size))

    assert ack["ok"] is False and ack["error"] == "too_long", {k: ack[k] for k in ("ok", "error")}
    assert socket.connected
    assert _stored(conversation.id) == 0
    assert _tracebacks(caplog) == []


# --- over a real WebSocket (python wsgi.py: gevent, simple-websocket) ----------------------------
@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from demo_server(tmp_path_factory.mktemp("chat-bounded"))


@pytest.fixture
def doctor(live_server: str) -> Iterator[ChatClient]:
    """The demo HCP, signed in and connected over a WebSocket."""
    client = ChatClient(live_server, "hcp").connect()
    yield client
    client.disconnect()


def test_a_1_mb_message_over_a_websocket_is_answered_too_long(doctor):
    conversation = doctor.conversation_with("msl")
    payload = {"conversation_id": conversation["id"], "client_id": str(uuid.uuid4())}

    ack = doctor.call("send", {**payload, "body": "x" * 10**6})

    assert ack["ok"] is False and ack["error"] == "too_long"
    assert doctor.sio.connected
    assert doctor.send(conversation["id"], "Sorry, a shorter one.")["body"]


def test_a_packet_past_the_hard_cap_closes_the_websocket(doctor):
    conversation = doctor.conversation_with("msl")
    payload = {"conversation_id": conversation["id"], "client_id": str(uuid.uuid4())}
    too_big = {**payload, "body": "x" * 5 * 1024 * 1024}

    with pytest.raises(Exception):  # noqa: B017  (a timeout or a closed connection)
        doctor.sio.call("send", too_big, namespace="/chat", timeout=5)

    deadline = time.monotonic() + TIMEOUT
    while doctor.sio.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not doctor.sio.connected
