"""Writing messages: the one write path of a new message (check, then store), edits and
deletions, and what staff may share. Reading them is :mod:`chat.history`.

Sending works as Zulip's ``check_message`` / ``do_send_messages``. A send arrives as a
:class:`chat.drafts.Draft` (what the client asked, unchecked). :func:`send_many` reads, in one
transaction, what every rule needs for all its drafts (a :class:`chat.drafts.Snapshot`: the
senders' sign-in sessions, the conversations with both participants, the restricted phrases,
the product names), lets
:func:`check` turn each draft into a :class:`SendRequest` or refuse it, and has :func:`store`
write the requests: sequence numbers, one multi-row insert, the audit records in one turn on the
chain (:func:`portal.audit.record_many`), PV cases, the "new message" e-mail to an offline peer,
and the room's events after commit. A single send (:func:`send_message`) is a batch of one; the
socket's group commit (:mod:`chat.sending`) only gathers sends into batches. So a refusal is
answered the same way whichever way a message came.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from types import SimpleNamespace
from typing import Any, cast

from flask import current_app
from flask_babel import gettext
from sqlalchemy import (
    Connection,
    Table,
    TextClause,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from chat import phrases, presence, receipts
from chat.conversations import emit, get_conversation, room, user_room
from chat.drafts import (
    ConversationFacts,
    Draft,
    Participant,
    SessionToConfirm,
    Snapshot,
)
from chat.errors import ConsentRequired, RateLimited, Restricted, SessionEnded, TooLong
from chat.history import material_card, message_payload, serialize_message, with_pv_cases
from chat.models import (
    Conversation,
    ConversationState,
    Message,
    MessageKind,
    MessageRevision,
)
from portal import audit, i18n, inputs, policy, redis_pool
from portal.errors import InvalidInput, NotFound, PermissionDenied, PortalError
from portal.extensions import db, unpinged
from portal.models import User, utcnow
from portal.safety import detection
from portal.safety import services as safety
from portal.services import mail, sessions
from portal.unit_of_work import depth, transactional, unit_of_work
from portal.urls import external_url

log = logging.getLogger(__name__)

MAX_BODY = 4_000
ENDED = "This chat has ended: the HCP has to opt in again before messages can be sent."


# --- PV notices ----------------------------------------------------------------------------------
def _tell_staff_of_case(conversation: Conversation, message_id: int, seq: int) -> None:
    # The room's MESSAGE reaches the HCP too, so the reference goes to the staff member's own
    # room, after commit like every event.
    notice = safety.case_notices(conversation.staff, conversation, [message_id]).get(message_id)
    if notice is not None:
        event = {
            "conversation_id": conversation.id, "message_id": message_id, "seq": seq,
            "pv_case": notice,
        }  # fmt: skip
        emit("pv_case", event, user_room(conversation.staff_id))


# --- sharing -------------------------------------------------------------------------------------
def shareable_materials(actor: User, conversation_id: Any) -> list[dict[str, Any]]:
    """The share list: what the staff participant may share with this chat's HCP (content's
    rule, :func:`content.services.shareable_materials`). Empty for the HCP, and while the chat
    is not active."""
    from content import services as content

    conversation = get_conversation(actor, conversation_id)
    if actor.id != conversation.staff_id or not policy.can_send_in_conversation(
        actor, conversation
    ):
        return []
    return [
        {"id": m.id, "title": m.title, "classification": str(m.classification)}
        for m in content.shareable_materials(actor, conversation.hcp)
    ]


@functools.cache
def _statements() -> SimpleNamespace:
    """The batch's writes, built once: only their parameters change from batch to batch."""
    conversations, messages = cast(Table, Conversation.__table__), cast(Table, Message.__table__)
    return SimpleNamespace(
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


# --- sending: the rules --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SendRequest:
    """A message that passed every rule (:func:`check`): what :func:`store` writes."""

    sender: Participant
    conversation: ConversationFacts
    client_id: str
    kind: MessageKind
    body: str
    material_id: int | None = None
    reasons: tuple[str, ...] = ()  # why it may describe an adverse event (empty: it does not)

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)


def check_client_id(client_id: Any) -> str:
    """The client's message id in canonical UUID form (``InvalidInput`` otherwise)."""
    if not isinstance(client_id, str):
        raise InvalidInput("client_id must be a UUID string.", field="client_id")
    try:
        return str(uuid.UUID(client_id))
    except ValueError as exc:
        raise InvalidInput("client_id must be a UUID string.", field="client_id") from exc


