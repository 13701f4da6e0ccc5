"""Socket.IO handlers of the ``/chat`` namespace: the protocol of ``docs/chat-protocol.md``.

A connection is accepted only with a signed-in, active portal session, and the socket is bound to
that session (:mod:`portal.session_sockets`). Before any event acts, the bound session is read
again: revoked, idle, past its lifetime, or its account suspended or signed out everywhere, and
the event answers ``forbidden`` and the socket is closed, even if the disconnect that the
revocation sent has not arrived yet. For every event but ``send`` the wrapper reads it
(:func:`portal.services.sessions.find_live`, one indexed read); a ``send`` has it read by the
transaction that would store the message (:mod:`chat.messages`), with every other sender's of
its batch, so a revocation cannot slip between the check and the message. Then the handler checks
the payload's shape, calls one service and answers through the acknowledgement:
``{"ok": true, ...}`` or ``{"ok": false, "error": CODE, "message": TEXT}``. The services own
every rule and queue the room's events until they commit.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from flask_login import current_user
from flask_socketio import join_room, leave_room

from chat import presence, receipts, sending
from chat.conversations import NAMESPACE, get_own_conversation, list_conversations, user_room
from chat.conversations import room as conversation_room
from chat.errors import ConsentRequired, Restricted, SessionEnded, error_code
from chat.history import messages_after, messages_before
from chat.messages import delete_message, edit_message
from portal import inputs, policy, session_sockets
from portal.errors import InvalidInput, PortalError
from portal.extensions import db, socketio
from portal.models import User
from portal.services import sessions

log = logging.getLogger(__name__)

TYPING_INTERVAL = 2.0  # seconds: at most one typing event per user and conversation
SESSION_ENDED = "Your session has ended: sign in again."
Ack = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who holds a connection: the user, and the account's session version at connect."""

    user_id: int
    session_version: int


@dataclasses.dataclass(frozen=True)
class Sender:
    """Who sends on a socket: its user and the sign-in session it was bound to at connect (the
    transaction that stores the message checks that session)."""

    user_id: int
    session_id: str


Caller = TypeVar("Caller", User, Sender)

# Per process: which user holds each connection (sids are per process too), so that
# ``disconnect`` can tell presence even if the session no longer loads a user, and which
# sign-in session it was opened with, read again before every event.
_lock = threading.Lock()
_identities: dict[str, Identity] = {}
_sessions: dict[str, str] = {}  # sid -> the sign-in session it was opened with
_last_typing: dict[tuple[int, int], float] = {}


# --- connection -----------------------------------------------------------------------------------
@socketio.on("connect", namespace=NAMESPACE)
def connect(auth: Any = None) -> bool:
    """Refuse connections that carry no valid portal session; count the user as online."""
    sid = request.sid  # type: ignore[attr-defined]
    try:
        user = _actor()
        if user is None:
            return False
        join_room(user_room(user.id))
        # Bound to its sign-in session: revoking the session disconnects this socket at once.
        session_id = g.portal_session.id
        session_sockets.bind(session_id, NAMESPACE, sid)
        with _lock:
            _identities[sid] = Identity(user.id, user.session_version)
            _sessions[sid] = session_id
        if presence.connected(user.id, sid):
            _tell_presence(user, online=True)
        return True
    except Exception:
        log.exception("chat connect failed (sid %s)", sid)
        db.session.rollback()
        return False
    finally:
        _end_transaction()


@socketio.on("disconnect", namespace=NAMESPACE)
def disconnect(reason: Any = None) -> None:
    sid = request.sid  # type: ignore[attr-defined]
    with _lock:
        identity = _identities.pop(sid, None)
        session_id = _sessions.pop(sid, None)
    if identity is None:
        return
    user_id = identity.user_id
    try:
        if session_id is not None:
            session_sockets.unbind(session_id, NAMESPACE, sid)
        if presence.disconnected(user_id, sid):
            user = db.session.get(User, user_id)
            if user is not None:
                _tell_presence(user, online=False)
    except Exception:
        log.exception("chat disconnect failed (sid %s)", sid)
        db.session.rollback()
    finally:
        _end_transaction()


def _presence_healed(user_id: int, online: bool) -> None:
    """Tell the peers what healing found: the sockets of a server process that died were swept
    (offline), or a process counted its sockets again after Redis lost them (online). The
    "new message" e-mail then follows presence, as after a disconnect."""
    try:
        user = db.session.get(User, user_id)
        if user is not None:
            _tell_presence(user, online=online)
    finally:
        _end_transaction()


presence.on_change(_presence_healed)


def _tell_presence(user: User, *, online: bool) -> None:
    # Only the peers of open (consented) conversations learn that someone came or went.
    data = {"user_id": user.id, "online": online}
    for conversation in list_conversations(user):
        if conversation["state"] == "active":
            socketio.emit(
                "presence",
                data,
                to=user_room(conversation["peer"]["id"]),
                namespace=NAMESPACE,
            )


