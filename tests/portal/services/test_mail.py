"""The mail outbox: queued in the caller's transaction, sent later, retried with backoff, never
lost."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import logging
import socket
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import OutboxMail, Role, User, utcnow
from portal.services import mail
from tests.factories import make_user

pytestmark = pytest.mark.app_config(MAIL_MAX_ATTEMPTS=8, MAIL_FROM="Portal <portal@pharma.org>")


def count_mail() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMail)) or 0


def queue(to: str = "dr.cole@clinic.org", subject: str = "Your answer is ready") -> int:
    queued = mail.enqueue(to, subject, "Sign in to read it: http://portal.test/")
    db.session.commit()
    return queued.id


def outbox(mail_id: int) -> OutboxMail:
    db.session.expire_all()
    found = db.session.get(OutboxMail, mail_id)
    assert found is not None
    return found


def free_port() -> int:
    """A loopback port that nothing listens on (bound, then closed again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def use_smtp(app: Flask, port: int) -> None:
    # The port is only known at run time, so it cannot go in an app_config marker.
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)


@dataclasses.dataclass
class Received:
    envelope_to: list[str]
    message: Message


class Recorder:
    """An SMTP handler keeping what it is sent; it refuses recipients starting with "bounce"."""

    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("bounce"):
            return "550 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Recorder]]:
    """A real SMTP server on the loopback interface, in a thread of its own."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, recorder
    finally:
        controller.stop()


# --- queueing --------------------------------------------------------------------------------


def test_queued_mail_is_kept_when_the_transaction_commits(app):
    mail_id = queue(to="dr.cole@clinic.org", subject="Your answer is ready")

    stored = outbox(mail_id)
    assert stored.to == "dr.cole@clinic.org"
    assert stored.subject == "Your answer is ready"
    assert stored.sent_at is None
    assert stored.attempts == 0


def test_mail_queued_in_a_rolled_back_transaction_is_never_sent(app):
    rep = make_user(Role.REP)
    rep.name = "Renamed"
    mail.enqueue(rep.email, "Your account changed", "Sign in to see what changed.")
    db.session.rollback()

    assert count_mail() == 0
    assert db.session.get(User, rep.id).name != "Renamed"
    assert mail.send_pending() == (0, 0)


def test_mail_leaves_together_with_the_change_that_caused_it(app):
    rep = make_user(Role.REP)
    rep.name = "Renamed"
    mail.enqueue(rep.email, "Your account changed", "Sign in to see what changed.")
    db.session.commit()

    assert count_mail() == 1
    assert db.session.get(User, rep.id).name == "Renamed"


# --- without a mail server -------------------------------------------------------------------


def test_without_a_mail_server_mail_is_delivered_to_the_log(app, caplog):
    mail_id = queue(to="dr.cole@clinic.org", subject="Your answer is ready")

    with caplog.at_level(logging.INFO, logger="portal.services.mail"):
        assert mail.send_pending() == (1, 0)

    sent = outbox(mail_id)
    assert sent.sent_at is not None
    assert sent.attempts == 1
    assert sent.last_error is None
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "dr.cole@clinic.org" in logged
    assert "Your answer is ready" in logged


def test_sent_mail_is_not_sent_again(app):
    queue()
    assert mail.send_pending() == (1, 0)
    assert mail.send_pending() == (0, 0)


def test_send_pending_sends_at_most_the_limit(app):
    first, second, third = queue(), queue(), queue()

    assert mail.send_pending(limit=2) == (2, 0)
    assert outbox(first).sent_at is not None
    assert outbox(second).sent_at is not None
    assert outbox(third).sent_at is None

    assert mail.send_pending(limit=2) == (1, 0)


def test_mail_not_yet_due_waits(app):
    mail_id = queue()
    later = utcnow() + dt.timedelta(minutes=10)
    outbox(mail_id).next_attempt_at = later
    db.session.commit()

    assert mail.send_pending() == (0, 0)
    with time_machine.travel(later + dt.timedelta(seconds=1), tick=False):
        assert mail.send_pending() == (1, 0)


def test_the_mail_command_sends_the_outbox(app):
    queue()
    queue()

    result = app.test_cli_runner().invoke(args=["mail", "send"])

    assert result.exit_code == 0, result.output
    assert "Sent 2, failed 0" in result.output
    assert count_mail() == 2
    assert mail.send_pending() == (0, 0)


# --- a mail server that does not answer ------------------------------------------------------


@pytest.mark.app_config(MAIL_USE_TLS=False)
def test_failed_delivery_keeps_the_mail_and_retries_with_backoff(app):
    use_smtp(app, free_port())
    mail_id = queue()
    start = utcnow()

    with time_machine.travel(start, tick=False):
        assert mail.send_pending() == (0, 1)
    failed = outbox(mail_id)
    assert failed.sent_at is None
    assert failed.attempts == 1
    assert failed.last_error is not None
    assert "ConnectionRefusedError" in failed.last_error
    assert failed.next_attempt_at == start + dt.timedelta(minutes=2)

    # Not due yet: nothing is tried.
    with time_machine.travel(start + dt.timedelta(minutes=1), tick=False):
        assert mail.send_pending() == (0, 0)
    assert outbox(mail_id).attempts == 1

    # Due again, still failing: the wait doubles.
    second_try = start + dt.timedelta(minutes=3)
    with time_machine.travel(second_try, tick=False):
        assert mail.send_pending() == (0, 1)
    failed = outbox(mail_id)
    assert failed.attempts == 2
    assert failed.next_attempt_at == second_try + dt.timedelta(minutes=4)

    # The server is back (here: the log); the next run delivers it.
    app.config["MAIL_SERVER"] = None
    with time_machine.travel(second_try + dt.timedelta(minutes=5), tick=False):
        assert mail.send_pending() == (1, 0)
    delivered = outbox(mail_id)
    assert delivered.sent_at is not None
    assert delivered.attempts == 3
    assert delivered.last_error is None


@pytest.mark.app_config(MAIL_USE_TLS=False, MAIL_MAX_ATTEMPTS=20)
@pytest.mark.parametrize(
    ("earlier_attempts", "wait"),
    [
        (7, dt.timedelta(minutes=256)),  # 2 ** 8 minutes
        (8, dt.timedelta(hours=6)),  # 2 ** 9 minutes would be more than six hours
        (15, dt.timedelta(hours=6)),
    ],
)
def test_backoff_stops_growing_at_six_hours(app, earlier_attempts, wait):
    use_smtp(app, free_port())
    mail_id = queue()
    outbox(mail_id).attempts = earlier_attempts
    db.session.commit()
    start = utcnow()

    with time_machine.travel(start, tick=False):
        assert mail.send_pending() == (0, 1)

    assert outbox(mail_id).next_attempt_at == start + wait


@pytest.mark.app_config(MAIL_USE_TLS=False, MAIL_MAX_ATTEMPTS=2)
def test_mail_that_keeps_failing_stays_in_the_outbox_with_its_error(app):
    use_smtp(app, free_port())
    mail_id = queue()
    start = utcnow()

    for minutes in (0, 10):
        with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
            assert mail.send_pending() == (0, 1)
    with time_machine.travel(start + dt.timedelta(days=2), tick=False):
        assert mail.send_pending() == (0, 0)

    kept = outbox(mail_id)
    assert kept.sent_at is None
    assert kept.attempts == 2
    assert kept.last_error


# --- a real SMTP server ----------------------------------------------------------------------


@pytest.mark.app_config(MAIL_USE_TLS=False)
def test_mail_is_delivered_over_smtp(app, smtp_server):
    port, server = smtp_server
    use_smtp(app, port)
    mail_id = queue(to="dr.cole@clinic.org", subject="Your answer is ready")

    assert mail.send_pending() == (1, 0)

    [received] = server.received
    assert received.envelope_to == ["dr.cole@clinic.org"]
    assert received.message["To"] == "dr.cole@clinic.org"
    assert received.message["From"] == "Portal <portal@pharma.org>"
    assert received.message["Subject"] == "Your answer is ready"
    assert "http://portal.test/" in received.message.get_payload()
    sent = outbox(mail_id)
    assert sent.sent_at is not None
    assert sent.attempts == 1


@pytest.mark.app_config(MAIL_USE_TLS=False)
def test_one_refused_mail_neither_blocks_nor_loses_the_others(app, smtp_server):
    port, server = smtp_server
    use_smtp(app, port)
    first = queue(to="dr.cole@clinic.org")
    bounced = queue(to="bounce@clinic.org")
    last = queue(to="dr.nakamura@clinic.org")

    assert mail.send_pending() == (2, 1)

    assert [r.envelope_to for r in server.received] == [
        ["dr.cole@clinic.org"],
        ["dr.nakamura@clinic.org"],
    ]
    assert outbox(first).sent_at is not None
    assert outbox(last).sent_at is not None
    refused = outbox(bounced)
    assert refused.sent_at is None
    assert refused.attempts == 1
    assert "SMTPRecipientsRefused" in (refused.last_error or "")


@pytest.mark.app_config(MAIL_USE_TLS=False)
def test_mail_that_failed_is_delivered_once_the_server_is_back(app, smtp_server):
    port, server = smtp_server
    use_smtp(app, free_port())  # wrong port first: the server is "down"
    mail_id = queue()
    start = utcnow()
    with time_machine.travel(start, tick=False):
        assert mail.send_pending() == (0, 1)

    use_smtp(app, port)
    assert mail.send_pending() == (0, 0)  # not due yet
    with time_machine.travel(start + dt.timedelta(minutes=3)):
        assert mail.send_pending() == (1, 0)

    assert len(server.received) == 1
    assert outbox(mail_id).attempts == 2
