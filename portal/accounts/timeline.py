"""An HCP's record as one viewer may see it: the events of ``/hcps/<id>`` and its
``timeline.json``, newest first, a page at a time.

Event kinds (``Event.kind``, stable snake_case strings: the public contract of ``timeline.json``),
with who sees each one's content (``detail``); every viewer of the record sees that it happened:

- ``registered``, ``verified``: the HCP's account was created, an administrator verified it;
- ``material_viewed``, ``material_downloaded``, ``material_bookmarked``: the HCP's engagement;
- ``preferences_changed``: the HCP saved their contact preferences.
  (These are the HCP's own acts: content for every viewer of the record.)
- ``question_asked``, ``question_answered``, ``question_closed``: content per
  :func:`~portal.policy.can_read_question_on_record`;
- ``chat_invited``: a rep or MSL invited the HCP (content for who may read the inviter's side,
  :func:`~portal.policy.can_view_side`);
- ``chat_started``, ``chat_ended``: a consent period opened (the HCP opted in) or closed (they
  withdrew); content per :func:`~portal.policy.can_read_chat_on_record`;
- ``material_shared``, ``meeting_requested``, ``meeting_accepted``, ``meeting_declined``,
  ``call_note``: content per :func:`~portal.policy.can_view_side_record`. (A cancelled meeting
  shows as its request, its state in the detail.)

A viewer who may not see an event's content gets it with ``detail`` ``None``: a question's team
and date but never its text (a rep, of a medical question), a chat's existence and dates but not
its content (anyone but its staff participant and compliance), the other side's notes, shares,
meetings and invitations as team and date only (the colleague's name replaced by their team's).
The HCP's own acts are everyone's who may open the record. Who may open it at all is
:func:`~portal.policy.can_view_hcp_record` (everyone else: :class:`~portal.errors.NotFound`).

Paging is by an opaque cursor naming the last event shown (its time, kind and id): each source
is read with an index-friendly "before the cursor" condition and ``limit + 1`` rows (one
statement per source, actors eager-loaded), and the sources are merged here, so ties on the
time neither skip nor repeat an event.

The same events across every HCP (:func:`interactions`, the integration API's
``/api/v1/interactions``) are read by the same sources, filtered by time, kind and HCP, and shown
to an API token as its scopes allow (:class:`TokenReader`: ``portal.policy.token_*``) exactly as
the page shows them to a staff member by role (:class:`StaffReader`).

A timeline reads across features (content, questions, chat, the account team): it is the one
place that puts an HCP's whole history together, read-only.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import enum
import heapq
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Protocol

from flask_babel import gettext
from sqlalchemy import BigInteger, ColumnElement, and_, cast, literal, or_, select, true
from sqlalchemy.orm import contains_eager, joinedload

from chat.models import ConsentPeriod, Conversation, ConversationState, Invitation
from content.models import Bookmark, Material, MaterialEvent
from content.models import EventKind as MaterialEventKind
from portal import policy
from portal.accounts.models import (
    CallNote,
    MaterialShare,
    Meeting,
    MeetingState,
    PreferenceChange,
)
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import HcpProfile, Role, Team, TeamMembership, User
from portal.models.reference import TEAM_NAMES, Side, TeamKey, Verification
from portal.questions.models import Question, QuestionEventKind, team_label
from portal.questions.models import QuestionEvent as QuestionHistory

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CHAT_LIMIT = 50  # conversations listed on the page (one per colleague: a handful in practice)
_CURSOR_VERSION = "1"


class EventKind(enum.StrEnum):
    """What an event of the timeline is (the values are the public contract)."""

    REGISTERED = "registered"
    VERIFIED = "verified"
    MATERIAL_VIEWED = "material_viewed"
    MATERIAL_DOWNLOADED = "material_downloaded"
    MATERIAL_BOOKMARKED = "material_bookmarked"
    PREFERENCES_CHANGED = "preferences_changed"
    QUESTION_ASKED = "question_asked"
    QUESTION_ANSWERED = "question_answered"
    QUESTION_CLOSED = "question_closed"
    CHAT_INVITED = "chat_invited"
    CHAT_STARTED = "chat_started"
    CHAT_ENDED = "chat_ended"
    MATERIAL_SHARED = "material_shared"
    MEETING_REQUESTED = "meeting_requested"
    MEETING_ACCEPTED = "meeting_accepted"
    MEETING_DECLINED = "meeting_declined"
    CALL_NOTE = "call_note"


def iso(moment: dt.datetime | None) -> str | None:
    """A moment as the JSON shows it: UTC, ISO 8601, ending in ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who did it, as the viewer may know them: a colleague of the other side of the firewall is
    named by their team (``name`` is then the team's name)."""

    name: str
    role: Role
    side: Side

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "role": self.role.value, "side": self.side.value}