def check_body(body: Any) -> str:
    """A message text: valid text, not blank (``InvalidInput``), at most ``MAX_BODY``
    characters (``TooLong``)."""
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("Write a message first.", field="body")
    if len(body) > MAX_BODY:
        raise TooLong(f"Messages are limited to {MAX_BODY:,} characters.", field="body")
    if not inputs.is_text(body):  # text no database stores would fail the whole batch
        raise InvalidInput("body must be valid text.", field="body")
    return body


def check_input(draft: Draft) -> str:
    """The checks that need no database: the client id (returned in canonical form) and, for a
    text message, the body. Entry points run them before counting the send against the rate
    limit; :func:`check` runs them again."""
    client_id = check_client_id(draft.client_id)
    if draft.material_id is None:
        check_body(draft.body)
    return client_id


def check(draft: Draft, snapshot: Snapshot) -> SendRequest:
    """Every rule a message must pass, in this order: the sender's session still stands
    (``SessionEnded``), a well-formed client id and body (``InvalidInput``, ``TooLong``), the
    sender takes part in the conversation (``NotFound`` for outsiders, ``PermissionDenied``
    for compliance), the HCP's consent is open (``ConsentRequired``), a material is one the
    staff participant may share with this HCP (``InvalidInput`` saying why not, from content's
    rule), a text from someone policy screens has no restricted phrase (``Restricted``). A text
    that may describe an adverse event passes, flagged with the detector's reasons. Reads only
    ``snapshot`` (and, for a material, the material and both participants)."""
    if not snapshot.session_live(draft):
        raise SessionEnded()
    client_id = check_input(draft)
    conversation = snapshot.conversations.get(draft.conversation_id)
    sender = conversation.participant(draft.sender_id) if conversation is not None else None
    if conversation is None or sender is None:
        # Compliance may see every conversation but takes part in none; others see nothing.
        reader = db.session.get(User, draft.sender_id)
        policy.require_visible(
            conversation is not None and policy.can_view_conversation(reader, conversation),
            "That conversation",
        )
        raise PermissionDenied(
            "Compliance reads conversations in the review pages; it does not take part in them."
        )
    policy.require_visible(policy.can_view_conversation(sender, conversation), "That conversation")
    if not policy.can_send_in_conversation(sender, conversation):
        raise ConsentRequired(ENDED)
    if draft.material_id is not None:
        material = _shareable(sender, conversation, draft.material_id, snapshot.now)
        return SendRequest(
            sender, conversation, client_id, MessageKind.MATERIAL, material.title,
            material_id=material.id,
        )  # fmt: skip
    text = cast(str, draft.body)
    if policy.screens_restricted_phrases(sender):
        hit = phrases.restricted_hit(text, snapshot.phrases)
        if hit is not None:
            raise Restricted(phrases.refusal_text(hit), hit.phrase, matched=hit.matched)
    finding = detection.detect_adverse_event(text, products=snapshot.products)
    return SendRequest(
        sender, conversation, client_id, MessageKind.TEXT, text, reasons=tuple(finding.reasons)
    )


def _shareable(
    sender: Participant, conversation: ConversationFacts, material_id: Any, now: dt.datetime
) -> Any:
    """The material the staff participant shares with this chat's HCP, or ``InvalidInput``
    saying why not (content's rule: :func:`portal.policy.can_share_material_with`)."""
    from content import services as content

    if sender.id != conversation.staff_id:
        raise InvalidInput("Only the colleague in this chat shares material.", field="material_id")
    staff = db.session.get(User, sender.id)
    found = db.session.get(Conversation, conversation.id)
    assert staff is not None and found is not None
    material = content.get_shareable_material(staff, material_id, found.hcp)
    # The chat's own policy (participant, active consent, this HCP) has the last word.
    policy.require(policy.can_share_in_chat(staff, found, material, now))
    return material


