"""Every role's main page runs a bounded number of SQL statements (issue 14: at most 12), so a
page that starts loading rows one by one (an N+1) fails the suite, not a benchmark run later.
``bench/pages.py`` measures the same pages' speed at demo size and at seed-scale."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event, select

from chat.models import Conversation, ConversationState
from portal.extensions import db
from portal.models import User
from portal.questions.models import Question
from portal.services import demo
from tests.conftest import IsolatedClient, login

BUDGET = 12
DEMO_PASSWORD = "demo-pass-2026"  # the demo logins


@contextmanager
def counting(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def _count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        # What was read, and how: enough to spot the statement that repeats.
        seen.append(" ".join(statement.split())[:60] + " ... " + " ".join(statement.split())[-90:])

    event.listen(db.engine, "before_cursor_execute", _count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", _count)


def _pages() -> list[tuple[str, str]]:
    hcp = db.session.scalars(select(User).where(User.email == "hcp@example.com")).one()
    question = db.session.scalar(
        select(Question.id).where(Question.hcp_id == hcp.id).order_by(Question.id.desc())
    )
    conversation = db.session.scalar(
        select(Conversation.id).where(
            Conversation.hcp_id == hcp.id, Conversation.state == ConversationState.ACTIVE
        )
    )
    return [
        ("hcp", "/"),
        ("hcp", "/library/"),
        ("hcp", "/library/?q=dosing+renal"),
        ("hcp", "/questions/"),
        ("hcp", f"/questions/{question}"),
        ("hcp", f"/chat/?conversation={conversation}"),
        ("rep", "/"),
        ("msl", "/"),
        ("msl", "/questions/queue"),
        ("mi", f"/questions/{question}"),
        ("admin", f"/admin/users/{hcp.id}"),
        ("admin", "/admin/users"),
        ("pv", "/safety/cases"),
        ("content", "/library/manage"),
        ("compliance", "/audit"),
    ]


def test_every_main_page_stays_within_its_statement_budget(app):
    demo.seed_demo()
    app.test_client_class = IsolatedClient  # each request in its own app context, as served
    pages = _pages()
    over = []
    for who, path in pages:
        client = app.test_client()
        assert login(client, f"{who}@example.com", DEMO_PASSWORD).status_code == 302, who
        client.get(path)  # the first visit may write (last seen, a view); the second only reads
        with counting(app) as seen:
            response = client.get(path)
        assert response.status_code == 200, (who, path, response.status_code)
        if len(seen) > BUDGET:
            over.append(f"{path} as {who}: {len(seen)} statements\n  " + "\n  ".join(seen))
    assert not over, "\n".join(over)
