"""What a supervisory export covers: the filters (a date range, and optionally one HCP, staff
member, team or product), read from what a person typed, and the SQL that selects each kind of
record for them. All the filters given apply together.

- messages: sent in the range, or sent before it and edited or deleted in it, in the
  conversations in scope;
- consent periods: open at any moment of the range, in the conversations in scope;
- conversations in scope: the HCP's, the staff member's, those of the team's members, those of
  the staff who work the product (a chat carries no product);
- questions: received in the range, or before it with an entry, event or attestation in it;
  the HCP's, those the staff member was assigned, wrote in or acted on, those the team
  owns, those about the product;
- PV cases: opened in the range, linked to a question or conversation in scope, or reported by
  the HCP, reported or acknowledged by the staff member, about the product; Pharmacovigilance's
  team filter keeps every case;
- safety attestations: made in the range, on a question, conversation or call note in scope;
- call notes: that took place or were written in the range, about the HCP, by the staff member
  or a member of the team, naming the product.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, union

from chat.models import ConsentPeriod, Conversation, Message, MessageRevision
from portal.accounts.models import CallNote
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import Product, Role, Team, TeamKey, TeamMembership, User
from portal.models.user import staff_products
from portal.questions.models import Question, QuestionEntry, QuestionEvent
from portal.safety.models import PvCase, SafetyAttestation

LONGEST_RANGE_DAYS = 3660


# --- filters -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ExportFilters:
    """What to export: the days ``since``..``until`` (both included) in ``timezone``, and
    optionally one HCP, one staff member, one team, one product."""

    since: dt.date
    until: dt.date
    timezone: str = "UTC"
    hcp_id: int | None = None
    staff_id: int | None = None
    team: TeamKey | None = None
    product_id: int | None = None

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The range as UTC instants: from ``since``'s midnight to the midnight after ``until``."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        start = dt.datetime.combine(self.since, dt.time(), tzinfo=zone)
        end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "timezone": self.timezone,
            "hcp_id": self.hcp_id,
            "staff_id": self.staff_id,
            "team": None if self.team is None else str(self.team),
            "product_id": self.product_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportFilters:
        return cls(
            since=dt.date.fromisoformat(data["since"]),
            until=dt.date.fromisoformat(data["until"]),
            timezone=data.get("timezone") or "UTC",
            hcp_id=data.get("hcp_id"),
            staff_id=data.get("staff_id"),
            team=TeamKey(data["team"]) if data.get("team") else None,
            product_id=data.get("product_id"),
        )


def parse_filters(
    *,
    since: str | dt.date | None,
    until: str | dt.date | None,
    timezone: str = "UTC",
    hcp: str | None = None,
    staff: str | None = None,
    team: str | None = None,
    product: str | None = None,
) -> ExportFilters:
    """Filters from what a person typed: dates (``YYYY-MM-DD``), the HCP's and the staff
    member's e-mail addresses, a team key, a product code. Raises :class:`InvalidInput` naming
    the field for a bad date, an empty or reversed range, an unknown person, team or product."""
    errors: dict[str, str] = {}
    start = _date(since, "since", errors)
    end = _date(until, "until", errors)
    if start and end:
        if end < start:
            errors["until"] = "The end date comes before the start date."
        elif (end - start).days > LONGEST_RANGE_DAYS:
            errors["until"] = "Export at most ten years at a time."
    try:
        zoneinfo.ZoneInfo(timezone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = "Unknown time zone."
    hcp_user = _person(hcp, "hcp", errors, hcp=True)
    staff_user = _person(staff, "staff", errors, hcp=False)
    team_key: TeamKey | None = None
    if team:
        try:
            team_key = TeamKey(team.strip())
        except ValueError:
            errors["team"] = "No such team."
    product_id: int | None = None
    if product and product.strip():
        product_id = db.session.scalar(select(Product.id).where(Product.code == product.strip()))
        if product_id is None:
            errors["product"] = "No product has that code."
    if errors:
        raise InvalidInput(" ".join(errors.values()), errors=errors)
    assert start is not None and end is not None
    return ExportFilters(
        since=start,
        until=end,
        timezone=timezone or "UTC",
        hcp_id=hcp_user.id if hcp_user else None,
        staff_id=staff_user.id if staff_user else None,
        team=team_key,
        product_id=product_id,
    )


def _date(value: str | dt.date | None, field: str, errors: dict[str, str]) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if not value or not value.strip():
        errors[field] = "Give a date (YYYY-MM-DD)."
        return None
    try:
        parsed = dt.date.fromisoformat(value.strip())
    except ValueError:
        errors[field] = f"{value.strip()!r} is not a date (YYYY-MM-DD)."
        return None
    if not 1900 <= parsed.year <= 2200:
        errors[field] = "Give a date between the years 1900 and 2200."
        return None
    return parsed


def _person(email: str | None, field: str, errors: dict[str, str], *, hcp: bool) -> User | None:
    if not email or not email.strip():
        return None
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or (user.role is Role.HCP) != hcp:
        errors[field] = (
            "No HCP has that e-mail address." if hcp else "No staff member has that e-mail address."
        )
        return None
    return user


# --- which records -------------------------------------------------------------------------------
def _team_members(team: TeamKey) -> Any:
    return (
        select(TeamMembership.user_id)
        .join(Team, Team.id == TeamMembership.team_id)
        .where(Team.key == team)
    )


def _product_staff(product_id: int) -> Any:
    return select(staff_products.c.user_id).where(staff_products.c.product_id == product_id)


def _conversation_scope(f: ExportFilters) -> list[ColumnElement[bool]]:
    """Conversations in scope (on ``Conversation``): the HCP's, the staff member's, those of
    the team's members, those of the staff who work the product (chats carry no product)."""
    clauses: list[ColumnElement[bool]] = []
    if f.hcp_id is not None:
        clauses.append(Conversation.hcp_id == f.hcp_id)
    if f.staff_id is not None:
        clauses.append(Conversation.staff_id == f.staff_id)
    if f.team is not None:
        clauses.append(Conversation.staff_id.in_(_team_members(f.team)))
    if f.product_id is not None:
        clauses.append(Conversation.staff_id.in_(_product_staff(f.product_id)))
    return clauses


