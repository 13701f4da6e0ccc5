"""Server-side sign-in sessions: created at sign-in, checked on every request and socket event,
revoked by sign-out, password change or reset, suspension, role change, an administrator or the
user ("sign out everywhere else").

The browser's cookie carries only a random token; the database keeps its SHA-256 as the row's
primary key, so checking a request is one primary-key read. Every process reads the same row, so
a revocation holds everywhere at the next request, and the sockets opened with the session are
disconnected at once (:mod:`portal.session_sockets`).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import re
import secrets
from collections.abc import Sequence

from flask import current_app
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import joinedload

from portal import audit, policy, session_sockets
from portal.errors import NotFound
from portal.extensions import db
from portal.models import HcpProfile, User, UserSession, utcnow

TOUCH_INTERVAL = dt.timedelta(minutes=1)  # last_seen_at is written at most this often


class Reason(enum.StrEnum):
    """Why a session ended, as the audit trail and the sessions page say it."""

    SIGNED_OUT = "signed out"
    SIGNED_OUT_ELSEWHERE = "signed out from another session"
    PASSWORD_CHANGED = "password changed"  # noqa: S105 (a reason, not a password)
    PASSWORD_RESET = "password reset"  # noqa: S105
    SUSPENDED = "account suspended"
    ROLE_CHANGED = "role changed"
    TWO_FACTOR_RESET = "two-factor sign-in reset"
    ADMINISTRATOR = "signed out by an administrator"
    IDLE = "idle too long"
    EXPIRED = "lifetime reached"
    DIFFERENT_BROWSER = "different browser"


def hash_token(token: str) -> str:
    """The stored form of a session token (the row's primary key)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _user_agent_hash(user_agent: str) -> str:
    return hashlib.sha256(user_agent.encode("utf-8", "surrogatepass")).hexdigest()


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_device(user_agent: str) -> str:
    """A short description of the browser for the sessions page ("Firefox on Windows")."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return str(browser or system)
    # Something else (a script, a test client): its first word, printable only.
    first = re.sub(r"[^\w./ -]", "", user_agent.split(" ", 1)[0])[:60]
    return first or "Unknown device"


def start(user: User, *, ip: str | None, user_agent: str) -> str:
    """Open a session for ``user``, who just proved who they are (password, and the second
    factor when enrolled). Returns the token the cookie will carry; only its hash is stored.

    Audits ``session.started`` (address and device).
    """
    token = secrets.token_urlsafe(32)
    record = UserSession(
        id=hash_token(token),
        user=user,
        user_version=user.session_version,
        ip=(ip or None) and ip[:45],
        device=describe_device(user_agent)[:120],
        user_agent_hash=_user_agent_hash(user_agent),
    )
    db.session.add(record)
    audit.record(user, "session.started", user, ip=record.ip, device=record.device)
    db.session.commit()
    return token


def _idle_limit(user: User) -> dt.timedelta:
    config = current_app.config
    minutes = config["HCP_IDLE_MINUTES"] if user.is_hcp else config["STAFF_IDLE_MINUTES"]
    return dt.timedelta(minutes=int(minutes))


def _expiry_reason(record: UserSession, now: dt.datetime) -> Reason | None:
    lifetime = dt.timedelta(hours=float(current_app.config["SESSION_ABSOLUTE_HOURS"]))
    if now - record.created_at >= lifetime:
        return Reason.EXPIRED
    if now - record.last_seen_at >= _idle_limit(record.user):
        return Reason.IDLE
    return None


def _revoke(actor: User | None, records: Sequence[UserSession], reason: Reason) -> None:
    """Revoke ``records`` in the caller's transaction; their sockets close after commit."""
    now = utcnow()
    ids = []
    for record in records:
        if record.revoked_at is not None:
            continue
        record.revoked_at = now
        record.revoked_reason = reason.value
        ids.append(record.id)
        audit.record(
            actor, "session.revoked", record.user, reason=reason.value, session=record.id[:12]
        )
    session_sockets.disconnect_after_commit(db.session(), ids)


def find_current(token: str, *, user_agent: str) -> UserSession | None:
    """The live session the cookie's ``token`` names, or ``None``.

    Called for every request and socket event (the user loader). A session is live when it
    exists, is not revoked, the account is active and has not "signed out everywhere" since,
    it is younger than ``SESSION_ABSOLUTE_HOURS`` and was used within the idle limit
    (``STAFF_IDLE_MINUTES`` for staff, ``HCP_IDLE_MINUTES`` for HCPs). A session found expired,
    or presented by another browser than the one that signed in (a copied cookie), is revoked on
    the spot (``session.revoked``). ``last_seen_at`` is written at most once a minute.
    """
    if not token or len(token) > 128:
        return None
    record = db.session.scalar(_current_statement(), {"id": hash_token(token)})
    return _still_live(record, user_agent=user_agent)


@functools.cache
def _current_statement() -> Select[UserSession]:
    # One statement for the session, its user and an HCP's profile: every page needs all three.
    # Built once: it runs for every request, and building it cost as much as running it.
    return (
        select(UserSession)
        .options(
            joinedload(UserSession.user, innerjoin=True)
            .joinedload(User.hcp_profile)
            .joinedload(HcpProfile.territory)
        )
        .where(UserSession.id == bindparam("id"))
    )


def _still_live(record: UserSession | None, *, user_agent: str | None) -> UserSession | None:
    """``record`` if it is live (:func:`find_current`'s rules; the browser is compared only when
    ``user_agent`` is given), else ``None``, revoking it on the spot if it just expired."""
    if record is None or record.revoked_at is not None:
        return None
    user = record.user
    if user.suspended or user.session_version != record.user_version:
        return None
    now = utcnow()
    reason = _expiry_reason(record, now)
    if (
        reason is None
        and user_agent is not None
        and record.user_agent_hash != _user_agent_hash(user_agent)
    ):
        reason = Reason.DIFFERENT_BROWSER
    if reason is not None:
        _revoke(None, [record], reason)
        db.session.commit()
        return None
    if now - record.last_seen_at >= TOUCH_INTERVAL:
        record.last_seen_at = now
        db.session.commit()
    return record


@functools.cache
def _live_statement() -> Select[UserSession]:
    # Built once: it runs before every socket event, and building it cost a third of the check.
    return (
        select(UserSession)
        .options(joinedload(UserSession.user, innerjoin=True))
        .where(UserSession.id == bindparam("id"))
    )


def find_live(session_id: str) -> UserSession | None:
    """The session ``session_id`` (a row's primary key: the one a socket was bound to at
    connect) with its account, if it is still live; ``None`` otherwise.

    Called before every Socket.IO event acts (``chat/events.py``), so that an event arriving
    after a revocation is refused even while the disconnect is still on its way. The rules are
    :func:`find_current`'s (revoked, account suspended or signed out everywhere, idle, lifetime
    reached) in one indexed read: the row by primary key, its account joined. The browser is not
    compared again: it was at connect, and a socket cannot change it. A session found idle or
    past its lifetime is revoked on the spot (``session.revoked``), which disconnects its
    sockets; ``last_seen_at`` is written at most once a minute, so a chat in use keeps its
    session alive as pages do.
    """
    if len(session_id) != 64:
        return None
    return _still_live(db.session.scalar(_live_statement(), {"id": session_id}), user_agent=None)


def _live_query(user: User) -> list[UserSession]:
    records = db.session.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.revoked_at.is_(None),
            UserSession.user_version == user.session_version,
        )
        .order_by(UserSession.last_seen_at.desc(), UserSession.created_at.desc())
    ).all()
    now = utcnow()
    return [r for r in records if _expiry_reason(r, now) is None]


