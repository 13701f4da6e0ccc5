"""The mail outbox: queue in the caller's transaction, send later, retry on failure, lose nothing,
send once however many workers drain it.

Mail never carries message or question text (minimum necessary): it says something happened and
links to the portal.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from email.message import EmailMessage
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import or_, select, update

from portal.extensions import db
from portal.jobs import worker_name
from portal.models import OutboxMail, utcnow

log = logging.getLogger(__name__)

MAX_BACKOFF = dt.timedelta(hours=6)
# Far longer than one SMTP exchange (30 s timeouts): a claim outlives the send that holds it.
CLAIM_LEASE = dt.timedelta(minutes=10)


# One text attachment: (file name, MIME type with its parameters, text), e.g. a meeting's
# ("meeting.ics", "text/calendar; method=REQUEST", "BEGIN:VCALENDAR...").
Attachment = tuple[str, str, str]


def enqueue(
    to: str, subject: str, body: str, *, attachment: Attachment | None = None
) -> OutboxMail:
    """Add a mail to the outbox in the caller's transaction (never commits), with at most one
    text ``attachment`` (a calendar invitation: never a message's or a material's content).

    It leaves only if that transaction commits, so a rolled-back change sends nothing.
    """
    mail = OutboxMail(to=to, subject=subject, body=body)
    if attachment is not None:
        mail.attachment_name, mail.attachment_type, mail.attachment = attachment
    db.session.add(mail)
    return mail


class _Claimed(NamedTuple):
    """A mail this worker holds, as plain values: sending needs no further query."""

    id: int
    to: str
    subject: str
    body: str
    attempts: int
    attachment_name: str | None = None
    attachment_type: str | None = None
    attachment: str | None = None


def _attach(message: EmailMessage, name: str, mime_type: str, text: str) -> None:
    """Add the one text attachment: ``mime_type`` is ``text/<subtype>`` with any parameters
    (``text/calendar; method=REQUEST``: calendar clients read the method from it)."""
    kind, *parameters = (part.strip() for part in mime_type.split(";"))
    subtype = kind.partition("/")[2] or "plain"
    params = dict(p.partition("=")[::2] for p in parameters if "=" in p)
    message.add_attachment(text, subtype=subtype, filename=name, params=params)


def _deliver(mail: _Claimed) -> None:
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        # No mail server configured: the log is the delivery channel (development, demos).
        attached = f"\n[attached: {mail.attachment_name}]" if mail.attachment_name else ""
        log.info("mail to %s: %s\n%s%s", mail.to, mail.subject, mail.body, attached)
        return
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message.set_content(mail.body)
    if mail.attachment_name and mail.attachment is not None:
        _attach(
            message, mail.attachment_name, mail.attachment_type or "text/plain", mail.attachment
        )
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)


def send_pending(*, limit: int = 100, worker: str | None = None) -> tuple[int, int]:
    """Try to send every due, unsent mail; returns ``(sent, failed)``.

    Safe to run in any number of processes at once: each mail is claimed by one ``worker`` (a
    lease of ``CLAIM_LEASE``) before it is sent, so no two workers send the same mail; a worker
    that dies mid-send leaves its claim to expire and the mail is tried again. Each mail is
    committed on its own, so one failure neither blocks nor loses the others. A failed mail is
    retried with exponential backoff until ``MAIL_MAX_ATTEMPTS``, after which it stays in the
    outbox, unsent, with its last error, for an administrator to see.
    """
    owner = (worker or worker_name())[:120]
    sent = failed = 0
    for _ in range(limit):
        mail = _claim_next(owner)
        if mail is None:
            break
        outcome: dict[str, Any]
        try:
            _deliver(mail)
        except (OSError, smtplib.SMTPException) as exc:
            failed += 1
            wait = min(dt.timedelta(minutes=2**mail.attempts), MAX_BACKOFF)
            error = f"{type(exc).__name__}: {exc}"[:2000]
            outcome = {"last_error": error, "next_attempt_at": utcnow() + wait}
            log.warning(
                "mail %s to %s failed (attempt %s): %s", mail.id, mail.to, mail.attempts, exc
            )
        else:
            sent += 1
            outcome = {"sent_at": utcnow(), "last_error": None}
        db.session.execute(
            update(OutboxMail)
            .where(OutboxMail.id == mail.id)
            # claimed_by stays: which worker sent it.
            .values(claimed_until=None, **outcome)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    return sent, failed


def _claim_next(owner: str) -> _Claimed | None:
    """Claim the oldest due mail for ``owner`` and count the attempt (committed).

    One statement, so that it is atomic on SQLite too; on PostgreSQL ``SKIP LOCKED`` lets
    concurrent workers pass over each other's rows instead of queueing behind them.
    """
    now = utcnow()
    due = (
        select(OutboxMail.id)
        .where(
            OutboxMail.sent_at.is_(None),
            OutboxMail.attempts < current_app.config["MAIL_MAX_ATTEMPTS"],
            or_(OutboxMail.next_attempt_at <= now, OutboxMail.next_attempt_at.is_(None)),
            or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now),
        )
        .order_by(OutboxMail.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    row = db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == due)
        .values(attempts=OutboxMail.attempts + 1, claimed_by=owner, claimed_until=now + CLAIM_LEASE)
        .returning(
            OutboxMail.id,
            OutboxMail.to,
            OutboxMail.subject,
            OutboxMail.body,
            OutboxMail.attempts,
            OutboxMail.attachment_name,
            OutboxMail.attachment_type,
            OutboxMail.attachment,
        )
        .execution_options(synchronize_session=False)
    ).one_or_none()
    db.session.commit()
    return None if row is None else _Claimed._make(row)
