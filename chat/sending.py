"""Sending chat messages at volume: concurrent sends share one transaction (group commit).

The ``send`` event calls :func:`send`. The common message (plain text from a signed-in
participant of an open chat, to a peer who is online, no restricted phrase, nothing that may
describe an adverse event, not a retry) waits in a queue; whoever holds the turn stores
everything queued in one transaction: one read of the senders, the conversations, the restricted
phrases and earlier client ids, one counter update per conversation, one insert for the
messages, two statements on the audit chain's head and one commit. Every rule is the one
:func:`chat.services.send_message` applies: the same policy functions, session check, phrase
check and audit action, read inside the batch's transaction.

Everything else (a material card, a possible adverse event to report, an e-mail to an offline
peer, a retry, a refusal to explain, a batch that failed) goes through
:func:`chat.services.send_message`, one message per transaction, which also knows how to answer
each refusal. A batch that fails is rolled back whole and its messages take that path, so a
failure costs time, never a message.

Under gevent, the holder of the turn first lets the event loop run until it is idle, so that
every send already received joins the batch; with threads, senders queue up on their own while
a batch is being stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

from flask import current_app
from sqlalchemy import Table, bindparam, insert, select, update

from chat import presence, services
from chat.models import Conversation, ConversationState, Message, MessageKind
from portal import audit, inputs, policy
from portal.errors import PermissionDenied, PortalError
from portal.extensions import db
from portal.models import Role, User, utcnow
from portal.realtime import emit_after_commit
from portal.safety import services as safety
from portal.services.accounts import session_is_current

log = logging.getLogger(__name__)

MAX_BATCH = 256  # messages per transaction: bounds how long one commit holds the writers


class SessionEnded(PermissionDenied):
    """Your session has ended: sign in again."""


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who sends: the user and session version of the sign-in session the socket was bound to,
    found live when the event arrived (``chat/events.py`` reads it before calling :func:`send`,
    so a message from an ended session is never queued), and checked against the account again
    in the transaction that stores the message."""

    user_id: int
    session_version: int


@dataclasses.dataclass(frozen=True)
class _Sender:
    """The columns of ``users`` that policy and the audit trail need, read in the batch."""

    id: int
    name: str
    email: str
    role: Role
    suspended: bool
    session_version: int
    is_authenticated: bool = True


@dataclasses.dataclass(eq=False)
class PendingMessage:
    """A text message waiting for its batch."""

    identity: Identity
    conversation_id: int
    client_id: str
    body: str
    message: dict[str, Any] | None = None  # set once stored by a batch
    done: bool = False  # a batch has dealt with it: stored, or left to the full path


def load_user(identity: Identity) -> User:
    """The connection's user, if its session still stands (``SessionEnded`` otherwise)."""
    user = db.session.get(User, identity.user_id)
    if not session_is_current(user, identity.session_version):
        raise SessionEnded("Your session has ended: sign in again.")
    assert user is not None
    return user


def send(
    identity: Identity,
    conversation_id: int,
    *,
    client_id: str,
    body: Any = None,
    material_id: int | None = None,
) -> dict[str, Any]:
    """Send a message as the connection's user and return MESSAGE, as
    :func:`chat.services.send_message` does (same rules, errors, audit and events), storing the
    common message together with others sent at the same moment."""
    rate_checked = False
    if material_id is None and _fits_batch(client_id, body):
        services.check_rate(identity.user_id)
        rate_checked = True
        pending = PendingMessage(
            identity, conversation_id, services.check_client_id(client_id), body
        )
        _group().submit(pending)
        if pending.message is not None:
            return pending.message
    message, _created = services.send_message(
        load_user(identity),
        conversation_id,
        client_id=client_id,
        body=body,
        material_id=material_id,
        rate_checked=rate_checked,
    )
    return message


def _fits_batch(client_id: Any, body: Any) -> bool:
    # Anything the batch would have to refuse or report goes the full path, which explains it.
    try:
        services.check_client_id(client_id)
        services.check_body(body)
    except PortalError:
        return False
    # Text the database cannot store would fail the batch's insert, and everyone's messages.
    return inputs.is_text(body) and not safety.detect(body).flagged


