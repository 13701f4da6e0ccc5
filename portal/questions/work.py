"""The staff's work queue: the queues, and working a question to its answer.

Claiming, replying (with materials the replier may share, and the safety attestation that may
hand the question to PV), internal notes, handing over to another team, escalating, closing. Every
public function that changes something is one unit of work
(:func:`portal.unit_of_work.transactional`): it checks policy, validates, changes state and writes
the audit record and the notifications in the same transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from flask_babel import lazy_gettext
from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, true
from sqlalchemy.orm import joinedload

from portal import audit, policy, webhooks
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import TeamKey, User, utcnow
from portal.pagination import Page, paginate
from portal.questions import facts, routing, thread
from portal.questions.models import (
    COMMERCIAL_TEAMS,
    QUEUE_TEAMS,
    Category,
    EntryKind,
    Question,
    QuestionAttachment,
    QuestionEntry,
    QuestionEvent,
    QuestionEventKind,
    QuestionStatus,
    reference_of,
    team_label,
)
from portal.safety import attestations
from portal.safety.attestations import Attestation
from portal.services import notifications, users
from portal.unit_of_work import transactional

MAX_REPLY = 20_000


MAX_NOTE = 4_000


MAX_REASON = 500


MAX_ATTACHMENTS = 5


def _queue_clause(actor: User) -> ColumnElement[bool]:
    # The SQL twin of policy.can_view_question for staff lists.
    if policy.is_read_only(actor) or policy.is_medical(actor):
        return true()
    if policy.is_commercial(actor):
        mine = [t.key for t in actor.teams if t.key in COMMERCIAL_TEAMS]
        medical = [c for c in Category if c.is_medical]
        return and_(
            Question.owner_team.in_(mine) if mine else false(),
            Question.category.not_in(medical),
            Question.off_label_flag.is_(False),
        )
    return false()


QUEUE_VIEWS = ("mine", "team", "all")
_OPEN = Question.status.in_([QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS])


def _view_clause(actor: User, view: str, team: str | None = None) -> ColumnElement[bool]:
    # Which part of the queue: assigned to the actor, one of their teams' (or one team), or all.
    if view == "mine":
        return Question.assignee_id == actor.id
    if view == "team":
        keys = [t.key for t in actor.teams if t.key in QUEUE_TEAMS]
        if team:
            keys = (
                [k for k in keys if k.value == team]
                if not policy.is_read_only(actor)
                else [k for k in QUEUE_TEAMS if k.value == team]
            )
        return Question.owner_team.in_(keys) if keys else false()
    return true()


def queue(
    actor: User,
    *,
    view: str = "mine",
    team: str | None = None,
    include_closed: bool = False,
) -> Sequence[Question]:
    """Questions for the staff queue, soonest due first.

    ``mine``: assigned to ``actor``; ``team``: the queue of one of the actor's teams (unassigned
    and assigned); ``all``: everything the actor may see. Raises ``NotFound`` for people without
    a queue.
    """
    return queue_page(
        actor, view=view, team=team, include_closed=include_closed, page_size=QUEUE_LIMIT
    ).items


QUEUE_LIMIT = 500
QUEUE_PAGE_SIZE = 50


def queue_page(
    actor: User,
    *,
    view: str = "mine",
    team: str | None = None,
    include_closed: bool = False,
    page: int = 1,
    page_size: int = QUEUE_PAGE_SIZE,
) -> Page[Question]:
    """One page of :func:`queue` (the queue page): counted in SQL, the page's rows read with
    their HCP, product and assignee in one statement. A page past the end shows the last."""
    policy.require_visible(policy.can_view_question_queue(actor), "The question queue")
    where = [_queue_clause(actor), _view_clause(actor, view, team)]
    if not include_closed:
        where.append(_OPEN)
    return paginate(
        select(Question)
        .where(*where)
        .options(
            joinedload(Question.hcp),
            joinedload(Question.assignee),
            joinedload(Question.product),
        )
        .order_by(Question.due_at, Question.id),
        page=page,
        page_size=page_size,
    )


@dataclasses.dataclass(frozen=True)
class MovedQuestion:
    """What the team a question left still knows of it: the reference, when, where to. Never the
    text, the HCP or the reasons (the medical side's to read)."""

    reference: str
    at: dt.datetime
    to_team: TeamKey
    why: str = routing.MOVED_WHY


MOVED_SCAN = 500


def moved_away(actor: User, *, limit: int = 20) -> list[MovedQuestion]:
    """Questions the routing engine moved away from ``actor``'s teams or hands, newest first
    (``policy.can_view_question_move``). Read-only; shown on the queue page."""
    if not policy.can_view_question_queue(actor):
        return []
    rerouted = select(QuestionEvent.question_id).where(
        QuestionEvent.kind == QuestionEventKind.REROUTED
    )
    # Only the id (the reference) and the routing record (the moves) are read.
    questions = db.session.execute(
        select(Question.id, Question.routing)
        .where(Question.id.in_(rerouted))
        .order_by(Question.updated_at.desc(), Question.id.desc())
        .limit(MOVED_SCAN)
    ).all()
    found = [
        MovedQuestion(
            reference=reference_of(question_id),
            at=dt.datetime.fromisoformat(move["at"]),
            to_team=TeamKey(move["to_team"]),
        )
        for question_id, routing_record in questions
        for move in (routing_record or {}).get("moves", [])
        if policy.can_view_question_move(
            actor, from_team=move["from_team"], from_assignee_id=move.get("from_assignee")
        )
    ]
    return sorted(found, key=lambda m: (m.at, m.reference), reverse=True)[:limit]


def queue_teams(actor: User) -> list[TeamKey]:
    """The queues ``actor`` may pick from."""
    if policy.is_read_only(actor):
        return list(QUEUE_TEAMS)
    return [t.key for t in actor.teams if t.key in QUEUE_TEAMS]


def reassign_choices(actor: User, question: Question) -> list[TeamKey]:
    return [t for t in QUEUE_TEAMS if policy.can_reassign_question(actor, question, t)]


def staff_dashboard(actor: User) -> dict[str, int]:
    """Counts for the home page panel, of the open questions :func:`queue` shows ``actor``:
    ``mine``, ``unassigned`` in my teams, ``open`` and ``overdue`` of either (read-only roles:
    of everything). One statement, counted by the database however long the queue."""
    policy.require_visible(policy.can_view_question_queue(actor), "The question queue")
    now = utcnow()
    mine = _view_clause(actor, "mine")
    team = _view_clause(actor, "team")
    if policy.is_read_only(actor):
        mine, team = false(), true()

    def counted(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = db.session.execute(
        select(
            counted(true()),
            counted(mine),
            counted(and_(team, Question.assignee_id.is_(None))),
            counted(and_(or_(mine, team), Question.due_at < now)),
        ).where(_queue_clause(actor), _OPEN, or_(mine, team))
    ).one()
    return {
        "open": int(row[0]),
        "mine": int(row[1]),
        "unassigned": int(row[2]),
        "overdue": int(row[3]),
    }


def _work(actor: User, question_id: int) -> Question:
    question = thread.get_question(actor, question_id)
    policy.require(
        policy.can_work_question(actor, question),
        "Only the team that owns this question can work on it.",
    )
    return question


@transactional
def claim_question(actor: User, question_id: int) -> Question:
    """Take a question from the team queue (or from a colleague on the team).

    Audit: ``question.claim``."""
    question = _work(actor, question_id)
    policy.require(policy.can_claim_question(actor, question), "It is already yours.")
    previous = question.assignee_id
    question.assignee_id = actor.id
    if question.status is QuestionStatus.RECEIVED:
        question.status = QuestionStatus.IN_PROGRESS
    question.updated_at = utcnow()
    thread.record_event(question, QuestionEventKind.CLAIMED, actor, team=question.owner_team)
    audit.record(actor, "question.claim", question, previous_assignee=previous)
    return question


def _attachable(actor: User, question: Question, material_ids: Iterable[int]) -> list[int]:
    """The materials ``actor`` may attach to an answer for this question's HCP (content's rule:
    :func:`portal.policy.can_share_material_with`); ``InvalidInput`` names the first refused."""
    from content import services as content_services  # the content package's own rules

    ids = list(dict.fromkeys(material_ids))
    if len(ids) > MAX_ATTACHMENTS:
        raise InvalidInput(f"Attach at most {MAX_ATTACHMENTS} materials.", field="materials")
    for material_id in ids:
        content_services.get_shareable_material(actor, material_id, question.hcp, field="materials")
    return ids


def shareable_materials(actor: User, question: Question) -> list[Any]:
    """The attachment list of an answer: what ``actor`` may share with the question's HCP (their
    products and side's classification; the HCP's audience, country and dates), the question's
    product first. Empty unless ``actor`` may work the question."""
    from content import services as content_services

    if not policy.can_work_question(actor, question):
        return []
    return content_services.shareable_materials(
        actor, question.hcp, first_product_id=question.product_id
    )


@transactional
def reply_to_question(
    actor: User,
    question_id: int,
    *,
    body: str,
    material_ids: Sequence[int] = (),
    attestation: Attestation | None = None,
) -> QuestionEntry:
    """Answer the HCP: sanitised rich text (Markdown), optionally with approved materials the
    replying role may share. The question becomes "answered" and the HCP is told (the e-mail
    carries no text).

    The answerer attests whether the question held an adverse event or a product complaint
    (``attestation``; missing: ``InvalidInput`` and nothing changes); a "yes" opens a PV case
    (:func:`portal.safety.attestations.attest_question`).
    Audit: ``question.reply``, ``safety.attest``. Notifies the HCP.
    """
    from content.rendering import render_markdown

    question = _work(actor, question_id)
    problems: dict[str, str] = {}
    if not body.strip():
        problems["body"] = "Write the answer before sending it."
    elif len(body) > MAX_REPLY:
        problems["body"] = f"Keep the answer under {MAX_REPLY:,} characters."
    if (p := attestations.question_attestation_problem(actor, attestation)) is not None:
        problems["attestation"] = p
    if problems:
        raise InvalidInput(next(iter(problems.values())), errors=problems)
    ids = _attachable(actor, question, material_ids)
    at = utcnow()
    entry = QuestionEntry(
        question=question, author_id=actor.id, kind=EntryKind.REPLY, body=render_markdown(body),
        side=policy.side_of(actor.role), created_at=at,
    )  # fmt: skip
    entry.attachments = [QuestionAttachment(material_id=i) for i in ids]
    db.session.add(entry)
    if question.assignee_id is None:
        question.assignee_id = actor.id
    question.status = QuestionStatus.ANSWERED
    question.answered_at = at
    if question.first_response_at is None:
        question.first_response_at = at
        question.first_response_business_minutes = _business_minutes(question, at)
    question.updated_at = at
    thread.record_event(question, QuestionEventKind.ANSWERED, actor, team=question.owner_team)
    db.session.flush()
    audit.record(actor, "question.reply", question, entry=entry.id, materials=ids)
    webhooks.publish(
        webhooks.WebhookEvent.QUESTION_ANSWERED,
        {
            "question_id": question.id,
            "reference": question.reference,
            "entry_id": entry.id,
            "answered_at": at,
        },
        side=policy.question_side(question),
    )
    assert attestation is not None  # staff answer, and staff attest (checked above)
    attestations.attest_question(actor, question, attestation, at=at, on="reply")
    notifications.notify(
        [question.hcp],
        kind="question_answered",
        title=lazy_gettext(
            "Your question %(reference)s has an answer", reference=question.reference
        ),
        endpoint="questions.detail",
        question_id=question.id,
    )
    return entry


@transactional
def add_note(actor: User, question_id: int, *, body: str) -> QuestionEntry:
    """An internal note, readable only on the writer's side of the firewall (and by compliance).

    Audit: ``question.note``."""
    question = thread.get_question(actor, question_id)
    policy.require(policy.can_add_question_note(actor, question), "You cannot add notes here.")
    if not body.strip():
        raise InvalidInput("Write the note first.", field="body")
    if len(body) > MAX_NOTE:
        raise InvalidInput(f"Keep notes under {MAX_NOTE:,} characters.", field="body")
    entry = QuestionEntry(
        question=question, author_id=actor.id, kind=EntryKind.NOTE, body=body.strip(),
        side=policy.side_of(actor.role),
    )  # fmt: skip
    db.session.add(entry)
    db.session.flush()
    audit.record(actor, "question.note", question, entry=entry.id, side=entry.side.value)
    return entry


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Give a reason: it is kept in the question's history.", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"Keep the reason under {MAX_REASON} characters.", field="reason")
    return reason


@transactional
def reassign_question(actor: User, question_id: int, *, to_team: str, reason: str) -> Question:
    """Hand the question to another answering team, with a reason. Medical and off-label
    questions are never handed to a commercial team. Within the new team the usual assignment
    applies (territory colleague or least busy, else its queue).

    Audit: ``question.reassign``. Notifies the new assignee or team.
    """
    question = _work(actor, question_id)
    if to_team not in {t.value for t in QUEUE_TEAMS}:
        raise InvalidInput("Choose a team to hand the question to.", field="to_team")
    target = TeamKey(to_team)
    if not policy.can_reassign_question(actor, question, target):
        # The owning team may work it (checked above): the team chosen is the refusal.
        raise InvalidInput(
            f"Choose another team: it is with {team_label(question.owner_team)} already, and "
            "medical and off-label questions never go to commercial teams.",
            field="to_team",
        )
    why = _reason(reason)
    previous = question.owner_team
    assignee_id, assignment = routing.assign(
        target, facts.hcp_facts(question.hcp), question.product.code if question.product else None,
        facts.staff(),
    )  # fmt: skip
    question.owner_team = target
    question.assignee_id = assignee_id
    question.status = QuestionStatus.IN_PROGRESS if assignee_id else QuestionStatus.RECEIVED
    question.updated_at = utcnow()
    question.routing = {
        **question.routing,
        "teams": [target.value, *[t for t in question.routing.get("teams", []) if t != target]],
        "reasons": [
            *question.routing.get("reasons", []),
            f"reassigned from {team_label(previous)} to {team_label(target)} by {actor.name}: "
            f"{why}",
            assignment,
        ],
    }
    thread.record_event(question, QuestionEventKind.REASSIGNED, actor, team=target, detail=why)
    audit.record(
        actor, "question.reassign", question, from_team=previous.value, to_team=target.value,
        reason=why, assignee=assignee_id,
    )  # fmt: skip
    db.session.flush()
    thread.notify_team_or_assignee(
        question,
        kind="question_reassigned",
        title=f"Question {question.reference} was handed to {team_label(target)}",
    )
    return question


@transactional
def escalate_question(actor: User, question_id: int, *, reason: str) -> Question:
    """Escalate to the owning team's lead, who gets the question assigned.

    Raises ``InvalidInput`` when the team has no lead. Audit: ``question.escalate``.
    """
    question = _work(actor, question_id)
    policy.require(policy.can_escalate_question(actor, question), "It is already escalated.")
    why = _reason(reason)
    leads = users.team_members(question.owner_team, leads_only=True)
    if not leads:
        raise InvalidInput(
            f"{team_label(question.owner_team)} has no team lead to escalate to; ask an "
            "administrator to name one.",
            field="reason",
        )
    lead = leads[0]
    question.escalated_at = utcnow()
    question.assignee_id = lead.id
    question.status = QuestionStatus.IN_PROGRESS
    question.updated_at = question.escalated_at
    thread.record_event(
        question, QuestionEventKind.ESCALATED, actor, team=question.owner_team, detail=why
    )
    audit.record(actor, "question.escalate", question, to_lead=lead.id, reason=why)
    notifications.notify(
        leads,
        kind="question_escalated",
        title=f"Question {question.reference} was escalated to you",
        endpoint="questions.detail",
        question_id=question.id,
    )
    return question


def _business_minutes(question: Question, at: dt.datetime) -> int:
    # Business time since receipt, on the calendar the owning team's due times run on (the
    # Questions dashboard's response and close times).
    hours = facts.calendar(question.owner_team).business_hours_between(question.created_at, at)
    return max(0, round(hours * 60))


@transactional
def close_question(
    actor: User, question_id: int, *, reason: str = "", attestation: Attestation | None = None
) -> Question:
    """Close a question: the HCP who asked, or the owning team.

    Staff closing it attest whether it held an adverse event or a product complaint
    (``attestation``; missing: ``InvalidInput`` and nothing changes; a "yes" opens a PV case);
    the HCP does not attest. Audit: ``question.close`` (and ``safety.attest``)."""
    question = thread.get_question(actor, question_id)
    policy.require(policy.can_close_question(actor, question), "You cannot close this question.")
    if (p := attestations.question_attestation_problem(actor, attestation)) is not None:
        raise InvalidInput(p, field="attestation")
    question.status = QuestionStatus.CLOSED
    question.closed_at = utcnow()
    question.updated_at = question.closed_at
    question.close_business_minutes = _business_minutes(question, question.closed_at)
    detail = reason.strip()[:MAX_REASON]
    thread.record_event(question, QuestionEventKind.CLOSED, actor, detail=detail)
    audit.record(actor, "question.close", question, reason=detail, by_hcp=actor.is_hcp)
    if attestation is not None and policy.must_attest_question(actor):
        attestations.attest_question(
            actor, question, attestation, at=question.closed_at, on="close"
        )
    return question
