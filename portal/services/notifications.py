"""In-portal notifications (the bell) and their e-mail twins.

A notification names what happened and links to the page; it never quotes a question, an answer
or a message (minimum necessary), in the portal or in the e-mail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeAlias
from urllib.parse import urlsplit

from flask_babel import LazyString, gettext
from sqlalchemy import BindParameter, ScalarSelect, func, select, update

from portal import i18n
from portal.errors import NotFound
from portal.extensions import db
from portal.models import Notification, User, utcnow
from portal.services import mail
from portal.urls import external_url

LIST_LIMIT = 50
# A plain title, or one marked with lazy_gettext to be translated for each recipient.
Title: TypeAlias = str | LazyString


def _notify(
    user: User, *, kind: str, title: Title, endpoint: str, email: bool, **values: object
) -> None:
    url = external_url(endpoint, **values)
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    # The recipient's language, not the sender's: a lazy title is written (and stored, for the
    # bell) in it, and so is the mail.
    with i18n.for_user(user.locale, user.timezone):
        text = str(title)
        db.session.add(Notification(user_id=user.id, kind=kind, title=text, url=path))
        if email and not user.suspended:
            mail.enqueue(
                user.email,
                text,
                gettext("Hello %(name)s,", name=user.name)
                + f"\n\n{text}.\n\n"
                + gettext("Sign in to the portal to see it:\n%(url)s", url=url)
                + "\n\n"
                + gettext(
                    "For your privacy and your patients', this e-mail never contains the text "
                    "itself."
                )
                + "\n",
            )


def notify(
    users: Iterable[User],
    *,
    kind: str,
    title: Title,
    endpoint: str,
    email: bool = True,
    **values: object,
) -> int:
    """Add a notification (and queue an e-mail) for each of ``users``, in the caller's
    transaction (never commits). ``title`` must not carry question or message text; a lazy
    one (``lazy_gettext``) is written in each recipient's language. Returns
    how many people were notified (each once, however often they appear)."""
    seen: set[int] = set()
    for user in users:
        if user.id in seen:
            continue
        seen.add(user.id)
        _notify(user, kind=kind, title=title, endpoint=endpoint, email=email, **values)
    return len(seen)


def unread_count_query(user_id: int | BindParameter[int]) -> ScalarSelect[int]:
    """The SQL of a user's unread notifications (the bell's badge, written against its bound
    user id)."""
    return (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .scalar_subquery()
    )


def unread_count(user: User) -> int:
    return int(db.session.scalar(select(unread_count_query(user.id))) or 0)


def recent(user: User, *, limit: int = LIST_LIMIT) -> Sequence[Notification]:
    """The user's latest notifications, unread first."""
    return db.session.scalars(
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.read_at.is_not(None), Notification.id.desc())
        .limit(limit)
    ).all()


def open_notification(user: User, notification_id: int) -> str:
    """Mark one of ``user``'s notifications read and return where it points (404 for anyone
    else's, so ids reveal nothing)."""
    found = db.session.get(Notification, notification_id)
    if found is None or found.user_id != user.id:
        raise NotFound("That notification was not found.")
    if found.read_at is None:
        found.read_at = utcnow()
        db.session.commit()
    return found.url


def mark_all_read(user: User) -> int:
    """Mark every unread notification of ``user`` read; returns how many."""
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