def list_sessions(user: User) -> list[UserSession]:
    """``user``'s live sessions, most recently used first (for their sessions page)."""
    return _live_query(user)


def sign_out(record: UserSession) -> None:
    """End the session ``record`` at its owner's request (sign-out). Audits ``auth.logout``
    and ``session.revoked``; its sockets are disconnected after commit."""
    audit.record(record.user, "auth.logout", record.user)
    _revoke(record.user, [record], Reason.SIGNED_OUT)
    db.session.commit()


def revoke_own(user: User, session_id: str) -> None:
    """End one of ``user``'s own sessions from the sessions page.

    Raises :class:`NotFound` for an id that is not one of their live sessions (someone else's
    looks the same as none). Audits ``session.revoked``.
    """
    record = db.session.get(UserSession, session_id) if len(session_id) == 64 else None
    if record is None or record.user_id != user.id or record.revoked_at is not None:
        raise NotFound("That session was not found.")
    _revoke(user, [record], Reason.SIGNED_OUT_ELSEWHERE)
    db.session.commit()


def revoke_others(user: User, *, keep: UserSession) -> int:
    """ "Sign out everywhere else": end every live session of ``user`` but ``keep`` (the one
    asking). Returns how many ended. Audits ``session.revoked`` for each."""
    records = [r for r in _live_query(user) if r.id != keep.id]
    _revoke(user, records, Reason.SIGNED_OUT_ELSEWHERE)
    db.session.commit()
    return len(records)


def revoke_all(
    actor: User | None, user: User, *, reason: Reason, keep: UserSession | None = None
) -> None:
    """End every session of ``user`` (but ``keep``) in the caller's transaction: for the
    services that change a password, suspend an account, change a role or reset two-factor
    sign-in. Audits ``session.revoked`` for each; sockets close after commit."""
    records = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    ).all()
    _revoke(actor, [r for r in records if keep is None or r.id != keep.id], reason)
    if keep is not None:
        keep.user_version = user.session_version  # the session asking stays open


def revoke_all_by_administrator(actor: User, user: User) -> None:
    """An administrator signs a colleague out everywhere (a lost laptop, a departure).

    Administrators only, never on themselves. Bumps ``session_version`` so that a socket
    message already on its way is refused too. Audits ``session.revoked``.
    """
    policy.require(policy.can_manage_sign_in(actor, user), "You cannot sign this account out.")
    user.session_version += 1
    revoke_all(actor, user, reason=Reason.ADMINISTRATOR)
    db.session.commit()
