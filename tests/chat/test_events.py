"""The ``/chat`` Socket.IO handlers: connection, acknowledgements, error codes and the events
each action sends, through Flask-SocketIO's test client (the rules themselves are tested on the
services)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from chat import consent, conversations, events, history, presence, sending
from chat.models import Message, RestrictedPhrase
from portal.extensions import db, socketio
from portal.models import AuditRecord, Role, User, UserSession
from portal.safety.models import PvCase
from portal.services.users import suspend_user
from tests.chat.factories import active_conversation, chat_pair, send
from tests.conftest import login
from tests.factories import make_hcp, make_user

NAMESPACE = "/chat"


class Socket:
    """One signed-in Socket.IO connection; every call runs in an app context of its own, as a
    real event does (nothing the test's context caches can stand in for the session)."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        with app.app_context():
            self.io = socketio.test_client(app, namespace=NAMESPACE, flask_test_client=client)
        self.received: list[dict[str, Any]] = []

    @property
    def connected(self) -> bool:
        return bool(self.io.is_connected(NAMESPACE))

    def emit(self, event: str, *args: Any) -> Any:
        with self.app.app_context():
            ack = self.io.emit(event, *args, namespace=NAMESPACE, callback=True)
        db.session.expire_all()  # what the event committed is read afresh by the test
        return ack

    def events(self, name: str) -> list[Any]:
        """The payloads of every ``name`` event received so far."""
        self.received += self.io.get_received(NAMESPACE)
        # The test client unpacks the payload of events named "message" (Socket.IO's send()).
        return [
            e["args"] if e["name"] == "message" else e["args"][0]
            for e in self.received
            if e["name"] == name
        ]

    def disconnect(self) -> None:
        if self.connected:
            with self.app.app_context():
                self.io.disconnect(namespace=NAMESPACE)


@pytest.fixture
def connect(app: Flask, client: FlaskClient) -> Iterator[Any]:
    """``connect(user)`` signs ``user`` in with a client of their own and opens a socket;
    ``connect(None)`` opens one without signing in."""
    opened: list[Socket] = []

    def _connect(user: User | None, client: FlaskClient | None = None) -> Socket:
        if client is None:
            client = app.test_client()
            if user is not None:
                login(client, user.email)
        socket = Socket(app, client)
        opened.append(socket)
        return socket

    yield _connect
    for socket in opened:
        socket.disconnect()
    presence.reset()
    events.reset()


@pytest.fixture
def pair(app: Flask) -> tuple[User, User, Any]:
    """An HCP and their MSL in an open, consented conversation: ``(hcp, msl, conversation)``."""
    hcp, msl, _territory = chat_pair(Role.MSL)
    return hcp, msl, active_conversation(hcp, msl)


def _send(socket: Socket, conversation_id: Any, body: str, client_id: str | None = None) -> Any:
    payload = {"conversation_id": conversation_id, "client_id": client_id or str(uuid.uuid4())}
    return socket.emit("send", {**payload, "body": body})


def _rows(conversation_id: int) -> int:
    query = select(func.count()).select_from(Message)
    return int(db.session.scalar(query.where(Message.conversation_id == conversation_id)) or 0)


# --- connection --------------------------------------------------------------------------------
def test_connection_without_sign_in_is_refused(connect):
    assert not connect(None).connected


@pytest.mark.parametrize("role", [Role.HCP, Role.REP, Role.MSL])
def test_connection_after_sign_in_is_accepted(connect, role):
    assert connect(make_user(role)).connected


def test_connection_after_sign_out_is_refused(app, client, connect):
    login(client, make_hcp().email)
    client.post("/logout")

    assert not connect(None, client).connected


def test_suspended_users_session_is_refused(client, connect):
    hcp = make_hcp()
    login(client, hcp.email)
    assert connect(None, client).connected

    suspend_user(make_user(Role.ADMIN), hcp, reason="Licence revoked by the board")

    assert not connect(None, client).connected


def test_suspended_users_open_socket_has_its_events_refused(connect, pair):
    # Before the disconnection reaches the socket (e.g. suspended through another process), every
    # event is authorised again and refused.
    hcp, _msl, conversation = pair
    socket = connect(hcp)

    hcp.suspended = True
    db.session.commit()
    ack = _send(socket, conversation.id, "Still there?")

    assert ack["ok"] is False and ack["error"] == "forbidden"
    assert _rows(conversation.id) == 0


def test_suspending_a_user_disconnects_their_live_sockets(connect, pair):
    hcp, msl, _conversation = pair
    suspended, colleague = connect(hcp), connect(msl)

    suspend_user(make_user(Role.ADMIN), hcp, reason="Licence revoked by the board")

    deadline = time.monotonic() + 5  # the sockets are closed by a background task
    while suspended.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not suspended.connected
    assert colleague.connected


def test_session_from_before_a_password_reset_is_refused(client, connect):
    hcp = make_hcp()
    login(client, hcp.email)
    hcp.session_version += 1  # what a password reset does to every open session
    db.session.commit()

    assert not connect(None, client).connected


# --- conversations, join, history -----------------------------------------------------------------
def test_conversations_lists_the_users_own_conversations(connect, pair):
    hcp, msl, conversation = pair
    send(msl, conversation, "Hello doctor")
    make_user(Role.MSL)  # someone else's colleague: not listed

    ack = connect(hcp).emit("conversations", {})

    assert ack["ok"] is True
    [listed] = ack["conversations"]
    assert listed["id"] == conversation.id
    assert listed["peer"]["id"] == msl.id and listed["peer"]["role"] == "msl"
    assert (listed["state"], listed["last_seq"], listed["read_seq"], listed["unread"]) == (
        "active",
        1,
        0,
        1,
    )


def test_conversations_accepts_no_payload(connect, pair):
    hcp, _msl, _conversation = pair
    assert connect(hcp).emit("conversations")["ok"] is True


def test_join_replays_messages_in_order_a_page_at_a_time(connect, pair):
    hcp, msl, conversation = pair
    for n in range(history.PAGE_SIZE + 2):
        send(msl if n % 2 else hcp, conversation, f"message {n}")
    socket = connect(hcp)

    first = socket.emit("join", {"conversation_id": conversation.id, "after_seq": 0})
    last_seq = first["messages"][-1]["seq"]
    rest = socket.emit("join", {"conversation_id": conversation.id, "after_seq": last_seq})

    assert first["ok"] is True and first["more"] is True and first["live"] is True
    assert [m["seq"] for m in first["messages"]] == list(range(1, history.PAGE_SIZE + 1))
    assert rest["more"] is False
    assert [m["seq"] for m in rest["messages"]] == [history.PAGE_SIZE + 1, history.PAGE_SIZE + 2]
    assert rest["messages"][-1]["body"] == f"message {history.PAGE_SIZE + 1}"


def test_join_after_a_gap_returns_exactly_the_missing_messages(connect, pair):
    hcp, msl, conversation = pair
    for n in range(8):
        send(msl, conversation, f"message {n}")

    ack = connect(hcp).emit("join", {"conversation_id": conversation.id, "after_seq": 5})

    assert [m["seq"] for m in ack["messages"]] == [6, 7, 8]
    assert ack["more"] is False


def test_history_pages_back_before_a_sequence(connect, pair):
    hcp, msl, conversation = pair
    for n in range(5):
        send(msl, conversation, f"message {n}")

    ack = connect(hcp).emit("history", {"conversation_id": conversation.id, "before_seq": 4})

    assert ack == {"ok": True, "messages": ack["messages"], "more": False}
    assert [m["seq"] for m in ack["messages"]] == [1, 2, 3]


def test_joining_an_ended_chat_reads_history_without_following_it(connect, pair):
    hcp, msl, conversation = pair
    send(msl, conversation, "Before the end")
    consent.end_chat(hcp, conversation.id)

    ack = connect(msl).emit("join", {"conversation_id": conversation.id, "after_seq": 0})

    assert ack["ok"] is True and ack["live"] is False
    assert [m["body"] for m in ack["messages"]] == ["Before the end"]


# --- send -----------------------------------------------------------------------------------------
def test_send_acknowledges_the_stored_message_and_the_room_receives_it(connect, pair):
    hcp, msl, conversation = pair
    doctor, colleague = connect(hcp), connect(msl)
    colleague.emit("join", {"conversation_id": conversation.id, "after_seq": 0})
    client_id = str(uuid.uuid4())

    ack = _send(doctor, conversation.id, "Is there a renal dose adjustment?", client_id)

    assert ack["ok"] is True
    message = ack["message"]
    assert set(message) == {
        "id", "conversation_id", "client_id", "seq", "sender_id", "sender_name", "body",
        "sent_at", "edited", "deleted", "flags", "kind", "material",
    }  # fmt: skip
    assert (message["client_id"], message["seq"], message["sender_id"]) == (client_id, 1, hcp.id)
    assert (message["edited"], message["deleted"], message["kind"]) == (False, False, "text")
    assert colleague.events("message") == [message]


def test_resending_the_same_client_id_returns_the_first_message_and_stores_nothing(connect, pair):
    hcp, _msl, conversation = pair
    socket = connect(hcp)
    client_id = str(uuid.uuid4())

    first = _send(socket, conversation.id, "Hello", client_id)
    again = _send(socket, conversation.id, "Hello", client_id)

    assert again == first
    assert _rows(conversation.id) == 1


def test_message_over_4000_characters_is_refused(connect, pair):
    hcp, _msl, conversation = pair
    socket = connect(hcp)

    refused = _send(socket, conversation.id, "x" * 4_001)
    accepted = _send(socket, conversation.id, "x" * 4_000)

    assert refused["ok"] is False and refused["error"] == "too_long" and refused["message"]
    assert accepted["ok"] is True
    assert _rows(conversation.id) == 1


def test_markup_is_stored_and_sent_back_verbatim(connect, pair):
    hcp, _msl, conversation = pair
    body = "<script>alert(1)</script><img src=x onerror=alert(2)>"

    ack = _send(connect(hcp), conversation.id, body)

    assert ack["message"]["body"] == body
    assert db.session.scalar(select(Message.body)) == body


def test_staff_cannot_send_before_the_hcp_opts_in(connect):
    hcp, rep, _territory = chat_pair(Role.REP)
    consent.invite(rep, hcp.id)
    [invited] = conversations.list_conversations(rep)

    ack = _send(connect(rep), invited["id"], "Thanks for accepting")

    assert ack["ok"] is False and ack["error"] == "consent_required"


@pytest.mark.parametrize("who", ["hcp", "staff"])
def test_after_the_hcp_ends_the_chat_nobody_can_send(connect, pair, who):
    hcp, msl, conversation = pair
    consent.end_chat(hcp, conversation.id)

    ack = _send(connect(hcp if who == "hcp" else msl), conversation.id, "One more thing")

    assert ack["ok"] is False and ack["error"] == "consent_required"
    assert _rows(conversation.id) == 0


def test_ending_the_chat_tells_the_staff_and_takes_them_out_of_the_room(connect, pair):
    hcp, msl, conversation = pair
    doctor, colleague = connect(hcp), connect(msl)
    colleague.emit("join", {"conversation_id": conversation.id, "after_seq": 0})

    consent.end_chat(hcp, conversation.id)
    refused = _send(colleague, conversation.id, "Are you still there?")
    # Opting in again opens the chat, but the staff's socket has left the room: it hears of
    # new messages only once it joins again.
    consent.start_chat(hcp, msl.id, wording_id=consent.consent_wording().id)
    _send(doctor, conversation.id, "Back again")

    assert colleague.events("conversation_ended") == [{"conversation_id": conversation.id}]
    assert refused["error"] == "consent_required"
    assert colleague.events("message") == []


def test_restricted_phrase_is_refused_with_the_phrase_named_and_audited(connect):
    hcp, rep, _territory = chat_pair(Role.REP)
    conversation = active_conversation(hcp, rep)
    db.session.add(RestrictedPhrase(phrase="guaranteed", reason="No promise of outcome"))
    db.session.commit()

    ack = _send(connect(rep), conversation.id, "Results are Guaranteed within a week")

    assert ack["ok"] is False and ack["error"] == "restricted"
    assert ack["phrase"] == "guaranteed" and "guaranteed" in ack["message"].lower()
    assert _rows(conversation.id) == 0
    refused = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "chat.message_refused")
    ).all()
    assert [r.actor_id for r in refused] == [rep.id]