def _conversation_ids(f: ExportFilters) -> Any | None:
    clauses = _conversation_scope(f)
    return select(Conversation.id).where(*clauses) if clauses else None


def message_clauses(f: ExportFilters) -> list[ColumnElement[bool]]:
    """Messages sent in the range, in the conversations in scope."""
    start, end = f.bounds()
    clauses: list[ColumnElement[bool]] = [Message.sent_at >= start, Message.sent_at < end]
    scope = _conversation_ids(f)
    if scope is not None:
        clauses.append(Message.conversation_id.in_(scope))
    return clauses


def changed_message_clauses(f: ExportFilters) -> list[ColumnElement[bool]]:
    """Messages sent before the range but edited or deleted in it (a revision made in the
    range, or ``edited_at``/``deleted_at`` in it), in the conversations in scope: what was
    changed in the range is part of its record. Disjoint from :func:`message_clauses`; the
    changed ids are one ``UNION`` subquery, never a list in memory."""
    start, end = f.bounds()
    changed = union(
        select(MessageRevision.message_id).where(
            MessageRevision.at >= start, MessageRevision.at < end
        ),
        select(Message.id).where(Message.edited_at >= start, Message.edited_at < end),
        select(Message.id).where(Message.deleted_at >= start, Message.deleted_at < end),
    )
    clauses: list[ColumnElement[bool]] = [Message.sent_at < start, Message.id.in_(changed)]
    scope = _conversation_ids(f)
    if scope is not None:
        clauses.append(Message.conversation_id.in_(scope))
    return clauses


def consent_clauses(f: ExportFilters) -> list[ColumnElement[bool]]:
    """Periods open at any moment of the range."""
    start, end = f.bounds()
    clauses: list[ColumnElement[bool]] = [
        ConsentPeriod.granted_at < end,
        or_(ConsentPeriod.withdrawn_at.is_(None), ConsentPeriod.withdrawn_at >= start),
    ]
    scope = _conversation_ids(f)
    if scope is not None:
        clauses.append(ConsentPeriod.conversation_id.in_(scope))
    return clauses


def _question_scope(f: ExportFilters) -> list[ColumnElement[bool]]:
    """Questions in scope (on ``Question``), whenever: the HCP's; those the staff member was
    assigned, wrote in or acted on; those the team owns; those about the product."""
    clauses: list[ColumnElement[bool]] = []
    if f.hcp_id is not None:
        clauses.append(Question.hcp_id == f.hcp_id)
    if f.staff_id is not None:
        clauses.append(
            or_(
                Question.assignee_id == f.staff_id,
                exists().where(
                    QuestionEntry.question_id == Question.id, QuestionEntry.author_id == f.staff_id
                ),
                exists().where(
                    QuestionEvent.question_id == Question.id, QuestionEvent.actor_id == f.staff_id
                ),
            )
        )
    if f.team is not None:
        clauses.append(Question.owner_team == f.team)
    if f.product_id is not None:
        clauses.append(Question.product_id == f.product_id)
    return clauses


def question_clauses(f: ExportFilters) -> list[ColumnElement[bool]]:
    """Questions in scope received in the range, or received before it with an entry (reply,
    follow-up, note), a history event or a safety attestation in it (their ids one ``UNION``
    subquery)."""
    start, end = f.bounds()
    touched: Any = union(
        select(QuestionEntry.question_id).where(
            QuestionEntry.created_at >= start, QuestionEntry.created_at < end
        ),
        select(QuestionEvent.question_id).where(QuestionEvent.at >= start, QuestionEvent.at < end),
        select(SafetyAttestation.question_id).where(
            SafetyAttestation.question_id.is_not(None),
            SafetyAttestation.at >= start,
            SafetyAttestation.at < end,
        ),
    )
    return [
        Question.created_at < end,
        or_(Question.created_at >= start, Question.id.in_(touched)),
        *_question_scope(f),
    ]