# --- sending: the writes -------------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    """What became of one draft: its MESSAGE (``created`` false for a retry of a stored one),
    or the error to answer its sender with."""

    message: dict[str, Any] | None = None
    created: bool = False
    error: BaseException | None = None

    def result(self) -> tuple[dict[str, Any], bool]:
        """``(MESSAGE, created)``, or raise the error."""
        if self.error is not None:
            raise self.error
        assert self.message is not None
        return self.message, self.created


@transactional
def store(
    requests: Sequence[SendRequest], *, now: dt.datetime, refusals: Sequence[audit.Entry] = ()
) -> list[Outcome]:
    """Write checked ``requests`` in one unit of work and return each one's outcome, in order.

    Each conversation's counter moves once for all its new messages (``last_seq + n``, only
    while the conversation is still active: one ended a moment ago answers ``ConsentRequired``
    and keeps its sequence gap-free); the messages go in one multi-row insert; their audit
    records (``chat.message_sent``), after the ``refusals`` given (``chat.message_refused``),
    are appended in one turn on the chain. A message that may describe an adverse event opens a
    PV case (``pv_case.open``) and tells the staff participant its reference (``pv_case``). A
    peer with no live connection gets at most one "new message" e-mail per period. Events:
    ``message`` to the conversation's room, after commit.

    Raises ``IntegrityError`` when a client id was stored meanwhile (:func:`send_many` then
    answers it as the retry it is).
    """
    outcomes = [Outcome() for _ in requests]
    if not requests:
        audit.record_many(refusals)
        return outcomes
    connection = db.session.connection()
    # Who is online, asked once for every peer of the batch, while the rows are written.
    online = _meanwhile(
        presence.online_among, {r.conversation.peer_of(r.sender.id).id for r in requests}
    )

    by_conversation: defaultdict[int, list[int]] = defaultdict(list)
    for index, request in enumerate(requests):
        by_conversation[request.conversation.id].append(index)
    reserved: audit.Reserved | None = None
    if connection.dialect.name == "postgresql":
        placed, reserved = _number_and_insert_at_once(
            connection, requests, by_conversation, now, refused=len(refusals)
        )
    else:
        placed = _number_and_insert(connection, requests, by_conversation, now)
    numbered: list[tuple[int, int]] = []  # (request index, seq), in the order of the requests
    ids: dict[tuple[int, int], int] = {}
    for index, request in enumerate(requests):
        if index not in placed:  # the HCP ended the chat a moment ago
            outcomes[index].error = ConsentRequired(ENDED)
            continue
        seq, message_id = placed[index]
        numbered.append((index, seq))
        ids[request.conversation.id, seq] = message_id
    if not numbered:
        audit.record_many(refusals, reserved=reserved)
        return outcomes
    peers_online = online()
    audit.record_many(
        [*refusals, *(_sent_record(requests[i], seq, ids) for i, seq in numbered)],
        reserved=reserved,
    )
    emailed: set[tuple[int, int]] = set()
    for index, seq in numbered:
        r = requests[index]
        message_id = ids[r.conversation.id, seq]
        payload = message_payload(
            id=message_id, conversation_id=r.conversation.id, client_id=r.client_id, seq=seq,
            sender_id=r.sender.id, sender_name=r.sender.name, body=r.body, sent_at=now,
            flags=["adverse_event"] if r.flagged else [], kind=r.kind,
            material=material_card(r.material_id, now) if r.material_id else None,
        )  # fmt: skip
        emit("message", payload, room(r.conversation.id))
        outcomes[index] = Outcome(payload, created=True)
        if r.flagged:
            outcomes[index].message = _report(r, message_id, seq, payload, now)
        peer = r.conversation.peer_of(r.sender.id).id
        if peer not in peers_online and (r.conversation.id, peer) not in emailed:
            emailed.add((r.conversation.id, peer))
            _maybe_email(r.conversation, peer, now)
    return outcomes


def _meanwhile(
    function: Callable[[set[int]], set[int]], argument: set[int]
) -> Callable[[], set[int]]:
    """Start ``function(argument)`` and return how to get its result: under gevent it runs in a
    greenlet of its own (with an application context), so a Redis round trip overlaps the
    database's; elsewhere it runs at once."""
    from gevent import monkey

    if not monkey.is_module_patched("threading"):
        result = function(argument)
        return lambda: result
    import gevent

    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> set[int]:
        with app.app_context():
            return function(argument)

    return gevent.spawn(run).get