# --- the event wrapper ----------------------------------------------------------------------------
def _actor() -> User | None:
    """The signed-in, active user of the connecting request; ``None`` otherwise."""
    if not (current_user.is_authenticated and current_user.is_active):
        return None
    user: User = current_user._get_current_object()
    return user


def _end_transaction() -> None:
    # No transaction may outlive the event: under gevent a long one on SQLite blocks everyone.
    if not db.session.registry.has():
        return  # the event never touched the database
    try:
        db.session.rollback()
    finally:
        db.session.remove()


def _error(code: str, message: str, **extra: Any) -> Ack:
    return {"ok": False, "error": code, "message": message, **extra}


def _user_of(sid: str) -> User | None:
    """The user of the sign-in session socket ``sid`` was opened with, if that session is
    still live. Read from the database for every event (no cache): a revocation committed
    before the event holds."""
    session_id = _sessions.get(sid)
    record = None if session_id is None else sessions.find_live(session_id)
    return None if record is None else record.user


def _sender_of(sid: str) -> Sender | None:
    """Who sends on socket ``sid``, from this process's memory: no read here, the transaction
    that would store the message reads the session (``SessionEnded`` if it has ended)."""
    with _lock:
        identity, session_id = _identities.get(sid), _sessions.get(sid)
    return None if identity is None or session_id is None else Sender(identity.user_id, session_id)


def _answer(
    name: str,
    sid: str,
    caller: Callable[[str], Caller | None],
    handler: Callable[[Caller, dict[str, Any]], Ack],
    data: Any,
    *,
    empty_allowed: bool = False,
) -> Ack:
    """Run one event: find the caller (``None``, or a handler raising ``SessionEnded``: the
    socket's session has ended, answer ``forbidden`` and close the socket), check the payload's
    shape, call the handler and turn every outcome into an acknowledgement; no transaction
    outlives it."""
    try:
        who = caller(sid)
        if who is None:
            raise SessionEnded(SESSION_ENDED)
        if data is None and empty_allowed:
            data = {}
        if not isinstance(data, dict):
            raise InvalidInput("The payload must be an object.")
        return handler(who, data)
    except SessionEnded:
        session_sockets.disconnect_after_answer(NAMESPACE, sid)
        return _error("forbidden", SESSION_ENDED)
    except Restricted as exc:
        return _error("restricted", str(exc), phrase=exc.phrase)
    except PortalError as exc:
        return _error(error_code(exc), str(exc))
    except Exception:
        log.exception("chat event %r failed (sid %s)", name, sid)
        db.session.rollback()
        return _error("unavailable", "Something went wrong on our side; please retry.")
    finally:
        _end_transaction()


def _event(
    name: str, *, empty_allowed: bool = False
) -> Callable[[Callable[[User, dict[str, Any]], Ack]], Callable[[User, dict[str, Any]], Ack]]:
    """Register ``handler(user, payload) -> ack`` for the client event ``name``, the user loaded
    with the socket's session, afresh for each event."""

    def register(
        handler: Callable[[User, dict[str, Any]], Ack],
    ) -> Callable[[User, dict[str, Any]], Ack]:
        @functools.wraps(handler)
        def on_event(data: Any = None, *_ignored: Any) -> Ack:
            sid = request.sid  # type: ignore[attr-defined]
            return _answer(name, sid, _user_of, handler, data, empty_allowed=empty_allowed)

        socketio.on_event(name, on_event, namespace=NAMESPACE)
        return handler

    return register


def _connection_event(
    name: str,
) -> Callable[[Callable[[Sender, dict[str, Any]], Ack]], Callable[[Sender, dict[str, Any]], Ack]]:
    """Register ``handler(sender, payload) -> ack`` for ``name`` on the Socket.IO server
    itself, with an application context but without Flask-SocketIO's per-event request context:
    verifying the session cookie and matching the URL again for every message cost a sixth of
    the server's time under load. The sender is the socket's user and sign-in session; the
    handler's service checks that session in the transaction that stores the message."""

    def register(
        handler: Callable[[Sender, dict[str, Any]], Ack],
    ) -> Callable[[Sender, dict[str, Any]], Ack]:
        def on_event(sid: str, data: Any = None, *_ignored: Any) -> Ack:
            environ = socketio.server.get_environ(sid, namespace=NAMESPACE)
            if not environ:
                return _error("forbidden", SESSION_ENDED)
            with environ["flask.app"].app_context():
                return _answer(name, sid, _sender_of, handler, data)

        # Like Flask-SocketIO's own handlers: declared before the first server exists, and
        # attached by init_app to every app's new server.
        if socketio.server is not None:
            socketio.server.on(name, on_event, namespace=NAMESPACE)
        else:
            socketio.handlers.append((name, on_event, NAMESPACE))
        return handler

    return register