@dataclasses.dataclass(frozen=True)
class Event:
    """One event of an HCP's record as one viewer may see it. ``detail`` is ``None`` whenever
    the viewer may not see the content; ``subject`` is the record it is about (for the page's
    links, never serialised)."""

    at: dt.datetime
    kind: EventKind
    id: int
    actor: Actor
    summary: str
    detail: dict[str, Any] | None
    subject: Any = dataclasses.field(default=None, compare=False, repr=False)
    hcp_id: int = dataclasses.field(default=0, compare=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "kind": self.kind.value,
            "actor": self.actor.as_json(),
            "summary": self.summary,
            "detail": self.detail,
        }


@dataclasses.dataclass(frozen=True)
class TimelinePage:
    """A page of events, newest first; ``next`` is the cursor of the following (older) page, or
    ``None`` on the last one."""

    events: list[Event]
    next: str | None

    def as_json(self) -> dict[str, Any]:
        """The body of ``timeline.json``: ``{"events": [...], "next": cursor | null}``."""
        return {"events": [e.as_json() for e in self.events], "next": self.next}


# --- the cursor ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last event's time, kind and id (events are ordered by these three,
    newest first, so the order is total)."""

    at: dt.datetime
    kind: EventKind
    id: int

    @property
    def key(self) -> tuple[dt.datetime, str, int]:
        return (self.at, self.kind.value, self.id)

    def encode(self) -> str:
        stamp = self.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        raw = f"{_CURSOR_VERSION}|{stamp}|{self.kind.value}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Read a cursor from a URL; :class:`InvalidInput` if it is not one of ours."""
        problem = InvalidInput(gettext("That page of the history does not exist."), field="before")
        if not text or len(text) > 200:
            raise problem
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            version, stamp, kind, ident = raw.split("|")
            if version != _CURSOR_VERSION:
                raise ValueError(version)
            at = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
            number = int(ident)
            if not 0 < number < 2**63:
                raise ValueError(ident)
            return cls(at=at, kind=EventKind(kind), id=number)
        except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
            raise problem from exc


def _before(
    kind: EventKind,
    at: Any,
    ident: Any,
    cursor: Cursor | None,
) -> ColumnElement[bool]:
    """The SQL condition "this source's event comes after the cursor" (older, in page order),
    for a source whose events all have ``kind``: a range on its time column, index-friendly."""
    if cursor is None:
        return true()
    if kind.value < cursor.kind.value:
        return at <= cursor.at
    if kind.value > cursor.kind.value:
        return at < cursor.at
    return or_(at < cursor.at, and_(at == cursor.at, ident < cursor.id))


# --- the sources ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Row:
    """An event read from its source, before the viewer's view of it is built."""

    at: dt.datetime
    kind: EventKind
    id: int
    record: Any
    hcp_id: int

    @property
    def key(self) -> tuple[dt.datetime, str, int]:
        return (self.at, self.kind.value, self.id)


@dataclasses.dataclass(frozen=True)
class _Scope:
    """Whose events are read (one HCP's record, or every HCP's: ``hcp`` None) and between which
    moments (``since`` included, ``until`` excluded)."""

    hcp: User | None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def where(self, hcp_column: Any, at: Any) -> list[ColumnElement[bool]]:
        """The scope as SQL conditions on a source's HCP and time columns."""
        conditions: list[ColumnElement[bool]] = []
        if self.hcp is not None:
            conditions.append(hcp_column == self.hcp.id)
        if self.since is not None:
            conditions.append(at >= self.since)
        if self.until is not None:
            conditions.append(at < self.until)
        return conditions

    def holds(self, at: dt.datetime) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at < self.until)


Fetch = Callable[[_Scope, Cursor | None, int], list[_Row]]