def _call_note_scope(f: ExportFilters) -> list[ColumnElement[bool]]:
    """Call notes in scope (on ``CallNote``), whenever: about the HCP, written by the staff
    member or a member of the team. The product (a JSON list on the note) is checked on each
    note read (:func:`call_note_matches`): no portable SQL for "the list holds it"."""
    clauses: list[ColumnElement[bool]] = []
    if f.hcp_id is not None:
        clauses.append(CallNote.hcp_id == f.hcp_id)
    if f.staff_id is not None:
        clauses.append(CallNote.author_id == f.staff_id)
    if f.team is not None:
        clauses.append(CallNote.author_id.in_(_team_members(f.team)))
    return clauses


def call_note_matches(f: ExportFilters, product_ids: Sequence[int] | None) -> bool:
    """Whether a call note about ``product_ids`` passes the product filter."""
    return f.product_id is None or f.product_id in (product_ids or ())


def call_note_clauses(f: ExportFilters) -> list[ColumnElement[bool]]:
    """Call notes in scope that took place or were written in the range (then
    :func:`call_note_matches` for the product)."""
    start, end = f.bounds()
    return [
        or_(
            and_(CallNote.occurred_at >= start, CallNote.occurred_at < end),
            and_(CallNote.created_at >= start, CallNote.created_at < end),
        ),
        *_call_note_scope(f),
    ]


def attestation_clauses(f: ExportFilters) -> list[ColumnElement[bool]]:
    """Safety attestations made in the range, on any subject (question, conversation, call
    note), whose subject is in scope (then :func:`call_note_matches` for a call note's
    product)."""
    start, end = f.bounds()
    clauses: list[ColumnElement[bool]] = [SafetyAttestation.at >= start, SafetyAttestation.at < end]
    if f.hcp_id is None and f.staff_id is None and f.team is None and f.product_id is None:
        return clauses
    subjects: list[ColumnElement[bool]] = [
        SafetyAttestation.question_id.in_(select(Question.id).where(*_question_scope(f))),
        SafetyAttestation.call_note_id.in_(select(CallNote.id).where(*_call_note_scope(f))),
    ]
    conversations = _conversation_ids(f)
    if conversations is not None:
        subjects.append(SafetyAttestation.conversation_id.in_(conversations))
    clauses.append(or_(*subjects))
    return clauses


def pv_clauses(f: ExportFilters) -> list[ColumnElement[bool]]:
    """PV cases opened in the range that come from a question or conversation in scope, or that
    the HCP reported, the staff member reported or acknowledged, the product is suspected in.
    Pharmacovigilance's own team filter keeps every case (they work them all)."""
    start, end = f.bounds()
    clauses: list[ColumnElement[bool]] = [PvCase.created_at >= start, PvCase.created_at < end]

    def linked(question: ColumnElement[bool] | None, conversation: Any | None) -> Any:
        found: list[ColumnElement[bool]] = []
        if question is not None:
            found.append(PvCase.question_id.in_(select(Question.id).where(question)))
        if conversation is not None:
            found.append(PvCase.conversation_id.in_(conversation))
        return found

    if f.hcp_id is not None:
        clauses.append(
            or_(
                PvCase.reporter_id == f.hcp_id,
                *linked(Question.hcp_id == f.hcp_id, _ids_where(Conversation.hcp_id == f.hcp_id)),
            )
        )
    if f.staff_id is not None:
        clauses.append(
            or_(
                PvCase.reported_by_id == f.staff_id,
                PvCase.acknowledged_by_id == f.staff_id,
                *linked(
                    Question.assignee_id == f.staff_id,
                    _ids_where(Conversation.staff_id == f.staff_id),
                ),
            )
        )
    if f.team is not None and f.team is not TeamKey.PHARMACOVIGILANCE:
        clauses.append(
            or_(
                false(),
                *linked(
                    Question.owner_team == f.team,
                    _ids_where(Conversation.staff_id.in_(_team_members(f.team))),
                ),
            )
        )
    if f.product_id is not None:
        clauses.append(
            or_(
                PvCase.product_id == f.product_id,
                *linked(Question.product_id == f.product_id, None),
            )
        )
    return clauses


def _ids_where(clause: ColumnElement[bool]) -> Any:
    return select(Conversation.id).where(clause)


def _count(model: Any, clauses: Sequence[ColumnElement[bool]]) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*clauses)) or 0


def estimate_rows(f: ExportFilters) -> int:
    """How many records the export will write (the progress bar's 100 %)."""
    return (
        _count(PvCase, pv_clauses(f))
        + _count(ConsentPeriod, consent_clauses(f))
        + _count(Message, message_clauses(f))
        + _count(Message, changed_message_clauses(f))
        + _count(Question, question_clauses(f))
        + _count(SafetyAttestation, attestation_clauses(f))
        + _count(CallNote, call_note_clauses(f))
    )