# --- payload fields -------------------------------------------------------------------------------
# Checked here, before any service or query sees them (README "Bounded input"): a number the
# database cannot hold or text it cannot store would otherwise fail the query (``unavailable``,
# with a traceback) or, in a group-commit batch, other people's messages.
def _int(data: dict[str, Any], key: str, *, default: int | None = None, least: int = 1) -> int:
    """An id or sequence number: a JSON integer from ``least`` (1, or 0 for "from the start")
    to :data:`portal.inputs.MAX_ID`; ``InvalidInput`` otherwise."""
    value = data.get(key, default)
    if value is None:
        raise InvalidInput(f"{key} is required.", field=key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{key} must be an integer.", field=key)
    if not least <= value <= inputs.MAX_ID:
        raise InvalidInput(f"{key} must be from {least} to {inputs.MAX_ID}.", field=key)
    return value


def _str(data: dict[str, Any], key: str) -> str:
    """A string that is valid text (:func:`portal.inputs.is_text`); ``InvalidInput`` otherwise."""
    value = data.get(key)
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string.", field=key)
    if not inputs.is_text(value):
        raise InvalidInput(f"{key} must be valid text.", field=key)
    return value


def _participant(user: User, conversation_id: int) -> Any:
    """The conversation if ``user`` takes part in it. Compliance may see every conversation but
    reads them in the review pages: it joins no room and sends nothing (``forbidden``)."""
    return get_own_conversation(user, conversation_id)


# --- client events --------------------------------------------------------------------------------
@_event("conversations", empty_allowed=True)
def conversations(user: User, data: dict[str, Any]) -> Ack:
    return {"ok": True, "conversations": list_conversations(user)}


@_event("join")
def join(user: User, data: dict[str, Any]) -> Ack:
    """Replay what came after ``after_seq`` and, while the chat is open, follow it live."""
    conversation = _participant(user, _int(data, "conversation_id"))
    after_seq = _int(data, "after_seq", default=0, least=0)
    live = policy.can_send_in_conversation(user, conversation)
    if live:
        room = conversation_room(conversation.id)
        join_room(room)
        # The HCP may have ended the chat between the check and the join: their end_chat took
        # every socket of the staff member out of the room, so this one must leave too.
        db.session.refresh(conversation)
        if not policy.can_send_in_conversation(user, conversation):
            leave_room(room)
            live = False
    messages, more = messages_after(user, conversation.id, after_seq)
    return {"ok": True, "messages": messages, "more": more, "live": live}


@_event("leave")
def leave(user: User, data: dict[str, Any]) -> Ack:
    conversation = _participant(user, _int(data, "conversation_id"))
    leave_room(conversation_room(conversation.id))
    return {"ok": True}


@_event("history")
def history(user: User, data: dict[str, Any]) -> Ack:
    conversation = _participant(user, _int(data, "conversation_id"))
    messages, more = messages_before(user, conversation.id, _int(data, "before_seq"))
    return {"ok": True, "messages": messages, "more": more}


@_connection_event("send")
def send(sender: Sender, data: dict[str, Any]) -> Ack:
    conversation_id = _int(data, "conversation_id")
    client_id = _str(data, "client_id")
    if data.get("material_id") is not None:
        fields: dict[str, Any] = {"material_id": _int(data, "material_id")}
    else:
        fields = {"body": _str(data, "body")}
    message = sending.send(
        sender.user_id, sender.session_id, conversation_id, client_id=client_id, **fields
    )
    return {"ok": True, "message": message}


@_event("read")
def read(user: User, data: dict[str, Any]) -> Ack:
    receipts.mark_read(user, _int(data, "conversation_id"), _int(data, "seq", least=0))
    return {"ok": True}


@_event("delivered")
def delivered(user: User, data: dict[str, Any]) -> Ack:
    receipts.mark_delivered(user, _int(data, "conversation_id"), _int(data, "seq", least=0))
    return {"ok": True}


@_event("typing")
def typing(user: User, data: dict[str, Any]) -> Ack:
    """Ephemeral: nothing stored; at most one per user and conversation every two seconds."""
    conversation = _participant(user, _int(data, "conversation_id"))
    if not policy.can_send_in_conversation(user, conversation):
        raise ConsentRequired("This chat has ended.")
    key, now = (user.id, conversation.id), time.monotonic()
    with _lock:
        if now - _last_typing.get(key, float("-inf")) < TYPING_INTERVAL:
            return {"ok": True, "sent": False}
        _last_typing[key] = now
    socketio.emit(
        "typing",
        {"conversation_id": conversation.id, "user_id": user.id},
        to=conversation_room(conversation.id),
        skip_sid=request.sid,  # type: ignore[attr-defined]
        namespace=NAMESPACE,
    )
    return {"ok": True, "sent": True}


@_event("edit")
def edit(user: User, data: dict[str, Any]) -> Ack:
    message = edit_message(user, _int(data, "message_id"), _str(data, "body"))
    return {"ok": True, "message": message}


@_event("delete")
def delete(user: User, data: dict[str, Any]) -> Ack:
    return {"ok": True, "message": delete_message(user, _int(data, "message_id"))}


def reset() -> None:
    """Forget this process's connections and typing throttles (tests)."""
    with _lock:
        _identities.clear()
        _sessions.clear()
        _last_typing.clear()
