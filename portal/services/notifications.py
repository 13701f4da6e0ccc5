"""In-portal notifications (the bell) and their e-mail twins.

A notification names what happened and links to the page; it never quotes a question, an answer
or a message (minimum necessary), in the portal or in the e-mail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from sqlalchemy import func, select, update

from portal.errors import NotFound
from portal.extensions import db
from portal.models import Notification, User, utcnow
from portal.services import mail
from portal.urls import external_url

LIST_LIMIT = 50


def _notify(
    user: User, *, kind: str, title: str, endpoint: str, email: bool, **values: object
) -> None:
    url = external_url(endpoint, **values)
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    db.session.add(Notification(user_id=user.id, kind=kind, title=title, url=path))
    if email and not user.suspended:
        mail.enqueue(
            user.email,
            title,
            f"Hello {user.name},\n\n{title}.\n\n"
            f"Sign in to the portal to see it:\n{url}\n\n"
            "For your privacy and your patients', this e-mail never contains the text itself.\n",
        )


def notify(
    users: Iterable[User],
    *,
    kind: str,
    title: str,
    endpoint: str,
    email: bool = True,
    **values: object,
) -> int:
    """Add a notification (and queue an e-mail) for each of ``users``, in the caller's
    transaction (never commits). ``title`` must not carry question or message text. Returns
    how many people were notified (each once, however often they appear)."""
    seen: set[int] = set()
    for user in users:
        if user.id in seen:
            continue
        seen.add(user.id)
        _notify(user, kind=kind, title=title, endpoint=endpoint, email=email, **values)
    return len(seen)


def unread_count(user: User) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        )
        or 0
    )


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