def test_hcp_messages_are_never_blocked_by_restricted_phrases(connect, pair):
    hcp, _msl, conversation = pair
    db.session.add(RestrictedPhrase(phrase="guaranteed"))
    db.session.commit()

    assert _send(connect(hcp), conversation.id, "Is it guaranteed to work?")["ok"] is True


@pytest.mark.app_config(CHAT_RATE_LIMIT="3 per minute", RATELIMIT_ENABLED=True)
def test_sending_too_fast_is_rate_limited(connect, pair):
    hcp, _msl, conversation = pair
    socket = connect(hcp)

    acks = [_send(socket, conversation.id, f"message {n}") for n in range(4)]

    assert [a["ok"] for a in acks] == [True, True, True, False]
    assert acks[3]["error"] == "rate_limited"
    assert _rows(conversation.id) == 3


def test_adverse_event_in_a_message_flags_it_and_opens_a_pv_case(connect, pair):
    hcp, _msl, conversation = pair

    ack = _send(connect(hcp), conversation.id, "My patient had side effects after the dose.")

    assert "adverse_event" in ack["message"]["flags"]
    case = db.session.scalar(select(PvCase).where(PvCase.source == "chat"))
    assert case is not None and case.source_ref == f"C-{conversation.id}#1"


def test_staff_share_a_material_card(connect, pair, monkeypatch):
    # Sharing rules are the service's; here only the wiring: material_id instead of a body.
    _hcp, msl, conversation = pair
    seen: dict[str, Any] = {}

    def fake_send(sender_id: int, session_id: str, conversation_id: Any, **kwargs: Any) -> Any:
        seen.update(kwargs, sender=sender_id, conversation_id=conversation_id)
        seen["session"] = session_id
        return {"id": 1, "kind": "material"}

    socket = connect(msl)
    monkeypatch.setattr(sending, "send", fake_send)
    client_id = str(uuid.uuid4())

    ack = socket.emit(
        "send", {"conversation_id": conversation.id, "client_id": client_id, "material_id": 7}
    )

    assert ack == {"ok": True, "message": {"id": 1, "kind": "material"}}
    session = db.session.scalar(select(UserSession.id).where(UserSession.user_id == msl.id))
    assert seen == {
        "sender": msl.id, "session": session, "conversation_id": conversation.id,
        "client_id": client_id, "material_id": 7,
    }  # fmt: skip