def _material_events(kind: EventKind, stored: MaterialEventKind) -> Fetch:
    def fetch(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
        rows = db.session.execute(
            select(MaterialEvent, Material.title, Material.version)
            .join(Material, Material.id == MaterialEvent.material_id)
            .where(
                *scope.where(MaterialEvent.user_id, MaterialEvent.at),
                MaterialEvent.kind == stored,
                _before(kind, MaterialEvent.at, MaterialEvent.id, cursor),
            )
            .order_by(MaterialEvent.at.desc(), MaterialEvent.id.desc())
            .limit(n)
        ).all()
        return [_Row(r[0].at, kind, r[0].id, tuple(r), r[0].user_id) for r in rows]

    return fetch


# A bookmark is keyed by its HCP and family: one number orders and names it across HCPs.
_BOOKMARK_ID = cast(Bookmark.user_id, BigInteger) * literal(2**31, BigInteger) + Bookmark.family_id


def _bookmarks(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
    kind = EventKind.MATERIAL_BOOKMARKED
    title = (
        select(Material.title)
        .where(Material.family_id == Bookmark.family_id)
        .order_by(Material.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(Bookmark, title)
        .where(
            *scope.where(Bookmark.user_id, Bookmark.created_at),
            _before(kind, Bookmark.created_at, _BOOKMARK_ID, cursor),
        )
        .order_by(Bookmark.created_at.desc(), _BOOKMARK_ID.desc())
        .limit(n)
    ).all()
    return [
        _Row(r[0].created_at, kind, r[0].user_id * 2**31 + r[0].family_id, tuple(r), r[0].user_id)
        for r in rows
    ]


def _questions_asked(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
    kind = EventKind.QUESTION_ASKED
    rows = db.session.scalars(
        select(Question)
        .where(
            *scope.where(Question.hcp_id, Question.created_at),
            _before(kind, Question.created_at, Question.id, cursor),
        )
        .order_by(Question.created_at.desc(), Question.id.desc())
        .limit(n)
    ).all()
    return [_Row(q.created_at, kind, q.id, q, q.hcp_id) for q in rows]


def _question_history(kind: EventKind, stored: QuestionEventKind) -> Fetch:
    def fetch(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
        rows = db.session.scalars(
            select(QuestionHistory)
            .join(Question, Question.id == QuestionHistory.question_id)
            .options(contains_eager(QuestionHistory.question), joinedload(QuestionHistory.actor))
            .where(
                *scope.where(Question.hcp_id, QuestionHistory.at),
                QuestionHistory.kind == stored,
                _before(kind, QuestionHistory.at, QuestionHistory.id, cursor),
            )
            .order_by(QuestionHistory.at.desc(), QuestionHistory.id.desc())
            .limit(n)
        ).all()
        return [_Row(e.at, kind, e.id, e, e.question.hcp_id) for e in rows]

    return fetch


def _consents(kind: EventKind) -> Fetch:
    column = (
        ConsentPeriod.granted_at if kind is EventKind.CHAT_STARTED else ConsentPeriod.withdrawn_at
    )

    def fetch(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
        rows = db.session.execute(
            select(ConsentPeriod, Conversation)
            .join(Conversation, Conversation.id == ConsentPeriod.conversation_id)
            .options(joinedload(Conversation.staff))
            .where(
                *scope.where(Conversation.hcp_id, column),
                column.is_not(None),
                _before(kind, column, ConsentPeriod.id, cursor),
            )
            .order_by(column.desc(), ConsentPeriod.id.desc())
            .limit(n)
        ).all()
        return [_Row(getattr(r[0], column.key), kind, r[0].id, tuple(r), r[1].hcp_id) for r in rows]

    return fetch


def _invitations(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
    kind = EventKind.CHAT_INVITED
    rows = db.session.scalars(
        select(Invitation)
        .options(joinedload(Invitation.staff))
        .where(
            *scope.where(Invitation.hcp_id, Invitation.created_at),
            _before(kind, Invitation.created_at, Invitation.id, cursor),
        )
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        .limit(n)
    ).all()
    return [_Row(i.created_at, kind, i.id, i, i.hcp_id) for i in rows]


def _shares(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
    kind = EventKind.MATERIAL_SHARED
    rows = db.session.execute(
        select(MaterialShare, Material.title)
        .join(Material, Material.id == MaterialShare.material_id)
        .options(joinedload(MaterialShare.staff))
        .where(
            *scope.where(MaterialShare.hcp_id, MaterialShare.created_at),
            _before(kind, MaterialShare.created_at, MaterialShare.id, cursor),
        )
        .order_by(MaterialShare.created_at.desc(), MaterialShare.id.desc())
        .limit(n)
    ).all()
    return [_Row(r[0].created_at, kind, r[0].id, tuple(r), r[0].hcp_id) for r in rows]


def _meetings(kind: EventKind, state: MeetingState | None) -> Fetch:
    column = Meeting.created_at if state is None else Meeting.decided_at

    def fetch(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
        query = (
            select(Meeting)
            .options(joinedload(Meeting.staff), joinedload(Meeting.requested_by))
            .where(
                *scope.where(Meeting.hcp_id, column),
                column.is_not(None),
                _before(kind, column, Meeting.id, cursor),
            )
        )
        if state is not None:
            query = query.where(Meeting.state == state)
        rows = db.session.scalars(query.order_by(column.desc(), Meeting.id.desc()).limit(n)).all()
        return [_Row(getattr(m, column.key), kind, m.id, m, m.hcp_id) for m in rows]

    return fetch


def _call_notes(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
    kind = EventKind.CALL_NOTE
    rows = db.session.scalars(
        select(CallNote)
        .options(joinedload(CallNote.author))
        .where(
            *scope.where(CallNote.hcp_id, CallNote.occurred_at),
            _before(kind, CallNote.occurred_at, CallNote.id, cursor),
        )
        .order_by(CallNote.occurred_at.desc(), CallNote.id.desc())
        .limit(n)
    ).all()
    return [_Row(c.occurred_at, kind, c.id, c, c.hcp_id) for c in rows]


def _preference_changes(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
    kind = EventKind.PREFERENCES_CHANGED
    rows = db.session.scalars(
        select(PreferenceChange)
        .options(joinedload(PreferenceChange.actor))
        .where(
            *scope.where(PreferenceChange.hcp_id, PreferenceChange.at),
            _before(kind, PreferenceChange.at, PreferenceChange.id, cursor),
        )
        .order_by(PreferenceChange.at.desc(), PreferenceChange.id.desc())
        .limit(n)
    ).all()
    return [_Row(c.at, kind, c.id, c, c.hcp_id) for c in rows]


def _registrations(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
    kind = EventKind.REGISTERED
    hcp = scope.hcp
    if hcp is not None:
        # The HCP's row is loaded already (with its profile): no statement of its own.
        row = _Row(hcp.created_at, kind, hcp.id, hcp, hcp.id)
        keep = scope.holds(row.at) and (cursor is None or row.key < cursor.key)
        return [row] if keep else []
    users = db.session.scalars(
        select(User)
        .options(joinedload(User.hcp_profile))
        .where(
            User.role == Role.HCP,
            *scope.where(User.id, User.created_at),
            _before(kind, User.created_at, User.id, cursor),
        )
        .order_by(User.created_at.desc(), User.id.desc())
        .limit(n)
    ).all()
    return [_Row(u.created_at, kind, u.id, u, u.id) for u in users]


def _verifications(scope: _Scope, cursor: Cursor | None, n: int) -> list[_Row]:
    kind = EventKind.VERIFIED
    hcp = scope.hcp
    if hcp is not None:
        profile = hcp.hcp_profile
        if (
            profile is None
            or profile.verification is not Verification.VERIFIED
            or profile.verified_at is None
        ):
            return []
        row = _Row(profile.verified_at, kind, hcp.id, profile, hcp.id)
        keep = scope.holds(row.at) and (cursor is None or row.key < cursor.key)
        return [row] if keep else []
    profiles = db.session.scalars(
        select(HcpProfile)
        .options(joinedload(HcpProfile.verified_by))
        .where(
            HcpProfile.verification == Verification.VERIFIED,
            HcpProfile.verified_at.is_not(None),
            *scope.where(HcpProfile.user_id, HcpProfile.verified_at),
            _before(kind, HcpProfile.verified_at, HcpProfile.user_id, cursor),
        )
        .order_by(HcpProfile.verified_at.desc(), HcpProfile.user_id.desc())
        .limit(n)
    ).all()
    return [_Row(p.verified_at, kind, p.user_id, p, p.user_id) for p in profiles if p.verified_at]


SOURCES: tuple[tuple[EventKind, Fetch], ...] = (
    (EventKind.REGISTERED, _registrations),
    (EventKind.VERIFIED, _verifications),
    (
        EventKind.MATERIAL_VIEWED,
        _material_events(EventKind.MATERIAL_VIEWED, MaterialEventKind.VIEW),
    ),
    (
        EventKind.MATERIAL_DOWNLOADED,
        _material_events(EventKind.MATERIAL_DOWNLOADED, MaterialEventKind.DOWNLOAD),
    ),
    (EventKind.MATERIAL_BOOKMARKED, _bookmarks),
    (EventKind.PREFERENCES_CHANGED, _preference_changes),
    (EventKind.QUESTION_ASKED, _questions_asked),
    (
        EventKind.QUESTION_ANSWERED,
        _question_history(EventKind.QUESTION_ANSWERED, QuestionEventKind.ANSWERED),
    ),
    (
        EventKind.QUESTION_CLOSED,
        _question_history(EventKind.QUESTION_CLOSED, QuestionEventKind.CLOSED),
    ),
    (EventKind.CHAT_INVITED, _invitations),
    (EventKind.CHAT_STARTED, _consents(EventKind.CHAT_STARTED)),
    (EventKind.CHAT_ENDED, _consents(EventKind.CHAT_ENDED)),
    (EventKind.MATERIAL_SHARED, _shares),
    (EventKind.MEETING_REQUESTED, _meetings(EventKind.MEETING_REQUESTED, None)),
    (EventKind.MEETING_ACCEPTED, _meetings(EventKind.MEETING_ACCEPTED, MeetingState.ACCEPTED)),
    (EventKind.MEETING_DECLINED, _meetings(EventKind.MEETING_DECLINED, MeetingState.DECLINED)),
    (EventKind.CALL_NOTE, _call_notes),
)


# --- what the viewer sees ------------------------------------------------------------------------
def _team_names(users: Iterable[User]) -> dict[int, str]:
    """Each staff member's team name (their first team; their role's name if they have none),
    read in one statement."""
    staff = {u.id: u for u in users if u is not None and u.role is not Role.HCP}
    if not staff:
        return {}
    names: dict[int, str] = {}
    rows = db.session.execute(
        select(TeamMembership.user_id, Team.key)
        .join(Team, Team.id == TeamMembership.team_id)
        .where(TeamMembership.user_id.in_(staff))
        .order_by(TeamMembership.user_id, Team.id)
    ).all()
    for user_id, key in rows:
        names.setdefault(user_id, str(TEAM_NAMES.get(TeamKey(key), key)))
    for user_id, user in staff.items():
        names.setdefault(user_id, user.role.label)
    return names


class Reader(Protocol):
    """Who reads the events, and what of them: a staff member by role, an API token by scope."""

    def sees_side(self, side: Side) -> bool:
        """Records of ``side`` (notes, shares, meetings, invitations) in full, names included."""

    def reads_question(self, question: Question) -> bool:
        """A question's text, category and reference."""

    def reads_chat(self, conversation: Conversation) -> bool:
        """A chat's consent details on the record."""


@dataclasses.dataclass(frozen=True)
class StaffReader:
    """A staff member on the HCP page: :func:`~portal.policy.can_view_side`,
    :func:`~portal.policy.can_read_question_on_record`,
    :func:`~portal.policy.can_read_chat_on_record`."""

    user: User

    def sees_side(self, side: Side) -> bool:
        return policy.can_view_side(self.user, side)

    def reads_question(self, question: Question) -> bool:
        return policy.can_read_question_on_record(self.user, question)

    def reads_chat(self, conversation: Conversation) -> bool:
        return policy.can_read_chat_on_record(self.user, conversation)


@dataclasses.dataclass(frozen=True)
class TokenReader:
    """An API token: :func:`~portal.policy.token_can_view_side`,
    :func:`~portal.policy.token_can_read_question`, :func:`~portal.policy.token_can_read_chat`."""

    token: Any

    def sees_side(self, side: Side) -> bool:
        return policy.token_can_view_side(self.token, side)

    def reads_question(self, question: Question) -> bool:
        return policy.token_can_read_question(self.token, question)

    def reads_chat(self, conversation: Conversation) -> bool:
        return policy.token_can_read_chat(self.token, conversation)


@dataclasses.dataclass
class _View:
    """One reader's view of one HCP's record, with the team names of the colleagues it names."""

    reader: Reader
    hcp: User
    teams: dict[int, str]

    def person(self, user: User | None) -> Actor:
        if user is None:  # an administrator whose account was removed since
            return Actor(name=Role.ADMIN.label, role=Role.ADMIN, side=Side.NEUTRAL)
        return Actor(name=user.name, role=user.role, side=policy.side_of(user.role))

    def colleague(self, user: User, shown: bool) -> Actor:
        """A staff member, named, or (``shown`` false) by their team's name."""
        if shown or user.role is Role.HCP:
            return self.person(user)
        return Actor(name=self.team(user), role=user.role, side=policy.side_of(user.role))

    def team(self, user: User) -> str:
        return self.teams.get(user.id) or user.role.label

    def sees_side_of(self, user: User) -> bool:
        return self.reader.sees_side(policy.side_of(user.role))


def _people(row: _Row) -> list[User]:
    """The staff members an event may name (whose team names the view needs)."""
    record = row.record
    if row.kind in (EventKind.QUESTION_ANSWERED, EventKind.QUESTION_CLOSED):
        return [record.actor] if record.actor is not None else []
    if row.kind in (EventKind.CHAT_STARTED, EventKind.CHAT_ENDED):
        return [record[1].staff]
    if row.kind is EventKind.CHAT_INVITED:
        return [record.staff]
    if row.kind is EventKind.MATERIAL_SHARED:
        return [record[0].staff]
    if row.kind in (
        EventKind.MEETING_REQUESTED,
        EventKind.MEETING_ACCEPTED,
        EventKind.MEETING_DECLINED,
    ):
        return [record.staff]
    if row.kind is EventKind.CALL_NOTE:
        return [record.author]
    return []


def _build(view: _View, row: _Row) -> Event:
    builder = _BUILDERS[row.kind]
    actor, summary, detail, subject = builder(view, row.record)
    return Event(row.at, row.kind, row.id, actor, summary, detail, subject, row.hcp_id)


Built = tuple[Actor, str, dict[str, Any] | None, Any]


def _registered(view: _View, hcp: User) -> Built:
    profile = hcp.hcp_profile
    detail = {
        "email": hcp.email,
        "email_confirmed_at": iso(hcp.email_confirmed_at),
        "profession": profile.profession.value if profile else None,
        "specialty": profile.specialty if profile else None,
        "institution": profile.institution if profile else None,
        "country": profile.country if profile else None,
    }
    return view.person(hcp), gettext("Registered on the portal"), detail, hcp


def _verified(view: _View, profile: HcpProfile) -> Built:
    detail = {"npi": profile.npi, "licence_number": profile.licence_number}
    summary = gettext("Verified as a healthcare professional")
    return view.person(profile.verified_by), summary, detail, profile


def _material_event(verb: Callable[[str], str]) -> Callable[[_View, Any], Built]:
    def build(view: _View, record: tuple[MaterialEvent, str, int]) -> Built:
        event, title, version = record
        detail = {
            "material_id": event.material_id,
            "family_id": event.family_id,
            "title": title,
            "version": version,
        }
        return view.person(view.hcp), verb(title), detail, event

    return build


def _bookmarked(view: _View, record: tuple[Bookmark, str | None]) -> Built:
    bookmark, title = record
    detail = {"family_id": bookmark.family_id, "title": title}
    summary = gettext("Bookmarked “%(title)s”", title=title or "?")
    return view.person(view.hcp), summary, detail, bookmark


def _preferences(view: _View, change: PreferenceChange) -> Built:
    actor = view.person(change.actor) if change.actor is not None else view.person(view.hcp)
    return actor, gettext("Changed their contact preferences"), dict(change.state), change


def _question_detail(question: Question) -> dict[str, Any]:
    return {
        "question_id": question.id,
        "reference": question.reference,
        "category": question.category.value,
        "team": question.owner_team.value,
        "status": question.status.value,
        "text": question.text,
    }


def _asked(view: _View, question: Question) -> Built:
    team = team_label(question.owner_team)
    if view.reader.reads_question(question):
        summary = gettext(
            "Asked %(reference)s (%(category)s), to %(team)s",
            reference=question.reference, category=question.category.label, team=team,
        )  # fmt: skip
        return view.person(view.hcp), summary, _question_detail(question), question
    return view.person(view.hcp), gettext("A question to %(team)s", team=team), None, question


def _question_step(answered: bool) -> Callable[[_View, Any], Built]:
    def build(view: _View, event: QuestionHistory) -> Built:
        question = event.question
        readable = view.reader.reads_question(question)
        who = event.actor
        actor = view.colleague(who, readable) if who is not None else view.person(view.hcp)
        team = team_label(question.owner_team)
        if readable:
            summary = (
                gettext("Answered %(reference)s", reference=question.reference)
                if answered
                else gettext("Closed %(reference)s", reference=question.reference)
            )
            return actor, summary, _question_detail(question), question
        summary = (
            gettext("A question to %(team)s was answered", team=team)
            if answered
            else gettext("A question to %(team)s was closed", team=team)
        )
        return actor, summary, None, question

    return build


def _chat(started: bool) -> Callable[[_View, Any], Built]:
    def build(view: _View, record: tuple[ConsentPeriod, Conversation]) -> Built:
        period, conversation = record
        staff = conversation.staff
        partner = staff.name if view.sees_side_of(staff) else view.team(staff)
        if started:
            summary = gettext("Chat with %(name)s started", name=partner)
            if period.granted_via == "invitation":
                summary = gettext("Chat with %(name)s started (invitation accepted)", name=partner)
        else:
            summary = gettext("Chat with %(name)s ended", name=partner)
        detail = None
        if view.reader.reads_chat(conversation):
            detail = {
                "conversation_id": conversation.id,
                "with": {"name": staff.name, "role": staff.role.value},
                "state": conversation.state.value,
                "granted_at": iso(period.granted_at),
                "granted_via": period.granted_via,
                "withdrawn_at": iso(period.withdrawn_at),
                "withdrawn_via": period.withdrawn_via,
                "last_message_at": iso(conversation.last_message_at),
            }
        return view.person(view.hcp), summary, detail, conversation

    return build


def _invited(view: _View, invitation: Invitation) -> Built:
    staff = invitation.staff
    shown = view.sees_side_of(staff)
    if not shown:
        summary = gettext("An invitation to chat from %(team)s", team=view.team(staff))
        return view.colleague(staff, False), summary, None, invitation
    detail = {
        "invitation_id": invitation.id,
        "status": invitation.status.value,
        "note": invitation.note,
        "decided_at": iso(invitation.decided_at),
    }
    return view.person(staff), gettext("Invited to chat"), detail, invitation


def _shared(view: _View, record: tuple[MaterialShare, str]) -> Built:
    share, title = record
    staff = share.staff
    if not view.reader.sees_side(share.side):
        summary = gettext("A material shared by %(team)s", team=view.team(staff))
        return view.colleague(staff, False), summary, None, share
    detail = {
        "share_id": share.id,
        "material_id": share.material_id,
        "family_id": share.family_id,
        "title": title,
        "note": share.note,
        "emailed": share.emailed,
        "opened_at": iso(share.opened_at),
    }
    return view.person(staff), gettext("Shared “%(title)s”", title=title), detail, share


def _meeting(kind: EventKind) -> Callable[[_View, Any], Built]:
    def build(view: _View, meeting: Meeting) -> Built:
        staff = meeting.staff
        shown = view.reader.sees_side(meeting.side)
        if kind is EventKind.MEETING_REQUESTED:
            who = meeting.requested_by
        else:  # the party who did not ask answers
            who = staff if meeting.asked_by_hcp else view.hcp
        actor = view.colleague(who, shown)
        if not shown:
            team = view.team(staff)
            summary = {
                EventKind.MEETING_REQUESTED: gettext(
                    "A meeting with %(team)s was requested", team=team
                ),
                EventKind.MEETING_ACCEPTED: gettext(
                    "A meeting with %(team)s was accepted", team=team
                ),
                EventKind.MEETING_DECLINED: gettext(
                    "A meeting with %(team)s was declined", team=team
                ),
            }[kind]
            return actor, summary, None, meeting
        summary = {
            EventKind.MEETING_REQUESTED: gettext(
                "%(mode)s with %(name)s requested", mode=meeting.mode.label, name=staff.name
            ),
            EventKind.MEETING_ACCEPTED: gettext(
                "%(mode)s with %(name)s accepted", mode=meeting.mode.label, name=staff.name
            ),
            EventKind.MEETING_DECLINED: gettext(
                "%(mode)s with %(name)s declined", mode=meeting.mode.label, name=staff.name
            ),
        }[kind]
        detail = {
            "meeting_id": meeting.id,
            "with": {"name": staff.name, "role": staff.role.value},
            "asked_by_hcp": meeting.asked_by_hcp,
            "mode": meeting.mode.value,
            "slots": list(meeting.slots),
            "minutes": meeting.minutes,
            "topic": meeting.topic,
            "state": meeting.state.value,
            "starts_at": iso(meeting.starts_at),
        }
        return actor, summary, detail, meeting

    return build


def _call_note(view: _View, note: CallNote) -> Built:
    author = note.author
    if not view.reader.sees_side(note.side):
        summary = gettext("An interaction recorded by %(team)s", team=view.team(author))
        return view.colleague(author, False), summary, None, note
    summary = gettext("%(kind)s recorded", kind=note.kind.label)
    if note.requested_by_hcp:
        summary = gettext("%(kind)s recorded (asked for by the HCP)", kind=note.kind.label)
    detail = {
        "call_note_id": note.id,
        "interaction": note.kind.value,
        "requested_by_hcp": note.requested_by_hcp,
        "product_ids": list(note.product_ids),
        "topics": note.topics,
        "summary": note.summary,
        "follow_up": note.follow_up,
        "follow_up_due": note.follow_up_due.isoformat() if note.follow_up_due else None,
        "follow_up_done_at": iso(note.follow_up_done_at),
        "question_id": note.question_id,
    }
    return view.person(author), summary, detail, note


_BUILDERS: dict[EventKind, Callable[[_View, Any], Built]] = {
    EventKind.REGISTERED: _registered,
    EventKind.VERIFIED: _verified,
    EventKind.MATERIAL_VIEWED: _material_event(lambda t: gettext("Viewed “%(title)s”", title=t)),
    EventKind.MATERIAL_DOWNLOADED: _material_event(
        lambda t: gettext("Downloaded “%(title)s”", title=t)
    ),
    EventKind.MATERIAL_BOOKMARKED: _bookmarked,
    EventKind.PREFERENCES_CHANGED: _preferences,
    EventKind.QUESTION_ASKED: _asked,
    EventKind.QUESTION_ANSWERED: _question_step(answered=True),
    EventKind.QUESTION_CLOSED: _question_step(answered=False),
    EventKind.CHAT_INVITED: _invited,
    EventKind.CHAT_STARTED: _chat(started=True),
    EventKind.CHAT_ENDED: _chat(started=False),
    EventKind.MATERIAL_SHARED: _shared,
    EventKind.MEETING_REQUESTED: _meeting(EventKind.MEETING_REQUESTED),
    EventKind.MEETING_ACCEPTED: _meeting(EventKind.MEETING_ACCEPTED),
    EventKind.MEETING_DECLINED: _meeting(EventKind.MEETING_DECLINED),
    EventKind.CALL_NOTE: _call_note,
}


# --- the public functions ------------------------------------------------------------------------
def get_record(viewer: User, hcp_id: int) -> User:
    """The HCP whose record ``viewer`` opens (profile, territory and verifier loaded).

    :class:`NotFound` unless :func:`~portal.policy.can_view_hcp_record` allows it: an HCP (even
    about themselves), a rep of another territory, an unknown id all get the same answer."""
    hcp = db.session.scalar(
        select(User)
        .options(
            joinedload(User.hcp_profile).joinedload(HcpProfile.territory),
            joinedload(User.hcp_profile).joinedload(HcpProfile.verified_by),
        )
        .where(User.id == hcp_id)
    )
    policy.require_visible(hcp is not None and policy.can_view_hcp_record(viewer, hcp), "That HCP")
    assert hcp is not None
    return hcp


def events(
    viewer: User, hcp: User, *, before: str | None = None, limit: int = DEFAULT_LIMIT
) -> TimelinePage:
    """A page of ``hcp``'s record as ``viewer`` may see it, newest first: at most ``limit``
    events older than the cursor ``before`` (the first page without it), and the cursor of the
    next page (``None`` on the last).

    Read-only; the caller has loaded ``hcp`` with :func:`get_record` (or checked
    :func:`~portal.policy.can_view_hcp_record`, which this function asserts again:
    :class:`NotFound`). A ``before`` that is not one of ours: :class:`InvalidInput`. One
    statement per source of events, plus one for the team names of the colleagues named.
    """
    policy.require_visible(policy.can_view_hcp_record(viewer, hcp), "That HCP")
    return _page(StaffReader(viewer), _Scope(hcp), None, before, limit)


def interactions(
    reader: Reader,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    kinds: Collection[EventKind] | None = None,
    hcp_id: int | None = None,
    after: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> TimelinePage:
    """A page of every HCP's events as ``reader`` may see them, newest first (the integration
    API's ``/interactions``): at most ``limit`` events at or after ``since`` and before
    ``until``, of ``kinds`` (all: ``None``), of the HCP ``hcp_id`` (all: ``None``; an id that is
    not an HCP's: no events), following the cursor ``after`` (the previous page's ``next``).

    Read-only; the caller decides who may read at all (the API: a token's read scope). Each
    event's content is the reader's to see or not, as on the HCP page. A cursor that is not one
    of ours: :class:`InvalidInput`. One statement per source asked for, one for the HCPs of the
    page and one for the team names of the colleagues named."""
    hcp: User | None = None
    if hcp_id is not None:
        hcp = db.session.scalar(
            select(User)
            .options(joinedload(User.hcp_profile).joinedload(HcpProfile.verified_by))
            .where(User.id == hcp_id, User.role == Role.HCP)
        )
        if hcp is None:
            _check_limit(limit)
            if after is not None:
                Cursor.decode(after)
            return TimelinePage(events=[], next=None)
    return _page(reader, _Scope(hcp, since, until), kinds, after, limit)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(gettext("Ask for 1 to %(max)s events.", max=MAX_LIMIT), field="limit")


def _page(
    reader: Reader,
    scope: _Scope,
    kinds: Collection[EventKind] | None,
    after: str | None,
    limit: int,
) -> TimelinePage:
    """Read ``limit + 1`` rows from each source past the cursor, merge, build the page."""
    _check_limit(limit)
    cursor = Cursor.decode(after) if after is not None else None
    rows: list[_Row] = []
    for kind, fetch in SOURCES:
        if kinds is None or kind in kinds:
            rows.extend(fetch(scope, cursor, limit + 1))
    newest = heapq.nlargest(limit + 1, rows, key=lambda r: r.key)
    page, more = newest[:limit], len(newest) > limit
    people = [person for row in page for person in _people(row)]
    teams = _team_names(people)
    hcps = _hcps_of(scope, page)
    built = [_build(_View(reader=reader, hcp=hcps[row.hcp_id], teams=teams), row) for row in page]
    following = Cursor(page[-1].at, page[-1].kind, page[-1].id).encode() if more else None
    return TimelinePage(events=built, next=following)


def _hcps_of(scope: _Scope, page: list[_Row]) -> dict[int, User]:
    """The HCP of each event of the page (one statement, across HCPs; none for one record)."""
    if scope.hcp is not None:
        return {scope.hcp.id: scope.hcp}
    ids = {row.hcp_id for row in page}
    if not ids:
        return {}
    users = db.session.scalars(
        select(User).options(joinedload(User.hcp_profile)).where(User.id.in_(sorted(ids)))
    ).unique()
    return {user.id: user for user in users}


# --- chats per colleague (the page's consent section) --------------------------------------------
@dataclasses.dataclass(frozen=True)
class ChatState:
    """One conversation of the HCP's, as the viewer may see it: who it is with (their team, if
    the viewer may not see that side), its state, its consent periods (newest first), and
    whether the viewer may read its content (``readable``)."""

    conversation: Conversation
    with_name: str
    with_role: Role
    named: bool
    state: ConversationState
    periods: Sequence[tuple[dt.datetime, dt.datetime | None]]
    readable: bool
    mine: bool


def chats(viewer: User, hcp: User) -> list[ChatState]:
    """The HCP's conversations with colleagues (at most ``CHAT_LIMIT``, latest first), each with
    its consent dates: every viewer of the record sees that a chat exists and when; the
    colleague's name only if they may see that side; content only per
    :func:`~portal.policy.can_read_chat_on_record`. Three statements at most."""
    policy.require_visible(policy.can_view_hcp_record(viewer, hcp), "That HCP")
    conversations = db.session.scalars(
        select(Conversation)
        .options(joinedload(Conversation.staff))
        .where(Conversation.hcp_id == hcp.id)
        .order_by(Conversation.created_at.desc(), Conversation.id.desc())
        .limit(CHAT_LIMIT)
    ).all()
    if not conversations:
        return []
    periods: dict[int, list[tuple[dt.datetime, dt.datetime | None]]] = {}
    for period in db.session.scalars(
        select(ConsentPeriod)
        .where(ConsentPeriod.conversation_id.in_([c.id for c in conversations]))
        .order_by(ConsentPeriod.granted_at.desc(), ConsentPeriod.id.desc())
    ):
        periods.setdefault(period.conversation_id, []).append(
            (period.granted_at, period.withdrawn_at)
        )
    view = _View(reader=StaffReader(viewer), hcp=hcp, teams={})
    hidden = [c.staff for c in conversations if not view.sees_side_of(c.staff)]
    view.teams = _team_names(hidden)
    return [
        ChatState(
            conversation=c,
            with_name=c.staff.name if view.sees_side_of(c.staff) else view.team(c.staff),
            with_role=c.staff.role,
            named=view.sees_side_of(c.staff),
            state=c.state,
            periods=periods.get(c.id, []),
            readable=policy.can_read_chat_on_record(viewer, c),
            mine=c.staff_id == viewer.id,
        )
        for c in conversations
    ]