class _GroupCommit:
    """One batch at a time: a sender queues its message, then waits for the turn; whoever gets
    it stores everything queued by then, so a sender may find its message already stored."""

    def __init__(self, store: Callable[[list[PendingMessage]], None]) -> None:
        self._store = store
        self._queue: list[PendingMessage] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()

    def submit(self, pending: PendingMessage) -> None:
        with self._queue_lock:
            self._queue.append(pending)
        with self._turn:
            while not pending.done:
                _let_others_queue()
                with self._queue_lock:
                    batch = self._queue[:MAX_BATCH]
                    del self._queue[:MAX_BATCH]
                try:
                    self._store(batch)
                finally:
                    for item in batch:
                        item.done = True


def _let_others_queue() -> None:
    from gevent import monkey

    if monkey.is_module_patched("threading"):
        import gevent

        gevent.idle()  # every send already received gets to queue before the batch is taken


def _group() -> _GroupCommit:
    # Per application: tests run several apps (several databases) in one process.
    extensions = current_app.extensions
    group = extensions.get("chat.group_commit")
    if group is None:
        group = extensions.setdefault("chat.group_commit", _GroupCommit(store_batch))
    assert isinstance(group, _GroupCommit)
    return group


def store_batch(batch: list[PendingMessage]) -> None:
    """Store what of ``batch`` the common path can take, in one transaction, and set each one's
    ``message`` (MESSAGE, emitted to its room after commit); the rest keep ``message=None`` for
    the full path. Never raises: a failed batch is rolled back whole."""
    try:
        _store(batch)
    except Exception:
        # A duplicate that raced in from another process, a busy database, a missing audit
        # head: nothing of the batch is kept and each message goes the full path on its own.
        log.info("chat batch of %d rolled back; sending one by one", len(batch), exc_info=True)
        db.session.rollback()
        for pending in batch:
            pending.message = None


@dataclasses.dataclass(frozen=True)
class _Conversation:
    """The columns of ``conversations`` that policy needs."""

    id: int
    hcp_id: int
    staff_id: int
    state: ConversationState


_SENDER_COLUMNS = ("id", "name", "email", "role", "suspended", "session_version")


@functools.cache
def _statements() -> SimpleNamespace:
    """The batch's statements, built once: only their parameters change from batch to batch."""
    users, conversations = cast(Table, User.__table__), cast(Table, Conversation.__table__)
    messages = cast(Table, Message.__table__)
    hcp, staff = users.alias("hcp"), users.alias("staff")
    return SimpleNamespace(
        # Each conversation with both participants: whoever sends, the sender is one of them.
        conversations=select(
            conversations.c.id, conversations.c.hcp_id, conversations.c.staff_id,
            conversations.c.state,
            *(hcp.c[name] for name in _SENDER_COLUMNS),
            *(staff.c[name] for name in _SENDER_COLUMNS),
        )
        .join_from(conversations, hcp, conversations.c.hcp_id == hcp.c.id)
        .join(staff, conversations.c.staff_id == staff.c.id)
        .where(conversations.c.id.in_(bindparam("ids", expanding=True))),
        # Consent still open, checked under the rows' locks: the rows end_chat updates.
        next_seqs=update(conversations)
        .where(
            conversations.c.id.in_(bindparam("ids", expanding=True)),
            conversations.c.state == ConversationState.ACTIVE,
        )
        .values(
            last_seq=conversations.c.last_seq + bindparam("count"),
            last_message_at=bindparam("at"),
        )
        .returning(conversations.c.id, conversations.c.last_seq),
        # (conversation, seq) names each new row: no reliance on the order rows come back in.
        insert=insert(messages).returning(
            messages.c.id, messages.c.conversation_id, messages.c.seq
        ),
        table=messages.name,
    )  # fmt: skip