# --- bad payloads and other people's conversations ------------------------------------------------
BAD_PAYLOADS = [
    ("send", None, "invalid"),
    ("send", [], "invalid"),
    ("send", "hello", "invalid"),
    ("send", {}, "invalid"),
    ("send", {"conversation_id": "1", "client_id": "C", "body": "x"}, "invalid"),
    ("send", {"conversation_id": True, "client_id": "C", "body": "x"}, "invalid"),
    ("send", {"conversation_id": 1.0, "client_id": "C", "body": "x"}, "invalid"),
    ("send", {"conversation_id": "C", "client_id": "C"}, "invalid"),
    ("send", {"conversation_id": "C", "client_id": "C", "body": 12}, "invalid"),
    ("send", {"conversation_id": "C", "client_id": "C", "body": ["x"]}, "invalid"),
    ("send", {"conversation_id": "C", "client_id": "not-a-uuid", "body": "x"}, "invalid"),
    ("send", {"conversation_id": "C", "client_id": 5, "body": "x"}, "invalid"),
    ("send", {"conversation_id": "C", "client_id": "C", "body": "   "}, "invalid"),
    # Integers no row can have are refused as input (README "Bounded input").
    ("send", {"conversation_id": 2**63, "client_id": "C", "body": "x"}, "invalid"),
    ("send", {"conversation_id": -1, "client_id": "C", "body": "x"}, "invalid"),
    ("send", {"conversation_id": 0, "client_id": "C", "body": "x"}, "invalid"),
    ("send", {"conversation_id": "C", "client_id": "C", "material_id": "x"}, "invalid"),
    ("join", None, "invalid"),
    ("join", {}, "invalid"),
    ("join", {"conversation_id": "C", "after_seq": -1}, "invalid"),
    ("join", {"conversation_id": "C", "after_seq": "0"}, "invalid"),
    ("join", {"conversation_id": "C", "after_seq": False}, "invalid"),
    ("join", {"conversation_id": 10**30, "after_seq": 0}, "invalid"),
    ("join", {"conversation_id": 2**31 - 1, "after_seq": 0}, "not_found"),
    ("history", {"conversation_id": "C"}, "invalid"),
    ("history", {"conversation_id": "C", "before_seq": 0}, "invalid"),
    ("read", {"conversation_id": "C", "seq": "1"}, "invalid"),
    ("read", {"conversation_id": "C", "seq": -3}, "invalid"),
    ("read", ["C", 1], "invalid"),
    ("delivered", {"conversation_id": "C"}, "invalid"),
    ("typing", {}, "invalid"),
    ("typing", {"conversation_id": 2**31}, "invalid"),
    ("edit", {"message_id": None, "body": "x"}, "invalid"),
    ("edit", {"message_id": 999_999, "body": "x"}, "not_found"),
    ("edit", {"message_id": 999_999}, "invalid"),
    ("delete", {"message_id": "1"}, "invalid"),
    ("delete", {"message_id": 999_999}, "not_found"),
    ("conversations", [], "invalid"),
]