def _row(request: SendRequest, now: dt.datetime) -> dict[str, Any]:
    return {
        "conversation_id": request.conversation.id, "client_id": request.client_id,
        "sender_id": request.sender.id, "kind": request.kind, "body": request.body,
        "material_id": request.material_id, "sent_at": now,
        "flags": ["adverse_event"] if request.flagged else [],
    }  # fmt: skip


def _number_and_insert(
    connection: Connection,
    requests: Sequence[SendRequest],
    by_conversation: dict[int, list[int]],
    now: dt.datetime,
) -> dict[int, tuple[int, int]]:
    """Move each conversation's counter once for all its new messages, then insert them:
    ``{request index: (seq, message id)}``, without the messages of a conversation no longer
    active. One counter update per batch size, one insert."""
    sql = _statements()
    by_count: defaultdict[int, list[int]] = defaultdict(list)
    for conversation_id, indexes in by_conversation.items():
        by_count[len(indexes)].append(conversation_id)
    last_seqs = {
        row.id: row.last_seq
        for count, ids in sorted(by_count.items())
        for row in connection.execute(sql.next_seqs, {"ids": ids, "count": count, "at": now})
    }
    seqs: dict[int, int] = {}
    for conversation_id, indexes in by_conversation.items():
        if conversation_id in last_seqs:
            first = last_seqs[conversation_id] - len(indexes) + 1
            seqs.update((index, seq) for seq, index in enumerate(indexes, start=first))
    if not seqs:
        return {}
    rows = [{**_row(requests[index], now), "seq": seq} for index, seq in seqs.items()]
    # One row alone is a plain INSERT ... RETURNING, cheaper than the multi-row form.
    inserted = connection.execute(sql.insert, rows[0] if len(rows) == 1 else rows)
    ids = {(row.conversation_id, row.seq): row.id for row in inserted}
    return {index: (seq, ids[requests[index].conversation.id, seq]) for index, seq in seqs.items()}


def _number_and_insert_at_once(
    connection: Connection,
    requests: Sequence[SendRequest],
    by_conversation: dict[int, list[int]],
    now: dt.datetime,
    *,
    refused: int,
) -> tuple[dict[int, tuple[int, int]], audit.Reserved | None]:
    """:func:`_number_and_insert` in one statement (PostgreSQL: the counter update feeds the
    insert in a data-modifying WITH), which also takes the audit trail's numbers for the
    ``refused`` drafts' records and one ``chat.message_sent`` per stored message: two round
    trips fewer on every send. The reservation is None when the trail has no head yet."""
    order = list(by_conversation)
    k_of: dict[int, int] = {}  # request index -> its place k among its conversation's new ones
    for indexes in by_conversation.values():
        for k, index in enumerate(indexes, start=1):
            k_of[index] = k
    listed = sorted(k_of)
    rows = [_row(requests[index], now) for index in listed]
    params: dict[str, Any] = {
        "at": now, "active": ConversationState.ACTIVE, "refused": refused,
        "c_id": order, "c_n": [len(by_conversation[c]) for c in order],
        "m_k": [k_of[index] for index in listed],
        "m_kind": [str(row["kind"]) for row in rows],
        "m_flags": [json.dumps(row["flags"]) for row in rows],
    }  # fmt: skip
    for name in ("conversation_id", "client_id", "sender_id", "body", "material_id"):
        params[f"m_{name}"] = [row[name] for row in rows]
    found: dict[tuple[int, int], int] = {}
    reserved = None
    for result in connection.execute(_numbered_insert(), params):
        if result.id is None:  # the audit head's row
            reserved = audit.Reserved(result.seq, result.last_hash)
        else:
            found[result.conversation_id, result.seq] = result.id
    # A conversation's first new message (k = 1) has the lowest of its new sequence numbers.
    first: dict[int, int] = {}
    for conversation_id, seq in found:
        first[conversation_id] = min(first.get(conversation_id, seq), seq)
    placed: dict[int, tuple[int, int]] = {}
    for index in listed:
        conversation_id = requests[index].conversation.id
        if conversation_id in first:
            seq = first[conversation_id] + k_of[index] - 1
            placed[index] = (seq, found[conversation_id, seq])
    return placed, reserved


