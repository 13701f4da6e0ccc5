"""The home page of reps, market access and MSLs: what waits for them.

- meeting requests from HCPs waiting for their answer (and their own proposals waiting for the
  HCP's), and their chat invitations still pending;
- HCPs who asked for contact: chats HCPs started with them in the last ``ASKED_DAYS`` days (and
  the meeting requests above);
- open questions of their territories' HCPs, as the firewall allows: medical roles see every one;
  commercial roles see the commercial ones and, of the medical ones, only how many there are;
- new engagement: HCPs who opened a material this colleague shared with them, since the share,
  until the colleague marks it seen;
- follow-ups due from their call notes (:func:`portal.accounts.call_notes.follow_ups_due`).

Each list is bounded (``LIMIT`` entries and its total). The home page keeps a budget of SQL
statements (``tests/portal/test_page_statements.py``), so the short lists are read in one
``UNION ALL`` statement, each part bounded and counting its own total; the questions take one more
and the follow-ups one more.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Select,
    String,
    and_,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)

from chat.models import ConsentPeriod, Conversation, Invitation, InvitationStatus
from content.models import Material, MaterialEvent
from portal import policy
from portal.accounts import call_notes
from portal.accounts.models import CallNote, MaterialShare, Meeting, MeetingMode, MeetingState
from portal.extensions import db
from portal.models import HcpProfile, User, utcnow
from portal.questions.models import (
    COMMERCIAL_CATEGORIES,
    COMMERCIAL_TEAMS,
    Question,
    QuestionStatus,
)

LIMIT = 6  # entries per list; each list says how many there are in all
ASKED_DAYS = 7  # "HCPs who asked for contact": chats they started this long ago at most
ENGAGEMENT_DAYS = 90  # shares this recent are watched for the HCP opening them
HCP_STARTED = "hcp_started"  # ConsentPeriod.granted_via of a chat the HCP started
OPEN = (QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS)


class Kind(enum.StrEnum):
    """The short lists of the worklist (one part of the statement each)."""

    MEETING_REQUEST = "meeting_request"  # an HCP asked this colleague for a meeting
    PROPOSAL = "proposal"  # this colleague proposed; the HCP has not answered
    INVITATION = "invitation"  # this colleague's chat invitation, pending
    CHAT_STARTED = "chat_started"  # an HCP started a chat with this colleague lately
    ENGAGEMENT = "engagement"  # an HCP opened a material this colleague shared
    MEDICAL_QUESTIONS = "medical_questions"  # a count only (commercial roles)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One line of a short list: its object's id, the HCP, when, and a label (the meeting's
    mode, the material's title)."""

    ref_id: int
    hcp_id: int
    hcp_name: str
    at: dt.datetime
    label: str


@dataclasses.dataclass(frozen=True)
class Section:
    entries: list[Entry]
    total: int

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.entries))


@dataclasses.dataclass(frozen=True)
class OpenQuestion:
    """An open question of a territory HCP the viewer may read on the record; ``linked``: they may
    open it too (their team's, or medical)."""

    question: Question
    hcp_name: str
    linked: bool


@dataclasses.dataclass(frozen=True)
class Worklist:
    meeting_requests: Section
    proposals: Section
    invitations: Section
    chats_started: Section
    engagement: Section
    questions: list[OpenQuestion]
    questions_total: int
    medical_questions: int | None  # None: the viewer sees medical questions in the list
    follow_ups: list[CallNote]
    follow_ups_more: bool

    @property
    def empty(self) -> bool:
        return not (
            self.meeting_requests.total or self.proposals.total or self.invitations.total
            or self.chats_started.total or self.engagement.total or self.questions_total
            or self.medical_questions or self.follow_ups
        )  # fmt: skip


# --- the short lists, in one statement ------------------------------------------------------------
def _part(
    kind: Kind,
    ref_id: Any,
    hcp_id: Any,
    at: Any,
    label: Any,
    *,
    base: Select[Any],
    order: Any,
) -> Select[Any]:
    """One bounded part: the first ``LIMIT`` rows of ``base`` in ``order``, each carrying the
    part's total (a window count, taken before the limit)."""
    rows = (
        base.add_columns(
            cast(literal(kind.value), String(32)).label("kind"),
            cast(ref_id, Integer).label("ref_id"),
            cast(hcp_id, Integer).label("hcp_id"),
            User.name.label("hcp_name"),
            at.label("at"),
            cast(label, String(200)).label("label"),
            func.count().over().label("total"),
        )
        .join(User, User.id == hcp_id)
        .order_by(order)
        .limit(LIMIT)
        .subquery()
    )
    return select(rows)