def _store(batch: list[PendingMessage]) -> None:
    sql = _statements()
    # A conversation id no row can have would fail the batch's first query, and with it every
    # other sender's message: it is left to the full path, which answers its own sender.
    batch = [p for p in batch if inputs.is_id(p.conversation_id)]
    if not batch:
        return
    connection = db.session.connection()
    now = utcnow()
    conversations: dict[int, tuple[_Conversation, _Sender, _Sender]] = {}
    width = len(_SENDER_COLUMNS)
    for row in connection.execute(
        sql.conversations, {"ids": sorted({p.conversation_id for p in batch})}
    ):
        conversations[row[0]] = (
            _Conversation(*row[:4]), _Sender(*row[4 : 4 + width]), _Sender(*row[4 + width :])
        )  # fmt: skip
    # Who is online, asked once for every participant of the batch's conversations.
    online = presence.online_among(
        user.id for _conversation, hcp, staff in conversations.values() for user in (hcp, staff)
    )
    phrases: list[str] | None = None

    # A retry of a stored message is not looked for here: the unique (sender, client id) index
    # refuses it, the batch rolls back and the full path answers it with the first message.
    seen: set[tuple[int, str]] = set()
    accepted: defaultdict[int, list[tuple[PendingMessage, _Sender]]] = defaultdict(list)
    for pending in batch:
        found = conversations.get(pending.conversation_id)
        if found is None:
            continue
        conversation, hcp, staff = found
        sender = hcp if pending.identity.user_id == hcp.id else staff
        key = (pending.identity.user_id, pending.client_id)
        if (
            sender.id != pending.identity.user_id
            or not session_is_current(sender, pending.identity.session_version)
            or not policy.can_send_in_conversation(sender, conversation)
            or key in seen
            # The full path e-mails an offline peer.
            or (staff if sender is hcp else hcp).id not in online
        ):
            continue
        if sender is staff:
            if phrases is None:
                phrases = services.active_phrases()
            if services.restricted_hit(pending.body, phrases) is not None:
                continue  # the full path refuses it, names the phrase and audits the refusal
        seen.add(key)  # the same client id twice in one batch: the second is a retry
        accepted[conversation.id].append((pending, sender))

    by_count: defaultdict[int, list[int]] = defaultdict(list)
    for conversation_id, items in accepted.items():
        by_count[len(items)].append(conversation_id)
    last_seqs = {
        row.id: row.last_seq
        for count, ids in by_count.items()
        for row in connection.execute(sql.next_seqs, {"ids": ids, "count": count, "at": now})
    }
    stored: list[tuple[PendingMessage, _Sender, int]] = []
    for conversation_id, items in accepted.items():
        last_seq = last_seqs.get(conversation_id)
        if last_seq is None:
            continue  # the HCP ended the chat a moment ago: the full path says so
        first = last_seq - len(items) + 1
        stored.extend((p, s, seq) for seq, (p, s) in enumerate(items, start=first))
    if not stored:
        db.session.rollback()
        return

    rows: list[dict[str, Any]] = [
        {
            "conversation_id": p.conversation_id, "seq": seq, "client_id": p.client_id,
            "sender_id": s.id, "kind": MessageKind.TEXT, "body": p.body, "material_id": None,
            "sent_at": now, "flags": [],
        }
        for p, s, seq in stored
    ]  # fmt: skip
    ids = {(r.conversation_id, r.seq): r.id for r in connection.execute(sql.insert, rows)}
    audit.record_many(
        [
            audit.Entry(
                actor_id=s.id,
                actor_label=s.email,
                action="chat.message_sent",
                target_type=sql.table,
                target_id=str(ids[p.conversation_id, seq]),
                details={
                    "conversation": p.conversation_id,
                    "seq": seq,
                    "kind": MessageKind.TEXT.value,
                    "flags": [],
                },
            )
            for p, s, seq in stored
        ]
    )
    for pending, sender, seq in stored:
        pending.message = _payload(ids[pending.conversation_id, seq], pending, sender, seq, now)
        emit_after_commit(
            db.session(),
            "message",
            pending.message,
            to=services.room(pending.conversation_id),
            namespace=services.NAMESPACE,
        )
    db.session.commit()


def _payload(
    message_id: int, pending: PendingMessage, sender: _Sender, seq: int, now: dt.datetime
) -> dict[str, Any]:
    return services.message_payload(
        id=message_id,
        conversation_id=pending.conversation_id,
        client_id=pending.client_id,
        seq=seq,
        sender_id=sender.id,
        sender_name=sender.name,
        body=pending.body,
        sent_at=now,
    )
