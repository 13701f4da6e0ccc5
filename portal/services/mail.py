"""The mail outbox: queue in the caller's transaction, send later, retry on failure, lose nothing.

Mail never carries message or question text (minimum necessary): it says something happened and
links to the portal.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import or_, select

from portal.extensions import db
from portal.models import OutboxMail, utcnow

log = logging.getLogger(__name__)

MAX_BACKOFF = dt.timedelta(hours=6)


def enqueue(to: str, subject: str, body: str) -> OutboxMail:
    """Add a mail to the outbox in the caller's transaction (never commits).

    It leaves only if that transaction commits, so a rolled-back change sends nothing.
    """
    mail = OutboxMail(to=to, subject=subject, body=body)
    db.session.add(mail)
    return mail


def _deliver(mail: OutboxMail) -> None:
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        # No mail server configured: the log is the delivery channel (development, demos).
        log.info("mail to %s: %s\n%s", mail.to, mail.subject, mail.body)
        return
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message.set_content(mail.body)
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)


def send_pending(*, limit: int = 100) -> tuple[int, int]:
    """Try to send every due, unsent mail; returns ``(sent, failed)``.

    Each mail is committed on its own, so one failure neither blocks nor loses the others. A failed
    mail is retried with exponential backoff until ``MAIL_MAX_ATTEMPTS``, after which it stays in
    the outbox, unsent, with its last error, for an administrator to see.
    """
    now = utcnow()
    max_attempts = current_app.config["MAIL_MAX_ATTEMPTS"]
    due = db.session.scalars(
        select(OutboxMail)
        .where(OutboxMail.sent_at.is_(None), OutboxMail.attempts < max_attempts)
        .where(or_(OutboxMail.next_attempt_at <= now, OutboxMail.next_attempt_at.is_(None)))
        .order_by(OutboxMail.id)
        .limit(limit)
    ).all()
    sent = failed = 0
    for mail in due:
        mail.attempts += 1
        try:
            _deliver(mail)
        except (OSError, smtplib.SMTPException) as exc:
            failed += 1
            mail.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            mail.next_attempt_at = now + min(dt.timedelta(minutes=2**mail.attempts), MAX_BACKOFF)
            log.warning(
                "mail %s to %s failed (attempt %s): %s", mail.id, mail.to, mail.attempts, exc
            )
        else:
            sent += 1
            mail.sent_at = utcnow()
            mail.last_error = None
        db.session.commit()
    return sent, failed
