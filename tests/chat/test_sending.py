"""The one write path of messages (``chat.messages``: check, then store) and the socket's group
commit (``chat.sending``): a batch answers every draft as a single send would, writes in one
transaction with a fixed number of statements, and checks each socket's sign-in session in that
transaction. Both backends."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from chat import consent, conversations, history, messages, presence, sending
from chat.drafts import Draft
from chat.errors import ConsentRequired, Restricted, SessionEnded
from chat.messages import Outcome
from chat.models import Conversation, Message, RestrictedPhrase
from portal import audit
from portal.errors import InvalidInput, NotFound, PermissionDenied, PortalError
from portal.extensions import db
from portal.models import AuditRecord, OutboxMail, Role, User, UserSession, utcnow
from portal.safety.models import PvCase
from portal.services import sessions
from tests.chat.factories import active_conversation, chat_pair, send
from tests.factories import make_hcp, make_user

BODY = "Could you share the approved leaflet for the outpatient clinic?"


@pytest.fixture(autouse=True)
def _fresh_presence(app: Flask) -> Iterator[None]:
    presence.reset()
    yield
    presence.reset()


def online(*users: User) -> None:
    for user in users:
        presence.connected(user.id, f"sid-{user.id}")


@pytest.fixture(autouse=True)
def _restricted(app: Flask) -> None:
    db.session.add(RestrictedPhrase(phrase="cure", reason="No unapproved claims"))
    db.session.commit()


def chat(role: Role = Role.MSL) -> tuple[User, User, Conversation]:
    hcp, staff, _territory = chat_pair(role)
    online(hcp, staff)
    return hcp, staff, active_conversation(hcp, staff)


def signed_in(user: User) -> str:
    """A live sign-in session of ``user`` (what a socket is bound to): its id."""
    return sessions.hash_token(sessions.start(user, ip=None, user_agent="pytest"))


def draft(
    user: User, conversation: Conversation, body: str = BODY, *, session: str | None = None
) -> Draft:
    return Draft(user.id, conversation.id, str(uuid.uuid4()), body, session_id=session)


def stored(conversation: Conversation | None = None) -> int:
    query = select(func.count()).select_from(Message)
    if conversation is not None:
        query = query.where(Message.conversation_id == conversation.id)
    return db.session.scalar(query) or 0


def audits(action: str) -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
        )
    )


def errors(outcomes: Sequence[Outcome]) -> list[type[BaseException] | None]:
    return [type(o.error) if o.error is not None else None for o in outcomes]


# --- a batch --------------------------------------------------------------------------------------
def test_a_batch_stores_every_message_gap_free_audited_and_emitted_after_commit(app, emitted):
    hcp_a, msl_a, first = chat()
    hcp_b, rep_b, second = chat(Role.REP)
    send(hcp_a, first, "Before the batch.")
    emitted.clear()
    batch = [
        draft(hcp_a, first), draft(msl_a, first), draft(hcp_b, second), draft(hcp_a, first),
        draft(rep_b, second),
    ]  # fmt: skip

    outcomes = messages.send_many(batch)

    assert errors(outcomes) == [None] * 5 and all(o.created for o in outcomes)
    seqs = [o.message["seq"] for o in outcomes]  # type: ignore[index]
    assert seqs == [2, 3, 1, 4, 2]
    assert stored(first) == 4 and stored(second) == 2
    rows = {m.client_id: m for m in db.session.scalars(select(Message))}
    for d, outcome in zip(batch, outcomes, strict=True):
        message = rows[d.client_id]
        assert outcome.message == history.serialize_message(message)
        assert (message.sender_id, message.body, message.flags) == (d.sender_id, BODY, [])
    records = audits("chat.message_sent")[-5:]
    assert {r.target_id for r in records} == {str(rows[d.client_id].id) for d in batch}
    assert {r.actor_id for r in records} == {hcp_a.id, msl_a.id, hcp_b.id, rep_b.id}
    assert audit.verify().ok
    assert sorted((e, d["client_id"], kw["to"]) for e, d, kw in emitted) == sorted(
        ("message", d.client_id, conversations.room(d.conversation_id)) for d in batch
    )
    assert db.session.get(Conversation, first.id).last_seq == 4  # type: ignore[union-attr]


def test_a_batch_answers_each_draft_as_a_single_send_would(app, emitted):
    hcp, msl, conversation = chat()
    outsider = make_hcp()
    offline_hcp, offline_staff, _territory = chat_pair(Role.MSL)
    online(offline_staff)
    away = active_conversation(offline_hcp, offline_staff)
    ended_hcp, ended_msl, ended = chat()
    consent.end_chat(ended_hcp, ended.id)
    twice = draft(msl, conversation)
    batch = [
        draft(outsider, conversation), draft(offline_staff, away), draft(ended_msl, ended),
        draft(msl, conversation, "This cure is guaranteed."), twice,
        Draft(msl.id, conversation.id, twice.client_id, BODY), draft(hcp, conversation),
        Draft(hcp.id, conversation.id, "not-a-uuid", BODY),
        Draft(hcp.id, 2**40, str(uuid.uuid4()), BODY),
    ]  # fmt: skip

    outcomes = messages.send_many(batch)

    assert errors(outcomes) == [
        NotFound, None, ConsentRequired, Restricted, None, None, None, InvalidInput, NotFound
    ]  # fmt: skip
    # The second of two sends with one client id is a retry: the first message answers it.
    assert outcomes[5].message == outcomes[4].message and not outcomes[5].created
    assert stored(conversation) == 2 and stored(away) == 1 and stored(ended) == 0
    mails = db.session.scalars(select(OutboxMail).where(OutboxMail.to == offline_hcp.email))
    assert [m.subject for m in mails] == ["You have a new chat message"]
    [refused] = audits("chat.message_refused")
    assert (refused.actor_id, refused.details["phrase"]) == (msl.id, "cure")
    assert audit.verify().ok


def test_a_chat_ended_between_the_checks_and_the_write_owes_the_trail_no_record(
    app, emitted, monkeypatch
):
    # The write numbers only active conversations, and takes the audit trail's numbers in the
    # same statement on PostgreSQL: one per refusal and per message stored, never one for a
    # message that was not stored (a gap would break the chain).
    hcp, msl, conversation = chat()
    ending_hcp, ending_msl, ending = chat()
    store = messages.store

    def ended_meanwhile(*args: Any, **kwargs: Any) -> list[Outcome]:
        db.session.execute(
            Conversation.__table__.update()
            .where(Conversation.id == ending.id)
            .values(state="ended")
        )
        return store(*args, **kwargs)

    monkeypatch.setattr(messages, "store", ended_meanwhile)
    batch = [
        draft(hcp, conversation), draft(ending_hcp, ending),
        draft(msl, conversation, "This cure is guaranteed."), draft(ending_msl, ending),
    ]  # fmt: skip

    outcomes = messages.send_many(batch)

    assert errors(outcomes) == [None, ConsentRequired, Restricted, ConsentRequired]
    assert stored(conversation) == 1 and stored(ending) == 0
    assert len(audits("chat.message_sent")) == 1 and len(audits("chat.message_refused")) == 1
    assert audit.verify().ok


def test_a_retry_in_a_batch_answers_the_first_message_and_the_others_are_stored(app, emitted):
    hcp, msl, conversation = chat()
    first = send(hcp, conversation, "First.")
    emitted.clear()
    retry = Draft(hcp.id, conversation.id, first["client_id"], "First.")
    batch = [draft(msl, conversation), retry, draft(hcp, conversation)]

    outcomes = messages.send_many(batch)  # the unique index catches the retry: tried again

    assert errors(outcomes) == [None, None, None]
    assert outcomes[1].message == first and not outcomes[1].created
    assert [o.message["seq"] for o in (outcomes[0], outcomes[2])] == [2, 3]  # type: ignore[index]
    assert stored(conversation) == 3
    assert [e for e, _d, _kw in emitted] == ["message", "message"]
    assert audit.verify().ok


def test_a_retry_after_the_chat_ended_still_gets_its_acknowledgement(app):
    hcp, msl, conversation = chat()
    first = send(msl, conversation, "Sent before the end.")
    consent.end_chat(hcp, conversation.id)

    [outcome] = messages.send_many([Draft(msl.id, conversation.id, first["client_id"], "x")])

    assert outcome.message == first and not outcome.created


def test_a_chat_ended_after_the_batch_read_it_keeps_its_sequence(app, monkeypatch):
    _hcp, msl, conversation = chat()
    real_online = presence.online_among

    def end_meanwhile(user_ids: Any) -> set[int]:
        # The HCP's end_chat commits between the batch's read and its counter update.
        db.session.execute(
            Conversation.__table__.update()
            .where(Conversation.id == conversation.id)
            .values(state="ended")
        )
        return real_online(user_ids)

    monkeypatch.setattr(presence, "online_among", end_meanwhile)

    [outcome] = messages.send_many([draft(msl, conversation)])

    assert isinstance(outcome.error, ConsentRequired)
    assert stored(conversation) == 0
    assert db.session.get(Conversation, conversation.id).last_seq == 0  # type: ignore[union-attr]


def test_a_batch_costs_the_same_statements_whatever_its_size(app):
    def statements(batch: list[Draft]) -> int:
        seen: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        db.session.remove()  # nothing cached: every read goes to the database
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert errors(messages.send_many(batch)) == [None] * len(batch)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    pairs = [chat(Role.MSL if n % 2 else Role.REP) for n in range(5)]
    ids = {p[0].id: signed_in(p[0]) for p in pairs} | {p[1].id: signed_in(p[1]) for p in pairs}

    def drafts() -> list[Draft]:
        return [
            draft(user, c, session=ids[user.id]) for hcp, staff, c in pairs for user in (hcp, staff)
        ]

    one = statements(drafts()[:2])
    ten = statements(drafts())

    # One read (the conversations with their participants, receipts and bound sessions, the
    # restricted phrases and the product names); the counters and the insert; the audit
    # chain's head, then its records and new tip. On PostgreSQL the counters, the insert and
    # the audit numbers are one statement, the records and the tip another.
    assert ten == one == (3 if db.engine.dialect.name == "postgresql" else 6)


# --- the sign-in session, checked in the transaction -------------------------------------------
@pytest.mark.parametrize("change", ["sign_out", "password_reset", "suspended"])
def test_a_draft_from_a_session_that_ended_is_refused_and_stores_nothing(app, change):
    hcp, _msl, conversation = chat()
    session = signed_in(hcp)
    if change == "sign_out":
        record = db.session.get(UserSession, session)
        assert record is not None
        record.revoked_at = utcnow()
    elif change == "password_reset":
        hcp.session_version += 1
    else:
        hcp.suspended = True
    db.session.commit()

    [outcome] = messages.send_many([draft(hcp, conversation, session=session)])

    assert isinstance(outcome.error, SessionEnded)
    assert stored(conversation) == 0


def test_an_idle_session_is_judged_by_find_live_revoked_and_refused(app):
    hcp, _msl, conversation = chat()
    session = signed_in(hcp)
    record = db.session.get(UserSession, session)
    assert record is not None
    record.last_seen_at = utcnow() - (app.config["HCP_IDLE_MINUTES"] + 1) * sessions.TOUCH_INTERVAL
    db.session.commit()

    [outcome] = messages.send_many([draft(hcp, conversation, session=session)])

    assert isinstance(outcome.error, SessionEnded)
    db.session.refresh(record)
    assert record.revoked_reason == sessions.Reason.IDLE.value
    assert stored(conversation) == 0


def test_a_session_due_its_touch_is_touched_and_its_message_stored(app):
    hcp, msl, conversation = chat()
    session, other = signed_in(hcp), signed_in(msl)
    record = db.session.get(UserSession, session)
    assert record is not None
    earlier = utcnow() - 5 * sessions.TOUCH_INTERVAL
    record.last_seen_at = earlier
    db.session.commit()

    outcomes = messages.send_many(
        [draft(hcp, conversation, session=session), draft(msl, conversation, session=other)]
    )

    assert errors(outcomes) == [None, None]
    assert sorted(o.message["seq"] for o in outcomes) == [1, 2]  # type: ignore[index]
    db.session.refresh(record)
    assert record.last_seen_at > earlier


def test_a_session_of_someone_else_is_refused(app):
    hcp, msl, conversation = chat()

    [outcome] = messages.send_many([draft(hcp, conversation, session=signed_in(msl))])

    assert isinstance(outcome.error, SessionEnded)


# --- one rule, one answer, whichever way a message comes ---------------------------------------
def _through_the_group(app: Flask, user: User, conversation: Conversation, **fields: Any) -> Any:
    return sending.send(
        user.id, signed_in(user), conversation.id, client_id=str(uuid.uuid4()), **fields
    )


def _alone(app: Flask, user: User, conversation: Conversation, **fields: Any) -> Any:
    return messages.send_message(user, conversation.id, client_id=str(uuid.uuid4()), **fields)[0]


PATHS = [_through_the_group, _alone]


@pytest.mark.parametrize("path", PATHS, ids=["group commit", "send_message"])
@pytest.mark.parametrize(
    ("who", "body", "refusal"),
    [
        ("staff", "A cure!", Restricted),
        ("outsider", BODY, NotFound),
        ("compliance", BODY, PermissionDenied),
        ("hcp", "   ", InvalidInput),
        ("ended", BODY, ConsentRequired),
    ],
)
def test_every_refusal_is_the_same_on_both_paths(app, path, who, body, refusal):
    hcp, msl, conversation = chat()
    sender = {
        "staff": msl, "hcp": hcp, "outsider": make_hcp(), "compliance": make_user(Role.COMPLIANCE),
        "ended": msl,
    }[who]  # fmt: skip
    if who == "ended":
        consent.end_chat(hcp, conversation.id)

    with pytest.raises(refusal) as refused:
        path(app, sender, conversation, body=body)

    assert type(refused.value) is refusal
    assert stored(conversation) == 0
    assert len(audits("chat.message_refused")) == (1 if refusal is Restricted else 0)


@pytest.mark.parametrize("path", PATHS, ids=["group commit", "send_message"])
def test_adverse_event_wording_flags_the_message_and_opens_a_pv_case(app, path):
    hcp, msl, conversation = chat()

    message = path(app, hcp, conversation, body="My patient was hospitalised after the dose.")
    staff = path(
        app, msl, conversation, body="Did your patient report any side effects since starting?"
    )

    assert message["flags"] == staff["flags"] == ["adverse_event"]
    assert "pv_case" not in message and staff["pv_case"]["reference"].startswith("PV-")
    assert db.session.scalar(select(func.count()).select_from(PvCase)) == 2


def test_send_stores_and_answers_the_message(app):
    hcp, _msl, conversation = chat()
    client_id = str(uuid.uuid4())

    message = sending.send(hcp.id, signed_in(hcp), conversation.id, client_id=client_id, body=BODY)

    assert (message["seq"], message["client_id"], message["body"]) == (1, client_id, BODY)
    assert stored(conversation) == 1


def test_resend_returns_the_first_message_and_stores_nothing(app):
    hcp, _msl, conversation = chat()
    client_id, session = str(uuid.uuid4()), signed_in(hcp)
    first = sending.send(hcp.id, session, conversation.id, client_id=client_id, body=BODY)

    again = sending.send(hcp.id, session, conversation.id, client_id=client_id, body=BODY)

    assert again == first
    assert stored(conversation) == 1
    assert len(audits("chat.message_sent")) == 1


def test_an_offline_peer_gets_the_new_message_email(app):
    hcp, msl, _territory = chat_pair(Role.MSL)
    online(hcp)
    conversation = active_conversation(hcp, msl)

    sending.send(hcp.id, signed_in(hcp), conversation.id, client_id=str(uuid.uuid4()), body=BODY)

    mails = list(db.session.scalars(select(OutboxMail).where(OutboxMail.to == msl.email)))
    assert [m.subject for m in mails] == ["You have a new chat message"]
    assert BODY not in mails[0].body


# --- the turn -------------------------------------------------------------------------------------
def test_concurrent_senders_share_batches_and_each_message_is_handled_once():
    batches: list[list[str]] = []

    def slow_store(batch: Sequence[Draft]) -> list[Outcome]:
        time.sleep(0.02)  # while one batch is stored, the other senders queue up
        batches.append([d.client_id for d in batch])
        return [Outcome({"client_id": d.client_id}, created=True) for d in batch]

    group = sending.GroupCommit(slow_store)
    items = [sending.Pending(Draft(1, 1, str(n), BODY)) for n in range(12)]
    threads = [threading.Thread(target=group.submit, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    handled = [client_id for batch in batches for client_id in batch]
    assert sorted(handled, key=int) == [str(n) for n in range(12)]
    assert all(i.outcome and i.outcome.message == {"client_id": i.draft.client_id} for i in items)
    assert len(batches) < len(items)


def test_a_store_that_raises_answers_every_sender_of_its_batch_with_the_error():
    def broken(batch: Sequence[Draft]) -> list[Outcome]:
        raise RuntimeError("database went away")

    pending = sending.Pending(Draft(1, 1, "x", BODY))
    sending.GroupCommit(broken).submit(pending)

    assert pending.outcome is not None and isinstance(pending.outcome.error, RuntimeError)
    with pytest.raises(RuntimeError):
        pending.outcome.result()


def test_refusals_are_portal_errors_the_socket_answers_with_their_codes():
    from chat.errors import error_code

    refusals = (Restricted("x", "cure"), ConsentRequired(), SessionEnded())
    assert [error_code(e) for e in refusals] == ["restricted", "consent_required", "forbidden"]
    assert all(issubclass(e, PortalError) for e in (Restricted, ConsentRequired, SessionEnded))