@pytest.mark.parametrize(("event", "payload", "code"), BAD_PAYLOADS)
def test_bad_payloads_get_an_error_acknowledgement(connect, pair, event, payload, code):
    hcp, _msl, conversation = pair
    socket = connect(hcp)
    if isinstance(payload, dict):  # "C": this conversation; client ids must be UUIDs
        payload = {k: conversation.id if v == "C" and k != "client_id" else v
                   for k, v in payload.items()}  # fmt: skip
        if payload.get("client_id") == "C":
            payload["client_id"] = str(uuid.uuid4())

    ack = socket.emit(event, payload)

    assert ack["ok"] is False and ack["error"] == code and ack["message"]
    assert socket.connected
    assert _rows(conversation.id) == 0


def test_an_event_without_a_payload_gets_an_error_acknowledgement(connect, pair):
    hcp, _msl, _conversation = pair
    ack = connect(hcp).emit("send")
    assert ack["ok"] is False and ack["error"] == "invalid"


@pytest.fixture
def outsiders(pair) -> dict[str, User]:
    """People with no part in ``pair``'s conversation: another HCP, another MSL, a rep of the
    same territory (the other side of the firewall)."""
    _hcp, msl, _conversation = pair
    other_hcp, other_msl, _territory = chat_pair(Role.MSL)
    active_conversation(other_hcp, other_msl)  # they have a chat of their own
    return {
        "another HCP": other_hcp,
        "another MSL": other_msl,
        "a rep of the same territory": make_user(Role.REP, territories=msl.territories),
    }