@functools.cache
def _numbered_insert() -> TextClause:
    """The counter update and the insert of :func:`_number_and_insert_at_once`, whatever the
    batch's size: the conversations (``c_*``) and the messages (``m_*``) travel as arrays, one
    per column (``unnest``), so the text never changes and the server keeps it prepared."""
    table = cast(Table, Message.__table__)
    # Names from the models, every value bound. A conversation no longer active is not
    # numbered, so its messages are not inserted (the caller answers them).
    statement = text(
        "WITH numbered AS ("  # noqa: S608 - only names and placeholders are spliced in
        " UPDATE conversations SET last_seq = conversations.last_seq + c.n,"
        " last_message_at = :at"
        " FROM unnest(CAST(:c_id AS INTEGER[]), CAST(:c_n AS INTEGER[])) AS c (id, n)"
        " WHERE conversations.id = c.id AND conversations.state = :active"
        " RETURNING conversations.id, conversations.last_seq - c.n AS base)"
        f", inserted AS (INSERT INTO {table.name}"
        " (conversation_id, seq, client_id, sender_id, kind, body, material_id, sent_at, flags)"
        " SELECT m.conversation_id, numbered.base + m.k, m.client_id, m.sender_id, m.kind,"
        " m.body, m.material_id, :at, CAST(m.flags AS JSON)"
        " FROM unnest(CAST(:m_conversation_id AS INTEGER[]), CAST(:m_k AS INTEGER[]),"
        " CAST(:m_client_id AS VARCHAR[]), CAST(:m_sender_id AS INTEGER[]),"
        " CAST(:m_kind AS VARCHAR[]), CAST(:m_body AS TEXT[]),"
        " CAST(:m_material_id AS INTEGER[]), CAST(:m_flags AS TEXT[])) AS m"
        " (conversation_id, k, client_id, sender_id, kind, body, material_id, flags)"
        " JOIN numbered ON numbered.id = m.conversation_id"
        " RETURNING id, conversation_id, seq)"
        # The audit numbers: one record per refusal and per stored message.
        ", reserved AS ("
        + audit.reserve_sql("(SELECT count(*) FROM inserted) + CAST(:refused AS INTEGER)")
        + ")"
        " SELECT id, conversation_id, seq, NULL AS last_hash FROM inserted"
        " UNION ALL SELECT NULL, NULL, seq, last_hash FROM reserved"
    )
    conversation = cast(Table, Conversation.__table__)
    return statement.bindparams(
        bindparam("at", type_=conversation.c.last_message_at.type),
        bindparam("active", type_=conversation.c.state.type),
    )


def _sent_record(request: SendRequest, seq: int, ids: dict[tuple[int, int], int]) -> audit.Entry:
    return audit.Entry(
        actor_id=request.sender.id,
        actor_label=request.sender.email,
        action="chat.message_sent",
        target_type=_statements().table,
        target_id=str(ids[request.conversation.id, seq]),
        details={
            "conversation": request.conversation.id, "seq": seq, "kind": request.kind.value,
            "flags": ["adverse_event"] if request.flagged else [],
        },
    )  # fmt: skip