def _meetings(staff: User, *, asked_by_hcp: bool) -> Select[Any]:
    asked = Meeting.requested_by_id == (Meeting.hcp_id if asked_by_hcp else staff.id)
    return _part(
        Kind.MEETING_REQUEST if asked_by_hcp else Kind.PROPOSAL,
        Meeting.id, Meeting.hcp_id, Meeting.created_at, Meeting.mode,
        base=select().select_from(Meeting).where(
            Meeting.staff_id == staff.id, Meeting.state == MeetingState.REQUESTED, asked
        ),
        order=Meeting.created_at,
    )  # fmt: skip


def _invitations(staff: User) -> Select[Any]:
    # Through the colleague's conversations (indexed by staff), each invitation by its pair.
    return _part(
        Kind.INVITATION, Invitation.id, Invitation.hcp_id, Invitation.created_at, null(),
        base=select().select_from(Conversation)
        .join(Invitation, and_(
            Invitation.hcp_id == Conversation.hcp_id, Invitation.staff_id == Conversation.staff_id
        ))
        .where(Conversation.staff_id == staff.id, Invitation.status == InvitationStatus.PENDING),
        order=Invitation.created_at,
    )  # fmt: skip


def _chats_started(staff: User, now: dt.datetime) -> Select[Any]:
    return _part(
        Kind.CHAT_STARTED, Conversation.id, Conversation.hcp_id, ConsentPeriod.granted_at, null(),
        base=select().select_from(Conversation)
        .join(ConsentPeriod, ConsentPeriod.conversation_id == Conversation.id)
        .where(
            Conversation.staff_id == staff.id,
            ConsentPeriod.granted_via == HCP_STARTED,
            ConsentPeriod.granted_at >= now - dt.timedelta(days=ASKED_DAYS),
        ),
        order=ConsentPeriod.granted_at.desc(),
    )  # fmt: skip


def _opened_since_shared() -> Any:
    return and_(
        MaterialEvent.user_id == MaterialShare.hcp_id,
        MaterialEvent.family_id == MaterialShare.family_id,
        MaterialEvent.at >= MaterialShare.created_at,
    )


def _engagement(staff: User, now: dt.datetime) -> Select[Any]:
    """Shares of this colleague the HCP opened since (any version of the material's family),
    not yet marked seen; ``at``: when the HCP first opened it."""
    first_open = (
        select(func.min(MaterialEvent.at))
        .where(_opened_since_shared())
        .correlate(MaterialShare)
        .scalar_subquery()
    )
    return _part(
        Kind.ENGAGEMENT, MaterialShare.id, MaterialShare.hcp_id, first_open, Material.title,
        base=select().select_from(MaterialShare)
        .join(Material, Material.id == MaterialShare.material_id)
        .where(
            MaterialShare.staff_id == staff.id,
            MaterialShare.seen_by_staff_at.is_(None),
            MaterialShare.created_at >= now - dt.timedelta(days=ENGAGEMENT_DAYS),
            # The first open, read per share from the (family, time, user) index; an EXISTS
            # here let PostgreSQL read each HCP's every view instead (10 ms at a year of data).
            first_open.is_not(None),
        ),
        order=MaterialShare.created_at.desc(),
    )  # fmt: skip


def _visible_to_commercial() -> ColumnElement[bool]:
    """The open questions a commercial colleague may read on the record, in SQL: commercial
    categories, not off-label, owned by a commercial team (a question moved to medical is owned
    by a medical team from then on). The rest is the medical side's: a count for them."""
    return and_(
        Question.category.in_(sorted(COMMERCIAL_CATEGORIES)),
        Question.off_label_flag.is_(False),
        Question.owner_team.in_(sorted(COMMERCIAL_TEAMS)),
    )


def _territory_questions(territory_ids: list[int]) -> Select[Any]:
    return (
        select()
        .select_from(Question)
        .join(HcpProfile, HcpProfile.user_id == Question.hcp_id)
        .where(HcpProfile.territory_id.in_(territory_ids), Question.status.in_(OPEN))
    )