@pytest.mark.parametrize("who", ["another HCP", "another MSL", "a rep of the same territory"])
@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("join", {"after_seq": 0}),
        ("history", {"before_seq": 5}),
        ("send", {"client_id": "C", "body": "Hi"}),
        ("read", {"seq": 1}),
        ("delivered", {"seq": 1}),
        ("typing", {}),
        ("leave", {}),
    ],
)
def test_someone_elses_conversation_is_not_found(connect, pair, outsiders, who, event, payload):
    hcp, _msl, conversation = pair
    send(hcp, conversation, "Private")
    if payload.get("client_id") == "C":
        payload = {**payload, "client_id": str(uuid.uuid4())}

    ack = connect(outsiders[who]).emit(event, {"conversation_id": conversation.id, **payload})

    assert ack["ok"] is False and ack["error"] == "not_found"
    assert _rows(conversation.id) == 1


@pytest.mark.parametrize("event", ["edit", "delete"])
def test_someone_elses_message_is_not_found(connect, pair, outsiders, event):
    hcp, _msl, conversation = pair
    message = send(hcp, conversation, "Private")

    ack = connect(outsiders["another MSL"]).emit(event, {"message_id": message["id"], "body": "x"})

    assert ack["ok"] is False and ack["error"] == "not_found"


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("join", {"after_seq": 0}),
        ("history", {"before_seq": 2}),
        ("send", {"client_id": "C", "body": "Audit note"}),
        ("read", {"seq": 1}),
        ("typing", {}),
    ],
)
def test_compliance_reads_in_the_review_pages_not_over_the_socket(connect, pair, event, payload):
    # Compliance may see every conversation (so not "not_found"), but joins no room and writes
    # nothing: the socket answers "forbidden".
    hcp, _msl, conversation = pair
    send(hcp, conversation, "Hello")
    auditor = connect(make_user(Role.COMPLIANCE))
    if payload.get("client_id") == "C":
        payload = {**payload, "client_id": str(uuid.uuid4())}

    ack = auditor.emit(event, {"conversation_id": conversation.id, **payload})

    assert ack["ok"] is False and ack["error"] == "forbidden"
    assert auditor.emit("conversations", {}) == {"ok": True, "conversations": []}