def _report(
    request: SendRequest, message_id: int, seq: int, payload: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """Open the PV case of a flagged message, tell the staff participant its reference, and
    return the sender's acknowledgement (naming the case to staff only)."""
    conversation = db.session.get(Conversation, request.conversation.id)
    sender = db.session.get(User, request.sender.id)
    assert conversation is not None and sender is not None
    safety.open_case(
        sender, source=safety.CaseSource.CHAT, source_ref=f"C-{conversation.id}#{seq}",
        text=request.body, reasons=request.reasons,
        reporter=sender if policy.is_staff(sender) else conversation.hcp, received_at=now,
        conversation_id=conversation.id, message_id=message_id,
    )  # fmt: skip
    _tell_staff_of_case(conversation, message_id, seq)
    # The sender's acknowledgement is theirs alone: it may name the case (staff only).
    return with_pv_cases(sender, conversation, [payload])[0]


def _maybe_email(conversation: ConversationFacts, recipient_id: int, now: dt.datetime) -> None:
    # At most one "new message" e-mail per conversation and period, only when the recipient has
    # no live connection; it never contains the text (minimum necessary).
    period = dt.timedelta(minutes=current_app.config["CHAT_EMAIL_INTERVAL_MINUTES"])
    emailed_at = conversation.emailed_at(recipient_id)  # read with the batch: no query when due
    if emailed_at is not None and emailed_at + period > now:
        return
    state = receipts.read_state(conversation.id, recipient_id)
    if state.emailed_at is not None and state.emailed_at + period > now:
        return  # another batch has just sent it
    recipient = conversation.participant(recipient_id)
    assert recipient is not None
    state.emailed_at = now
    # The language is read only now, when a mail is due: the batch's read of the participants
    # stays as narrow as the send path needs.
    language = db.session.execute(
        select(User.locale, User.timezone).where(User.id == recipient_id)
    ).one()
    with i18n.for_user(language.locale, language.timezone):
        mail.enqueue(
            recipient.email,
            gettext("You have a new chat message"),
            gettext(
                "Hello %(name)s,\n\nYou have a new message in the portal's secure chat.\n\n"
                "Sign in to read it:\n%(url)s\n\n"
                "For your privacy, this e-mail never contains the message itself.",
                name=recipient.name,
                url=external_url("chat.index", conversation=conversation.id),
            )
            + "\n",
        )


# --- sending: one unit of work for a batch -------------------------------------------------------
def send_many(drafts: Sequence[Draft]) -> list[Outcome]:
    """Check and store ``drafts`` in one transaction; each one's :class:`Outcome`, in order.

    The same client id from the same sender names one message: a retry of a stored one (or the
    same one twice in a batch) answers the first MESSAGE and stores nothing (``created``
    false). A refusal stores nothing but is answered to its sender alone; a restricted phrase is
    audited (``chat.message_refused``) with the batch. If the batch fails (a retry only the
    unique index caught, a busy database), it is rolled back whole and tried again looking for
    retries first, then each draft alone: a failure costs time, never a message. A draft whose
    session is due its once-a-minute check is sent once :func:`portal.services.sessions.
    find_live` has judged the session (``SessionEnded`` if it ended)."""
    if not drafts:
        return []
    try:
        return _send(drafts, look_for_retries=False)
    except Exception as exc:
        if depth() > 0:
            raise  # inside an enclosing unit of work, which rolls back for all
        # A resent message already stored (its first send committed, e.g. on a server that then
        # died) is the expected cause: named, without a traceback. Anything else keeps one.
        log.info(
            "chat batch of %d rolled back (%s); looking for retries", len(drafts),
            type(exc).__name__, exc_info=not isinstance(exc, IntegrityError),
        )  # fmt: skip
    if len(drafts) == 1:
        return _send(drafts, look_for_retries=True)
    try:
        return _send(drafts, look_for_retries=True)
    except Exception:
        log.info("chat batch of %d rolled back; sending one by one", len(drafts), exc_info=True)
    outcomes = []
    for draft in drafts:
        try:
            outcomes.extend(_send([draft], look_for_retries=True))
        except Exception as exc:  # answered to its own sender ("unavailable"), and logged there
            outcomes.append(Outcome(error=exc))
    return outcomes


def _send(
    drafts: Sequence[Draft], *, look_for_retries: bool, confirmed: Collection[str] = ()
) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(drafts)
    ask: list[int] = []  # drafts whose session find_live judges after this transaction
    # No test of the connection first: a dropped one fails the batch, which send_many tries
    # again on a fresh connection (a failure costs time, never a message).
    with unpinged(), unit_of_work():
        snapshot = Snapshot.read(drafts, confirmed=confirmed)
        keys = [(d.sender_id, _canonical(d.client_id)) for d in drafts]
        earlier = _stored_messages(k for k in keys if k[1]) if look_for_retries else {}
        first_of: dict[tuple[int, str], int] = {}
        copies: list[tuple[int, int]] = []  # (draft, the draft with the same key before it)
        requests: list[SendRequest] = []
        positions: list[int] = []
        refused: list[tuple[int, PortalError]] = []
        for index, draft in enumerate(drafts):
            try:
                request = check(draft, snapshot)
            except SessionToConfirm:
                ask.append(index)
                continue
            except PortalError as exc:
                refused.append((index, exc))
                continue
            key = keys[index]
            if key in earlier:
                outcomes[index] = Outcome(serialize_message(earlier[key], now=snapshot.now))
            elif key in first_of:
                copies.append((index, first_of[key]))
            else:
                first_of[key] = index
                requests.append(request)
                positions.append(index)
        # A refused draft may be the retry of a message stored before the refusal applied (the
        # chat has ended since, a phrase was added since): the first message stands.
        own = [keys[i] for i, why in refused if _may_be_retry(drafts[i], why, snapshot, keys[i])]
        if own:
            earlier = {**earlier, **_stored_messages(own)}
        refusals: list[audit.Entry] = []
        for index, why in refused:
            found = earlier.get(keys[index]) if keys[index] in own else None
            if found is not None:
                outcomes[index] = Outcome(serialize_message(found, now=snapshot.now))
                continue
            outcomes[index] = Outcome(error=why)
            if isinstance(why, Restricted):
                refusals.append(_refusal_record(drafts[index], why, snapshot))
        for index, outcome in zip(
            positions, store(requests, now=snapshot.now, refusals=refusals), strict=True
        ):
            outcomes[index] = outcome
        for index, first in copies:
            done = cast(Outcome, outcomes[first])
            outcomes[index] = Outcome(done.message, created=False, error=done.error)
    for index in ask:
        outcomes[index] = _after_session_check(drafts[index])
    return [cast(Outcome, o) for o in outcomes]


def _after_session_check(draft: Draft) -> Outcome:
    # After the batch's commit: find_live commits what it finds (a use, a revocation), and the
    # draft then goes alone; its failure is its own, never the batch's.
    assert draft.session_id is not None
    try:
        if sessions.find_live(draft.session_id) is None:  # revoked if it just expired
            return Outcome(error=SessionEnded())
        return _send([draft], look_for_retries=True, confirmed=[draft.session_id])[0]
    except Exception as exc:  # answered to its own sender ("unavailable"), and logged there
        db.session.rollback()
        return Outcome(error=exc)


def _canonical(client_id: Any) -> str:
    try:
        return check_client_id(client_id)
    except InvalidInput:
        return ""


def _may_be_retry(draft: Draft, exc: PortalError, snapshot: Snapshot, key: tuple[int, str]) -> bool:
    # Only the participant's own sends, with a proper client id, from a session that stands.
    return bool(key[1]) and not isinstance(exc, SessionEnded) and snapshot.takes_part(draft)


def _stored_messages(keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Message]:
    """The stored messages of ``(sender, client id)`` pairs, by pair."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = db.session.scalars(
        select(Message).where(
            Message.sender_id.in_(sorted({s for s, _ in wanted})),
            Message.client_id.in_(sorted({c for _, c in wanted})),
        )
    )
    return {(m.sender_id, m.client_id): m for m in rows if (m.sender_id, m.client_id) in wanted}


def _refusal_record(draft: Draft, refusal: Restricted, snapshot: Snapshot) -> audit.Entry:
    conversation = snapshot.conversations[draft.conversation_id]
    sender = cast(Participant, conversation.participant(draft.sender_id))
    return audit.Entry(
        actor_id=sender.id,
        actor_label=sender.email,
        action="chat.message_refused",
        target_type=cast(Table, Conversation.__table__).name,
        target_id=str(conversation.id),
        details={"phrase": refusal.phrase, "matched": refusal.matched},
    )


def send_message(
    actor: User,
    conversation_id: Any,
    *,
    client_id: Any,
    body: Any = "",
    material_id: Any = None,
) -> tuple[dict[str, Any], bool]:
    """Send one message as ``actor`` (a batch of one: :func:`check`, then :func:`store`) and
    return ``(MESSAGE, created)``. Counts against ``CHAT_RATE_LIMIT`` (``RateLimited``).

    Idempotent: the same ``client_id`` from the same sender returns the first message and stores
    nothing. Raises what :func:`check` refuses with. Audit: ``chat.message_sent`` (and
    ``chat.message_refused`` for a restricted phrase, committed though the message is not);
    a possible adverse event opens a PV case in the same transaction. Events: ``message`` to the
    conversation's room after commit (and ``pv_case`` to the staff participant).
    """
    draft = Draft(actor.id, conversation_id, client_id, body, material_id)
    check_input(draft)
    check_rate(actor.id)
    return send_many([draft])[0].result()


# --- rate limit ----------------------------------------------------------------------------------
def check_rate(user_id: int) -> None:
    """Count one send of ``user_id`` against ``CHAT_RATE_LIMIT`` (``RateLimited`` when over),
    on ``RATELIMIT_STORAGE_URI`` (Redis: shared by every process)."""
    from limits import parse
    from limits.strategies import MovingWindowRateLimiter

    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return
    limiter = current_app.extensions.get("chat.rate_limiter")
    if limiter is None:
        # On the process's one Redis pool (blocking when all its connections are busy), so a
        # burst of sends queues for a connection instead of failing.
        storage = redis_pool.limits_storage(config["RATELIMIT_STORAGE_URI"])
        limiter = current_app.extensions.setdefault(
            "chat.rate_limiter", MovingWindowRateLimiter(storage)
        )
    if not limiter.hit(parse(config["CHAT_RATE_LIMIT"]), "chat-send", str(user_id)):
        raise RateLimited("You are sending messages too fast; wait a moment and retry.")


# --- edits and deletions -------------------------------------------------------------------------
def _own_message(actor: User, message_id: Any) -> tuple[Message, Conversation]:
    message = db.session.get(Message, message_id) if inputs.is_id(message_id) else None
    if message is None:
        raise NotFound("That message was not found.")
    conversation = get_conversation(actor, message.conversation_id)
    if message.sender_id != actor.id:
        raise PermissionDenied("You can only change your own messages.")
    if message.deleted_at is not None or message.kind is not MessageKind.TEXT:
        raise InvalidInput("This message can no longer be changed.")
    return message, conversation


def edit_message(actor: User, message_id: Any, body: Any) -> dict[str, Any]:
    """Change one's own message: the original is kept for compliance; participants see
    "edited". An edit passes the checks a new message does: open consent
    (``ConsentRequired``), the body's limits, and the restricted phrases for those policy
    screens (``Restricted``; the refusal is audited, ``chat.message_refused``, and committed).
    An edit describing a possible adverse event flags the message and opens a PV case.
    Audit: ``chat.message_edited``. Events: ``message_updated`` to the room after commit."""
    message, conversation = _own_message(actor, message_id)
    if not policy.can_send_in_conversation(actor, conversation):
        raise ConsentRequired("This chat has ended.")
    text = check_body(body)
    if policy.screens_restricted_phrases(actor):
        hit = phrases.restricted_hit(text, phrases.active_phrases())
        if hit is not None:
            _record_refusal(actor, conversation, hit)
            raise Restricted(phrases.refusal_text(hit), hit.phrase, matched=hit.matched)
    return _edit(actor, message, conversation, text)


@transactional
def _record_refusal(actor: User, conversation: Conversation, hit: detection.Hit) -> None:
    # The refusal is itself a record, committed though nothing else is.
    audit.record(
        actor, "chat.message_refused", conversation, phrase=hit.phrase, matched=hit.matched
    )


@transactional
def _edit(actor: User, message: Message, conversation: Conversation, text: str) -> dict[str, Any]:
    db.session.add(MessageRevision(message_id=message.id, kind="edit", previous_body=message.body))
    message.body = text
    message.edited_at = now = utcnow()
    audit.record(actor, "chat.message_edited", message, conversation=conversation.id)
    # An edit is something said too: a possible adverse event it adds reaches PV like a new
    # message would (a message already flagged has its case; PV sees the edit there).
    finding = safety.detect(text)
    if finding.flagged and "adverse_event" not in (message.flags or []):
        message.flags = [*(message.flags or []), "adverse_event"]
        safety.open_case(
            actor, source=safety.CaseSource.CHAT, source_ref=f"C-{conversation.id}#{message.seq}",
            text=text, reasons=finding.reasons,
            reporter=actor if policy.is_staff(actor) else conversation.hcp, received_at=now,
            conversation_id=conversation.id, message_id=message.id,
        )  # fmt: skip
    payload = serialize_message(message)
    emit("message_updated", payload, room(conversation.id))
    if finding.flagged:
        _tell_staff_of_case(conversation, message.id, message.seq)
    return with_pv_cases(actor, conversation, [payload])[0]


@transactional
def delete_message(actor: User, message_id: Any) -> dict[str, Any]:
    """Delete one's own message for the participants; the original stays for compliance.
    Audit: ``chat.message_deleted``. Events: ``message_updated`` to the room after commit."""
    message, conversation = _own_message(actor, message_id)
    db.session.add(
        MessageRevision(message_id=message.id, kind="delete", previous_body=message.body)
    )
    message.deleted_at = utcnow()
    audit.record(actor, "chat.message_deleted", message, conversation=conversation.id)
    payload = serialize_message(message)
    emit("message_updated", payload, room(conversation.id))
    return payload