def _medical_count(territory_ids: list[int]) -> Select[Any]:
    rows = (
        _territory_questions(territory_ids)
        .add_columns(
            cast(literal(Kind.MEDICAL_QUESTIONS.value), String(32)).label("kind"),
            cast(null(), Integer).label("ref_id"),
            cast(null(), Integer).label("hcp_id"),
            cast(null(), String(200)).label("hcp_name"),
            cast(null(), DateTime(timezone=True)).label("at"),
            cast(null(), String(200)).label("label"),
            func.count().label("total"),
        )
        .where(~_visible_to_commercial())
        .subquery()
    )
    return select(rows)


def _short_lists(staff: User, territory_ids: list[int], now: dt.datetime) -> dict[Kind, Section]:
    parts = [
        _meetings(staff, asked_by_hcp=True),
        _meetings(staff, asked_by_hcp=False),
        _invitations(staff),
        _chats_started(staff, now),
        _engagement(staff, now),
    ]
    if territory_ids and policy.is_commercial(staff):
        parts.append(_medical_count(territory_ids))
    found: dict[Kind, list[Entry]] = {kind: [] for kind in Kind}
    totals: dict[Kind, int] = dict.fromkeys(Kind, 0)
    for row in db.session.execute(union_all(*parts)):
        kind = Kind(row.kind)
        totals[kind] = int(row.total or 0)
        if row.ref_id is not None:
            at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)
            found[kind].append(Entry(row.ref_id, row.hcp_id, row.hcp_name, at, row.label or ""))
    newest_first = {Kind.CHAT_STARTED, Kind.ENGAGEMENT}
    return {
        kind: Section(
            sorted(found[kind], key=lambda e: e.at, reverse=kind in newest_first), totals[kind]
        )
        for kind in Kind
    }


def _questions(staff: User, territory_ids: list[int]) -> tuple[list[OpenQuestion], int]:
    """The open questions of the territories' HCPs the viewer may read, soonest due first."""
    if not territory_ids:
        return [], 0
    query = (
        _territory_questions(territory_ids)
        .add_columns(Question, User.name, func.count().over())
        .join(User, User.id == Question.hcp_id)
        .order_by(Question.due_at, Question.id)
        .limit(LIMIT)
    )
    if not policy.is_medical(staff):
        query = query.where(_visible_to_commercial())
    listed: list[OpenQuestion] = []
    total = 0
    for question, name, count in db.session.execute(query):
        total = int(count)
        if policy.can_read_question_on_record(staff, question):
            listed.append(OpenQuestion(question, name, policy.can_view_question(staff, question)))
    return listed, total


def worklist(staff: User, *, now: dt.datetime | None = None) -> Worklist:
    """``staff``'s worklist (reps, market access, MSLs; the caller checks the role)."""
    now = now or utcnow()
    territory_ids = [t.id for t in staff.territories]
    lists = _short_lists(staff, territory_ids, now)
    questions, questions_total = _questions(staff, territory_ids)
    follow_ups = call_notes.follow_ups_due(staff, now=now, limit=LIMIT + 1)
    commercial = policy.is_commercial(staff)
    return Worklist(
        meeting_requests=lists[Kind.MEETING_REQUEST],
        proposals=lists[Kind.PROPOSAL],
        invitations=lists[Kind.INVITATION],
        chats_started=lists[Kind.CHAT_STARTED],
        engagement=lists[Kind.ENGAGEMENT],
        questions=questions,
        questions_total=questions_total,
        medical_questions=lists[Kind.MEDICAL_QUESTIONS].total if commercial else None,
        follow_ups=follow_ups[:LIMIT],
        follow_ups_more=len(follow_ups) > LIMIT,
    )


def mode_label(value: str) -> str:
    """A meeting's mode, as read back from the worklist's statement."""
    try:
        return MeetingMode(value).label
    except ValueError:
        return value


def home_panel(user: User) -> tuple[str, dict[str, Any]] | None:
    """Reps, market access and MSLs: their worklist (everyone else: nothing)."""
    if not policy.can_view_hcp_roster(user):
        return None
    return "accounts/panels/worklist.html", {
        "work": worklist(user),
        "mode_label": mode_label,
        "asked_days": ASKED_DAYS,
    }