def test_an_unexpected_failure_is_acknowledged_as_unavailable(connect, pair, monkeypatch):
    hcp, _msl, _conversation = pair

    def broken(actor: User) -> Any:
        raise RuntimeError("database went away")

    socket = connect(hcp)
    monkeypatch.setattr(events, "list_conversations", broken)

    ack = socket.emit("conversations", {})

    assert ack["ok"] is False and ack["error"] == "unavailable"
    assert "database" not in ack["message"]
    assert socket.connected


# --- receipts, typing, presence, edits ------------------------------------------------------------
def test_read_receipt_reaches_the_other_participant(connect, pair):
    hcp, msl, conversation = pair
    message = send(msl, conversation, "Here is the study you asked for")
    doctor, colleague = connect(hcp), connect(msl)
    for socket in (doctor, colleague):
        socket.emit("join", {"conversation_id": conversation.id, "after_seq": 0})

    delivered = doctor.emit("delivered", {"conversation_id": conversation.id, "seq": 1})
    read = doctor.emit("read", {"conversation_id": conversation.id, "seq": message["seq"]})
    again = doctor.emit("read", {"conversation_id": conversation.id, "seq": message["seq"]})

    assert delivered == read == again == {"ok": True}
    base = {"conversation_id": conversation.id, "user_id": hcp.id, "seq": 1}
    assert colleague.events("receipt") == [
        {**base, "kind": "delivered"},
        {**base, "kind": "read"},
    ]  # a repeated receipt tells nobody anything new
    assert conversations.list_conversations(hcp)[0]["unread"] == 0


def test_typing_reaches_the_room_except_the_typist_and_is_throttled(connect, pair):
    hcp, msl, conversation = pair
    doctor, colleague = connect(hcp), connect(msl)
    for socket in (doctor, colleague):
        socket.emit("join", {"conversation_id": conversation.id, "after_seq": 0})

    first = doctor.emit("typing", {"conversation_id": conversation.id})
    second = doctor.emit("typing", {"conversation_id": conversation.id})

    assert first == {"ok": True, "sent": True} and second == {"ok": True, "sent": False}
    assert colleague.events("typing") == [{"conversation_id": conversation.id, "user_id": hcp.id}]
    assert doctor.events("typing") == []


def test_typing_in_an_ended_chat_is_refused(connect, pair):
    hcp, msl, conversation = pair
    consent.end_chat(hcp, conversation.id)

    ack = connect(msl).emit("typing", {"conversation_id": conversation.id})

    assert ack["ok"] is False and ack["error"] == "consent_required"


def test_presence_tells_the_peer_when_someone_comes_and_goes(connect, pair):
    hcp, msl, _conversation = pair
    doctor = connect(hcp)

    colleague = connect(msl)
    second_tab = connect(msl)
    second_tab.disconnect()  # still online in the first tab
    online = list(doctor.events("presence"))
    colleague.disconnect()

    assert online == [{"user_id": msl.id, "online": True}]
    assert doctor.events("presence")[1:] == [{"user_id": msl.id, "online": False}]
    assert presence.is_online(hcp.id) and not presence.is_online(msl.id)


def test_presence_is_not_told_to_people_without_an_open_chat(connect, pair):
    hcp, msl, conversation = pair
    consent.end_chat(hcp, conversation.id)
    colleague = connect(msl)

    connect(hcp)

    assert colleague.events("presence") == []


def test_edit_and_delete_answer_the_changed_message_and_tell_the_room(connect, pair):
    hcp, msl, conversation = pair
    doctor, colleague = connect(hcp), connect(msl)
    colleague.emit("join", {"conversation_id": conversation.id, "after_seq": 0})
    sent = _send(doctor, conversation.id, "Teh dose")["message"]

    edited = doctor.emit("edit", {"message_id": sent["id"], "body": "The dose"})
    deleted = doctor.emit("delete", {"message_id": sent["id"]})
    not_mine = colleague.emit("edit", {"message_id": sent["id"], "body": "Mine now"})

    assert edited["ok"] is True and edited["message"]["body"] == "The dose"
    assert edited["message"]["edited"] is True
    assert deleted["message"]["deleted"] is True and deleted["message"]["body"] == ""
    assert colleague.events("message_updated") == [edited["message"], deleted["message"]]
    assert not_mine["ok"] is False and not_mine["error"] == "forbidden"
