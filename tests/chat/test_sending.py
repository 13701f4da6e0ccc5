"""Sending at volume (``chat.sending``): concurrent messages share one transaction, and whatever
the batch cannot take goes the full path with the same answer as ever. Both backends."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from chat import presence, sending, services
from chat.models import Conversation, Message, RestrictedPhrase
from portal import audit
from portal.errors import NotFound
from portal.extensions import db
from portal.models import AuditRecord, OutboxMail, Role, User
from portal.safety.models import PvCase
from tests.chat.factories import active_conversation, chat_pair, send
from tests.factories import make_hcp

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


def identity(user: User) -> sending.Identity:
    return sending.Identity(user.id, user.session_version)


def pending(user: User, conversation: Conversation, body: str = BODY) -> sending.PendingMessage:
    return sending.PendingMessage(identity(user), conversation.id, str(uuid.uuid4()), body)


def stored(conversation: Conversation | None = None) -> int:
    query = select(func.count()).select_from(Message)
    if conversation is not None:
        query = query.where(Message.conversation_id == conversation.id)
    return db.session.scalar(query) or 0


def sent_audits() -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord)
            .where(AuditRecord.action == "chat.message_sent")
            .order_by(AuditRecord.id)
        )
    )


# --- the batch ------------------------------------------------------------------------------------
def test_a_batch_stores_every_message_gap_free_audited_and_emitted_after_commit(app, emitted):
    hcp_a, msl_a, first = chat()
    hcp_b, rep_b, second = chat(Role.REP)
    send(hcp_a, first, "Before the batch.")
    emitted.clear()
    batch = [
        pending(hcp_a, first), pending(msl_a, first), pending(hcp_b, second),
        pending(hcp_a, first), pending(rep_b, second),
    ]  # fmt: skip

    sending.store_batch(batch)

    assert all(p.message is not None for p in batch)
    assert [p.message["seq"] for p in batch if p.conversation_id == first.id] == [2, 3, 4]  # type: ignore[index]
    assert [p.message["seq"] for p in batch if p.conversation_id == second.id] == [1, 2]  # type: ignore[index]
    assert stored(first) == 4 and stored(second) == 2
    rows = {m.client_id: m for m in db.session.scalars(select(Message))}
    for p in batch:
        message = rows[p.client_id]
        assert p.message == services.serialize_message(message)
        assert (message.sender_id, message.body, message.flags) == (p.identity.user_id, BODY, [])
    records = sent_audits()[-5:]
    assert [r.target_id for r in records] == [str(rows[p.client_id].id) for p in _by_seq(batch)]
    assert {r.actor_id for r in records} == {hcp_a.id, msl_a.id, hcp_b.id, rep_b.id}
    assert records[0].details["conversation"] in (first.id, second.id)
    assert audit.verify().ok
    assert [(e, d["client_id"], kw["to"]) for e, d, kw in emitted] == [
        ("message", p.client_id, services.room(p.conversation_id)) for p in _by_seq(batch)
    ]
    assert db.session.get(Conversation, first.id).last_seq == 4  # type: ignore[union-attr]


def _by_seq(batch: list[sending.PendingMessage]) -> list[sending.PendingMessage]:
    order = {c: i for i, c in enumerate(dict.fromkeys(p.conversation_id for p in batch))}
    return sorted(batch, key=lambda p: (order[p.conversation_id], p.message["seq"]))  # type: ignore[index]


def test_a_failed_batch_keeps_nothing_and_leaves_every_message_to_the_full_path(app, emitted):
    hcp, msl, conversation = chat()
    first = send(hcp, conversation, "First.")
    emitted.clear()
    retry = sending.PendingMessage(identity(hcp), conversation.id, first["client_id"], "First.")
    batch = [pending(msl, conversation), retry, pending(hcp, conversation)]

    sending.store_batch(batch)  # the retry hits the unique index: the whole batch rolls back

    assert [p.message for p in batch] == [None, None, None]
    assert stored(conversation) == 1
    assert db.session.get(Conversation, conversation.id).last_seq == 1  # type: ignore[union-attr]
    assert emitted == []
    assert audit.verify().ok


def test_a_batch_leaves_out_what_only_the_full_path_may_answer(app):
    hcp, msl, conversation = chat()
    outsider = make_hcp()
    offline_hcp, offline_staff, _territory = chat_pair(Role.MSL)
    online(offline_staff)
    away = active_conversation(offline_hcp, offline_staff)
    ended_hcp, ended_msl, ended = chat()
    services.end_chat(ended_hcp, ended.id)
    stale = pending(hcp, conversation)
    stale.identity = sending.Identity(hcp.id, hcp.session_version + 1)
    twice = pending(msl, conversation)
    batch = [
        pending(outsider, conversation), stale, pending(offline_staff, away),
        pending(ended_msl, ended), pending(msl, conversation, "This cure is guaranteed."),
        twice, sending.PendingMessage(twice.identity, conversation.id, twice.client_id, BODY),
        pending(hcp, conversation),
    ]  # fmt: skip

    sending.store_batch(batch)

    # The second of two sends with one client id is a retry: the full path answers it.
    assert [p.message is not None for p in batch] == [False] * 5 + [True, False, True]
    assert stored(conversation) == 2 and stored(away) == 0 and stored(ended) == 0


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
    batch = [pending(msl, conversation)]

    sending.store_batch(batch)

    assert batch[0].message is None
    assert stored(conversation) == 0


# --- send: the full path answers as it always did -------------------------------------------
def test_send_stores_and_answers_the_message(app):
    hcp, _msl, conversation = chat()
    client_id = str(uuid.uuid4())

    message = sending.send(identity(hcp), conversation.id, client_id=client_id, body=BODY)

    assert (message["seq"], message["client_id"], message["body"]) == (1, client_id, BODY)
    assert stored(conversation) == 1


def test_resend_returns_the_first_message_and_stores_nothing(app):
    hcp, _msl, conversation = chat()
    client_id = str(uuid.uuid4())
    first = sending.send(identity(hcp), conversation.id, client_id=client_id, body=BODY)

    again = sending.send(identity(hcp), conversation.id, client_id=client_id, body=BODY)

    assert again == first
    assert stored(conversation) == 1
    assert len(sent_audits()) == 1


def test_an_offline_peer_gets_the_new_message_email(app):
    hcp, msl, _territory = chat_pair(Role.MSL)
    online(hcp)
    conversation = active_conversation(hcp, msl)

    sending.send(identity(hcp), conversation.id, client_id=str(uuid.uuid4()), body=BODY)

    mails = list(db.session.scalars(select(OutboxMail).where(OutboxMail.to == msl.email)))
    assert [m.subject for m in mails] == ["You have a new chat message"]
    assert BODY not in mails[0].body


def test_staff_restricted_phrase_is_refused_named_and_audited(app):
    _hcp, msl, conversation = chat()

    with pytest.raises(services.Restricted) as refused:
        sending.send(identity(msl), conversation.id, client_id=str(uuid.uuid4()), body="A cure!")

    assert refused.value.phrase == "cure"
    assert stored(conversation) == 0
    refusals = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "chat.message_refused")
    ).all()
    assert len(refusals) == 1


def test_adverse_event_wording_flags_the_message_and_opens_a_pv_case(app):
    hcp, _msl, conversation = chat()

    message = sending.send(
        identity(hcp), conversation.id, client_id=str(uuid.uuid4()),
        body="My patient was hospitalised after the second dose.",
    )  # fmt: skip

    assert message["flags"] == ["adverse_event"]
    assert db.session.scalar(select(func.count()).select_from(PvCase)) == 1


@pytest.mark.parametrize("change", ["password_reset", "suspended"])
def test_a_connection_whose_session_ended_cannot_send(app, change):
    hcp, _msl, conversation = chat()
    before = identity(hcp)
    if change == "password_reset":
        hcp.session_version += 1
    else:
        hcp.suspended = True
    db.session.commit()

    with pytest.raises(sending.SessionEnded):
        sending.send(before, conversation.id, client_id=str(uuid.uuid4()), body=BODY)
    assert stored(conversation) == 0


def test_someone_elses_conversation_is_not_found(app):
    _hcp, _msl, conversation = chat()
    outsider = make_hcp()
    online(outsider)

    with pytest.raises(NotFound):
        sending.send(identity(outsider), conversation.id, client_id=str(uuid.uuid4()), body=BODY)


def test_after_the_hcp_ends_the_chat_the_staff_cannot_send(app):
    hcp, msl, conversation = chat()
    services.end_chat(hcp, conversation.id)

    with pytest.raises(services.ConsentRequired):
        sending.send(identity(msl), conversation.id, client_id=str(uuid.uuid4()), body=BODY)


# --- the turn -------------------------------------------------------------------------------------
def test_concurrent_senders_share_batches_and_each_message_is_handled_once():
    batches: list[list[str]] = []

    def slow_store(batch: list[Any]) -> None:
        time.sleep(0.02)  # while one batch is stored, the other senders queue up
        batches.append([p.client_id for p in batch])

    group = sending._GroupCommit(slow_store)
    items = [sending.PendingMessage(sending.Identity(1, 1), 1, str(n), BODY) for n in range(12)]
    threads = [threading.Thread(target=group.submit, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    handled = [client_id for batch in batches for client_id in batch]
    assert sorted(handled, key=int) == [str(n) for n in range(12)]
    assert all(item.done for item in items)
    assert len(batches) < len(items)
