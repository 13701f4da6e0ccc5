"""A connection dropped by the database server is replaced before use (the test before use of
``portal.extensions.ping_before_use``), except where the caller retries by itself: a chat send
batch, which then stores its message on a fresh connection."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError

from chat import messages
from chat.drafts import Draft
from chat.models import Message
from portal.extensions import db, unpinged
from portal.models import Role
from tests.chat.factories import active_conversation, chat_pair

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _drop_pooled_connection() -> None:
    """End the server side of the connection the pool holds (as a restart or failover does)."""
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    db.session.remove()  # back to the pool, still looking healthy
    admin = create_engine(db.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


def test_a_dropped_connection_is_replaced_before_a_request_uses_it(app):
    _drop_pooled_connection()

    assert db.session.execute(text("SELECT 1")).scalar_one() == 1


def test_without_the_test_before_use_the_first_statement_meets_the_dropped_connection(app):
    _drop_pooled_connection()

    with unpinged(), pytest.raises(OperationalError):
        db.session.execute(text("SELECT 1"))
    db.session.rollback()
    assert db.session.execute(text("SELECT 1")).scalar_one() == 1  # the pool was renewed


def test_a_chat_send_on_a_dropped_connection_is_stored_once_on_a_fresh_one(app):
    hcp, msl, _territory = chat_pair(Role.MSL)
    draft = Draft(hcp.id, active_conversation(hcp, msl).id, str(uuid.uuid4()), "Hello.")
    _drop_pooled_connection()

    [outcome] = messages.send_many([draft])

    assert outcome.error is None and outcome.message is not None
    stored = db.session.scalars(select(Message).where(Message.client_id == draft.client_id)).all()
    assert [m.seq for m in stored] == [outcome.message["seq"]]
