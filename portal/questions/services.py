"""Questions: asking, routing, working the queue, answering, PV cases, overdue sweeps.

Every public function here is one unit of work: it checks policy, validates, changes state, writes
the audit record and the notifications in the same transaction, and commits. Views, the CLI and
(later) chat call these; none of them holds a rule of its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, select, true
from sqlalchemy.orm import selectinload

from portal import audit, policy
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import Product, Side, TeamKey, User, utcnow
from portal.questions import facts, routing
from portal.questions.models import (
    COMMERCIAL_TEAMS,
    QUEUE_TEAMS,
    Category,
    Channel,
    EntryKind,
    Question,
    QuestionAttachment,
    QuestionEntry,
    QuestionEvent,
    QuestionEventKind,
    QuestionStatus,
    Urgency,
    team_label,
)
from portal.questions.routing import Decision, QuestionFacts
from portal.safety import attestations
from portal.safety import services as safety
from portal.safety.attestations import Attestation
from portal.services import notifications, users
from portal.services.consent import current_wording

log = logging.getLogger(__name__)

CONSENT_PURPOSE = "question_contact"
MIN_TEXT = 10
MAX_REPLY = 20_000
MAX_NOTE = 4_000
MAX_REASON = 500
MAX_ATTACHMENTS = 5


# --- input -------------------------------------------------------------------------------------
@dataclasses.dataclass
class QuestionInput:
    """What an HCP sends with "Ask a question"."""

    text: str
    category: str
    channel: str
    urgency: str = Urgency.ROUTINE.value
    product_id: int | None = None
    consent: bool = False
    consent_wording_id: int | None = None
    about_family_id: int | None = None


def max_text_length() -> int:
    from flask import current_app

    return int(current_app.config["QUESTION_MAX_LENGTH"])


def chat_opted_in(hcp: User) -> bool:
    """Whether the HCP has an active chat consent (the chat package answers this once it
    exists; until then nobody has opted in, so "chat" is not offered as a reply channel)."""
    checker = _chat_checks[0] if _chat_checks else None
    return bool(checker(hcp)) if checker else False


_chat_checks: list[Any] = []


def register_chat_opt_in_check(check: Any) -> Any:
    """Let the chat package say whether an HCP has opted in to chat (the core never imports it)."""
    _chat_checks[:] = [check]
    return check


def channel_choices(hcp: User) -> list[Channel]:
    offered = [Channel.PORTAL, Channel.EMAIL, Channel.PHONE]
    if chat_opted_in(hcp):
        offered.append(Channel.CHAT)
    return offered


def _text_problem(text: str, *, what: str, maximum: int) -> str | None:
    stripped = text.strip()
    if len(stripped) < MIN_TEXT:
        return f"Write your {what} in at least {MIN_TEXT} characters."
    if len(text) > maximum:
        return f"Keep your {what} to {maximum:,} characters (it has {len(text):,})."
    return None


def _question_problems(actor: User, data: QuestionInput, wording_id: int) -> dict[str, str]:
    problems: dict[str, str] = {}
    if (p := _text_problem(data.text, what="question", maximum=max_text_length())) is not None:
        problems["text"] = p
    if data.category not in set(Category):
        problems["category"] = "Choose what your question is about."
    if data.channel not in set(Channel):
        problems["channel"] = "Choose how you would like the answer."
    elif Channel(data.channel) not in channel_choices(actor):
        problems["channel"] = (
            "Chat replies need a chat you opted in to: choose another channel or start a chat."
        )
    if data.urgency not in set(Urgency):
        problems["urgency"] = "Choose how urgent your question is."
    if data.product_id is not None and db.session.get(Product, data.product_id) is None:
        problems["product_id"] = "Choose a product from the list, or none."
    if not data.consent:
        problems["consent"] = "We can only answer if you agree to be contacted about it."
    elif data.consent_wording_id != wording_id:
        problems["consent"] = "The consent wording has changed: read it again and tick the box."
    return problems


# --- routing -------------------------------------------------------------------------------------
def _decide(question_facts: QuestionFacts, hcp: User, received_at: dt.datetime) -> Decision:
    return routing.route(
        question_facts,
        facts.hcp_facts(hcp),
        rules=facts.rules(),
        staff=facts.staff(),
        labels=facts.labels(),
        calendar=facts.calendar(),
        slas=facts.slas(),
        received_at=received_at,
    )


def _fallback_decision(question_facts: QuestionFacts, received_at: dt.datetime) -> Decision:
    # A question is never lost once sent: if routing itself fails, Medical Information gets it
    # for manual triage, and PV is involved too (detection errs on the side of flagging).
    calendar = facts.calendar()
    due = calendar.due_at(received_at, routing.DEFAULT_SLAS[Category.ADVERSE_EVENT.value])
    return Decision(
        teams=(routing.MI, routing.PV),
        reasons=(
            "routing failed: sent to Medical Information for manual triage, and to "
            "Pharmacovigilance in case it describes an adverse event",
        ),
        ae=True,
        due_at=due,
        pv_due_at=due,
    )


def triage(text: str, *, category: str | None = None, product: str | None = None) -> Decision:
    """What the engine would decide for a text, writing nothing (``flask questions triage``).

    No HCP: country and territory rules cannot match, and there is no assignee or due time.
    """
    chosen = Category(category) if category else Category.OTHER
    return routing.classify(
        QuestionFacts(category=chosen, text=text, product=product, products=safety.product_names()),
        routing.HcpFacts(),
        facts.rules(),
        facts.labels(),
    )


# --- notifications -------------------------------------------------------------------------------
def _notify_team_or_assignee(question: Question, *, kind: str, title: str) -> None:
    people = [question.assignee] if question.assignee else users.team_members(question.owner_team)
    notifications.notify(
        [p for p in people if p is not None],
        kind=kind,
        title=title,
        endpoint="questions.detail",
        question_id=question.id,
    )


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%d %b %Y %H:%M UTC")


def _event(
    question: Question,
    kind: QuestionEventKind,
    actor: User | None,
    *,
    team: TeamKey | None = None,
    detail: str = "",
    at: dt.datetime | None = None,
) -> None:
    db.session.add(
        QuestionEvent(
            question=question,
            kind=kind,
            actor_id=actor.id if actor is not None else None,
            team=team,
            detail=detail,
            at=at or utcnow(),
        )
    )


# --- the HCP side ------------------------------------------------------------------------------
def ask_question(actor: User, data: QuestionInput, *, now: dt.datetime | None = None) -> Question:
    """File a question for a verified HCP, route it, and tell the people who will answer.

    Raises ``PermissionDenied`` for anyone but a verified HCP and ``InvalidInput`` listing every
    bad field. Audit: ``question.submit`` (with the routing decision) and ``pv_case.open`` when
    the text may describe an adverse event. Notifies the assignee (or the owning team) and PV.
    """
    policy.require(policy.can_ask_question(actor), "Only verified HCPs can ask questions.")
    wording = current_wording(CONSENT_PURPOSE)
    problems = _question_problems(actor, data, wording.id)
    if problems:
        raise InvalidInput("Please correct the highlighted fields.", errors=problems)
    received_at = now or utcnow()
    product = db.session.get(Product, data.product_id) if data.product_id else None
    question_facts = QuestionFacts(
        category=Category(data.category),
        text=data.text,
        product=product.code if product else None,
        urgent=data.urgency == Urgency.URGENT.value,
        products=safety.product_names(),
    )
    try:
        decision = _decide(question_facts, actor, received_at)
    except Exception:
        log.exception("routing failed; the question goes to manual triage")
        db.session.rollback()
        decision = _fallback_decision(question_facts, received_at)
    assert decision.due_at is not None
    # The material the HCP was reading is kept only if they may see it: an id typed into the form
    # for a piece outside their audience (or none at all) is context we cannot vouch for.
    about_family_id = (
        data.about_family_id
        if data.about_family_id and about_material(actor, data.about_family_id) is not None
        else None
    )
    question = Question(
        hcp=actor,
        product=product,
        about_family_id=about_family_id,
        category=Category(data.category),
        text=data.text.strip(),
        channel=Channel(data.channel),
        urgency=Urgency(data.urgency),
        consent_wording_id=wording.id,
        status=QuestionStatus.IN_PROGRESS if decision.assignee_id else QuestionStatus.RECEIVED,
        owner_team=decision.owner,
        assignee_id=decision.assignee_id,
        due_at=decision.due_at,
        routing=decision.as_record(),
        ae_flag=decision.ae,
        off_label_flag=decision.off_label,
        created_at=received_at,
        updated_at=received_at,
    )
    db.session.add(question)
    db.session.flush()
    _event(question, QuestionEventKind.RECEIVED, actor, at=received_at)
    _event(
        question,
        QuestionEventKind.ROUTED,
        None,
        team=decision.owner,
        detail="; ".join(decision.reasons),
        at=received_at,
    )
    if decision.assignee_id:
        _event(question, QuestionEventKind.ASSIGNED, None, team=decision.owner, at=received_at)
    audit.record(
        actor,
        "question.submit",
        question,
        category=question.category.value,
        product=question_facts.product,
        consent_wording=wording.id,
        routing=decision.as_record(),
        assignee=decision.assignee_id,
        due_at=decision.due_at.isoformat(),
    )
    db.session.flush()
    _notify_team_or_assignee(
        question,
        kind="question_new",
        title=f"New question {question.reference} for {team_label(question.owner_team)}",
    )
    if decision.ae or decision.patient_affected:
        safety.open_case(
            actor, source=safety.CaseSource.QUESTION, text=question.text,
            reasons=decision.ae_reasons or decision.reasons, reporter=question.hcp,
            received_at=question.created_at, source_ref=question.reference,
            question_id=question.id, product_id=question.product_id,
            product_name=question.product.name if question.product else "",
            due_at=decision.pv_due_at or decision.due_at,
        )  # fmt: skip
    db.session.commit()
    return question


def follow_up(actor: User, question_id: int, text: str, *, now: dt.datetime | None = None) -> None:
    """The HCP adds to their question; it goes back to the team's attention. Only that HCP may,
    until the question is closed (``NotFound`` / ``PermissionDenied``; ``InvalidInput`` for the
    text).

    The follow-up is routed like a question (:func:`routing.route_follow_up`): medical content
    (off-label intent, a possible adverse event, a patient affected, words an administrator's
    rule sends to a medical team) on a question a commercial team owns moves it to Medical
    Information, with a new assignee and due time; the team it left keeps a trace without the
    text (a notification, and :func:`moved_away`) and, by the firewall, can no longer open it. A
    possible adverse event, whoever owns the question, opens a PV case.

    Audit: ``question.follow_up``, ``question.reroute`` when it moves, ``pv_case.open``.
    Notifies the assignee or the team; when it moves, Medical Information (assignee or team) and
    the assignee (or team) it left. No notification carries the text.
    """
    question = get_question(actor, question_id)
    policy.require(policy.can_follow_up_question(actor, question), "This question is closed.")
    if (p := _text_problem(text, what="follow-up", maximum=max_text_length())) is not None:
        raise InvalidInput(p, field="text")
    at = now or utcnow()
    body = text.strip()
    try:
        decision = _route_follow_up(question, body, at)
    except Exception:
        log.exception("routing a follow-up failed; it goes to manual triage")
        db.session.rollback()
        decision = _fallback_follow_up(question, at)
    entry = QuestionEntry(
        question=question, author_id=actor.id, kind=EntryKind.FOLLOW_UP, body=body,
        side=Side.OUTSIDE, created_at=at,
    )  # fmt: skip
    db.session.add(entry)
    question.status = (
        QuestionStatus.IN_PROGRESS if question.assignee_id else QuestionStatus.RECEIVED
    )
    question.updated_at = at
    _event(question, QuestionEventKind.FOLLOW_UP, actor, at=at)
    db.session.flush()
    audit.record(actor, "question.follow_up", question, entry=entry.id)
    _record_follow_up_routing(question, decision, at=at)
    if decision.move_to is not None:
        _move_after_follow_up(question, decision, entry=entry, at=at)
    else:
        _notify_team_or_assignee(
            question, kind="question_follow_up", title=f"Follow-up on question {question.reference}"
        )
    if decision.pv:
        question.ae_flag = question.ae_flag or decision.ae
        safety.open_case(
            actor, source=safety.CaseSource.FOLLOW_UP, text=entry.body,
            reasons=decision.ae_reasons or decision.reasons, reporter=question.hcp,
            received_at=at, source_ref=question.reference, question_id=question.id,
            entry_id=entry.id, product_id=question.product_id,
            product_name=question.product.name if question.product else "",
        )  # fmt: skip
    db.session.commit()


def _question_facts(question: Question, text: str) -> QuestionFacts:
    return QuestionFacts(
        category=question.category,
        text=text,
        product=question.product.code if question.product else None,
        urgent=question.urgency is Urgency.URGENT,
        products=safety.product_names(),
    )


def _route_follow_up(question: Question, text: str, at: dt.datetime) -> routing.FollowUpDecision:
    return routing.route_follow_up(
        text,
        _question_facts(question, question.text),
        question.owner_team,
        facts.hcp_facts(question.hcp),
        rules=facts.rules(),
        staff=facts.staff(),
        labels=facts.labels(),
        calendar=facts.calendar(),
        slas=facts.slas(),
        received_at=at,
    )


def _fallback_follow_up(question: Question, at: dt.datetime) -> routing.FollowUpDecision:
    # As for a new question: if routing fails, a follow-up on a commercial question goes to
    # Medical Information for manual triage (it may hold anything), and PV is involved too
    # (detection errs on the side of flagging).
    why = (
        "routing a follow-up failed: Pharmacovigilance is involved in case it describes an "
        "adverse event"
    )
    if question.owner_team not in COMMERCIAL_TEAMS:
        return routing.FollowUpDecision(reasons=(why,), ae=True, pv=True)
    due = facts.calendar().due_at(at, routing.DEFAULT_SLAS[Category.ADVERSE_EVENT.value])
    return routing.FollowUpDecision(
        reasons=(
            f"routing a follow-up failed: moved to {team_label(routing.MI)} for manual triage",
            why,
        ),
        move_to=routing.MI,
        ae=True,
        pv=True,
        due_at=due,
    )


def _record_follow_up_routing(
    question: Question, decision: routing.FollowUpDecision, *, at: dt.datetime
) -> None:
    """Add what the follow-up changed to the question's stored routing decision and flags."""
    if decision.off_label:
        question.off_label_flag = True
    if not decision.reasons:
        return
    record = dict(question.routing)
    teams = [TeamKey(t) for t in record.get("teams", [])] or [question.owner_team]
    if decision.move_to is not None:
        # The commercial team is no longer involved at all: only the trace below says it was.
        teams = [decision.move_to, *[t for t in teams if t not in COMMERCIAL_TEAMS]]
    if decision.pv:
        teams.append(routing.PV)
    record["teams"] = [t.value for t in dict.fromkeys(teams)]
    record["reasons"] = [*record.get("reasons", []), *decision.reasons]
    record["ae"] = bool(record.get("ae")) or decision.ae
    record["off_label"] = bool(record.get("off_label")) or decision.off_label
    record["patient_affected"] = bool(record.get("patient_affected")) or (
        decision.patient_affected and decision.pv
    )
    record["ae_reasons"] = [*record.get("ae_reasons", []), *decision.ae_reasons]
    if decision.move_to is not None:
        move = {
            "from_team": question.owner_team.value,
            "to_team": decision.move_to.value,
            "from_assignee": question.assignee_id,
            "at": at.isoformat(),
        }
        record["moves"] = [*record.get("moves", []), move]
    question.routing = record  # a new dict, so the JSON column knows it changed


def _move_after_follow_up(
    question: Question, decision: routing.FollowUpDecision, *, entry: QuestionEntry, at: dt.datetime
) -> None:
    """Give the question to the team the follow-up's decision names; tell both teams."""
    assert decision.move_to is not None and decision.due_at is not None
    previous_team, previous_assignee = question.owner_team, question.assignee
    target = decision.move_to
    question.owner_team = target
    question.assignee = db.session.get(User, decision.assignee_id) if decision.assignee_id else None
    question.status = (
        QuestionStatus.IN_PROGRESS if decision.assignee_id else QuestionStatus.RECEIVED
    )
    question.due_at = decision.due_at
    question.escalated_at = None  # a new team, a new clock: nothing escalated or overdue yet
    question.overdue_notified_at = None
    _event(
        question, QuestionEventKind.REROUTED, None, team=target,
        detail=f"from {team_label(previous_team)}: {routing.MOVED_WHY}", at=at,
    )  # fmt: skip
    if decision.assignee_id:
        _event(question, QuestionEventKind.ASSIGNED, None, team=target, at=at)
    # The routing engine moved it (the HCP's own record is ``question.follow_up``).
    audit.record(
        None,
        "question.reroute",
        question,
        from_team=previous_team.value,
        to_team=target.value,
        reasons=list(decision.reasons),
        entry=entry.id,
        previous_assignee=previous_assignee.id if previous_assignee else None,
        assignee=decision.assignee_id,
        due_at=decision.due_at.isoformat(),
    )
    db.session.flush()
    _notify_team_or_assignee(
        question,
        kind="question_rerouted",
        title=f"Question {question.reference} moved to {team_label(target)} after a follow-up",
    )
    # The team it left keeps knowing that it moved, and where: never what was said.
    left = [previous_assignee] if previous_assignee else users.team_members(previous_team)
    notifications.notify(
        [p for p in left if p is not None],
        kind="question_moved",
        title=(
            f"Question {question.reference} moved to {team_label(target)} on "
            f"{at.strftime('%d %b %Y')} ({routing.MOVED_WHY})"
        ),
        endpoint="questions.queue",
        _anchor="moved",
    )


def rate_answer(actor: User, question_id: int, *, helpful: bool) -> None:
    """ "Was this helpful?": the HCP's verdict on the answer (may change their mind).

    Audit: ``question.rate``."""
    question = get_question(actor, question_id)
    policy.require(policy.can_rate_answer(actor, question), "There is no answer to rate yet.")
    question.helpful = helpful
    _event(question, QuestionEventKind.RATED, actor, detail="helpful" if helpful else "not helpful")
    audit.record(actor, "question.rate", question, helpful=helpful)
    db.session.commit()


# --- reads ---------------------------------------------------------------------------------------
def get_question(actor: User, question_id: int) -> Question:
    """The question, if ``actor`` may see it; ``NotFound`` otherwise (ids reveal nothing)."""
    question = db.session.get(Question, question_id)
    policy.require_visible(
        question is not None and policy.can_view_question(actor, question), "That question"
    )
    assert question is not None
    return question


def my_questions(actor: User) -> Sequence[Question]:
    """An HCP's questions, newest first."""
    return db.session.scalars(
        select(Question)
        .where(Question.hcp_id == actor.id)
        .options(selectinload(Question.product))
        .order_by(Question.created_at.desc(), Question.id.desc())
    ).all()


def visible_entries(actor: User, question: Question) -> list[QuestionEntry]:
    """The thread as ``actor`` may read it: HCPs see follow-ups and replies; staff also see the
    internal notes of their own side of the firewall."""
    shown = []
    for entry in question.entries:
        if entry.kind is EntryKind.NOTE:
            if policy.can_view_question_note(actor, entry):
                shown.append(entry)
        else:
            shown.append(entry)
    return shown


@dataclasses.dataclass(frozen=True)
class Step:
    label: str
    done: bool
    at: dt.datetime | None = None
    current: bool = False


# The events after which a question is "with" its current team.
_ROUTING_EVENTS = frozenset(
    {QuestionEventKind.ROUTED, QuestionEventKind.REASSIGNED, QuestionEventKind.REROUTED}
)


def timeline(question: Question) -> list[Step]:
    """The four steps an HCP understands: received → with <team> → answered → closed."""
    with_team = f"With {team_label(question.owner_team)}"
    answered = question.answered_at is not None
    closed = question.status is QuestionStatus.CLOSED
    current = {
        QuestionStatus.RECEIVED: 1,
        QuestionStatus.IN_PROGRESS: 1,
        QuestionStatus.ANSWERED: 2,
        QuestionStatus.CLOSED: 3,
    }[question.status]
    routed_at = next(
        (e.at for e in reversed(question.events) if e.kind in _ROUTING_EVENTS),
        question.created_at,
    )  # fmt: skip
    return [
        Step("Received", True, question.created_at, current == 0),
        Step(with_team, True, routed_at, current == 1),
        Step("Answered", answered, question.answered_at, current == 2),
        Step("Closed", closed, question.closed_at, current == 3),
    ]


def hcp_status_label(question: Question) -> str:
    if question.status in (QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS):
        return f"With {team_label(question.owner_team)}"
    return question.status.label


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
    policy.require_visible(policy.can_view_question_queue(actor), "The question queue")
    query = select(Question).where(_queue_clause(actor))
    if view == "mine":
        query = query.where(Question.assignee_id == actor.id)
    elif view == "team":
        keys = [t.key for t in actor.teams if t.key in QUEUE_TEAMS]
        if team:
            keys = (
                [k for k in keys if k.value == team]
                if not policy.is_read_only(actor)
                else [k for k in QUEUE_TEAMS if k.value == team]
            )
        query = query.where(Question.owner_team.in_(keys) if keys else false())
    if not include_closed:
        query = query.where(
            Question.status.in_([QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS])
        )
    return db.session.scalars(
        query.options(selectinload(Question.assignee), selectinload(Question.product))
        .order_by(Question.due_at, Question.id)
        .limit(500)
    ).all()


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
    questions = db.session.scalars(
        select(Question)
        .where(Question.id.in_(rerouted))
        .order_by(Question.updated_at.desc(), Question.id.desc())
        .limit(MOVED_SCAN)
    ).all()
    found = [
        MovedQuestion(
            reference=question.reference,
            at=dt.datetime.fromisoformat(move["at"]),
            to_team=TeamKey(move["to_team"]),
        )
        for question in questions
        for move in question.moves
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


# --- the staff side ------------------------------------------------------------------------------
def _work(actor: User, question_id: int) -> Question:
    question = get_question(actor, question_id)
    policy.require(
        policy.can_work_question(actor, question),
        "Only the team that owns this question can work on it.",
    )
    return question


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
    _event(question, QuestionEventKind.CLAIMED, actor, team=question.owner_team)
    audit.record(actor, "question.claim", question, previous_assignee=previous)
    db.session.commit()
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


def about_material(actor: User, family_id: int) -> Any:
    """The current version of the material an HCP asks about, if they may see it (else None)."""
    from content import services as content_services

    return content_services.get_current_version(actor, family_id)


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


def attachments_for(actor: User, entry: QuestionEntry) -> list[tuple[Any, bool]]:
    """The materials of a reply as ``(material, still available to actor)`` pairs: one withdrawn
    or expired since shows as no longer available, without a link."""
    from content.models import Material

    now = utcnow()
    shown = []
    for attachment in entry.attachments:
        material = db.session.get(Material, attachment.material_id)
        if material is not None:
            shown.append((material, policy.can_view_material(actor, material, now)))
    return shown


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
    question.updated_at = at
    _event(question, QuestionEventKind.ANSWERED, actor, team=question.owner_team)
    db.session.flush()
    audit.record(actor, "question.reply", question, entry=entry.id, materials=ids)
    assert attestation is not None  # staff answer, and staff attest (checked above)
    attestations.attest_question(actor, question, attestation, at=at, on="reply")
    notifications.notify(
        [question.hcp],
        kind="question_answered",
        title=f"Your question {question.reference} has an answer",
        endpoint="questions.detail",
        question_id=question.id,
    )
    db.session.commit()
    return entry


def add_note(actor: User, question_id: int, *, body: str) -> QuestionEntry:
    """An internal note, readable only on the writer's side of the firewall (and by compliance).

    Audit: ``question.note``."""
    question = get_question(actor, question_id)
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
    db.session.commit()
    return entry


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Give a reason: it is kept in the question's history.", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"Keep the reason under {MAX_REASON} characters.", field="reason")
    return reason


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
    _event(question, QuestionEventKind.REASSIGNED, actor, team=target, detail=why)
    audit.record(
        actor, "question.reassign", question, from_team=previous.value, to_team=target.value,
        reason=why, assignee=assignee_id,
    )  # fmt: skip
    db.session.flush()
    _notify_team_or_assignee(
        question,
        kind="question_reassigned",
        title=f"Question {question.reference} was handed to {team_label(target)}",
    )
    db.session.commit()
    return question


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
    _event(question, QuestionEventKind.ESCALATED, actor, team=question.owner_team, detail=why)
    audit.record(actor, "question.escalate", question, to_lead=lead.id, reason=why)
    notifications.notify(
        leads,
        kind="question_escalated",
        title=f"Question {question.reference} was escalated to you",
        endpoint="questions.detail",
        question_id=question.id,
    )
    db.session.commit()
    return question


def close_question(
    actor: User, question_id: int, *, reason: str = "", attestation: Attestation | None = None
) -> Question:
    """Close a question: the HCP who asked, or the owning team.

    Staff closing it attest whether it held an adverse event or a product complaint
    (``attestation``; missing: ``InvalidInput`` and nothing changes; a "yes" opens a PV case);
    the HCP does not attest. Audit: ``question.close`` (and ``safety.attest``)."""
    question = get_question(actor, question_id)
    policy.require(policy.can_close_question(actor, question), "You cannot close this question.")
    if (p := attestations.question_attestation_problem(actor, attestation)) is not None:
        raise InvalidInput(p, field="attestation")
    question.status = QuestionStatus.CLOSED
    question.closed_at = utcnow()
    question.updated_at = question.closed_at
    detail = reason.strip()[:MAX_REASON]
    _event(question, QuestionEventKind.CLOSED, actor, detail=detail)
    audit.record(actor, "question.close", question, reason=detail, by_hcp=actor.is_hcp)
    if attestation is not None and policy.must_attest_question(actor):
        attestations.attest_question(
            actor, question, attestation, at=question.closed_at, on="close"
        )
    db.session.commit()
    return question


# --- the clock -----------------------------------------------------------------------------------
def sweep_overdue(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Tell people about what went overdue since the last sweep (each item once).

    Run by the server's background worker and by ``flask questions sweep``. Audit:
    ``question.overdue`` / ``pv_case.overdue`` (system actor). Returns the counts.
    """
    now = now or utcnow()
    overdue_questions = db.session.scalars(
        select(Question).where(
            Question.status.in_([QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS]),
            Question.due_at < now,
            Question.overdue_notified_at.is_(None),
        )
    ).all()
    for question in overdue_questions:
        question.overdue_notified_at = now
        _event(question, QuestionEventKind.OVERDUE, None, team=question.owner_team)
        audit.record(None, "question.overdue", question, due_at=question.due_at.isoformat())
        people = [question.assignee] if question.assignee else []
        people += users.team_members(question.owner_team, leads_only=True)
        if not people:
            people = users.team_members(question.owner_team)
        notifications.notify(
            [p for p in people if p is not None],
            kind="question_overdue",
            title=f"Question {question.reference} is overdue",
            endpoint="questions.detail",
            question_id=question.id,
        )
    overdue_cases = safety.flag_overdue_cases(now)
    db.session.commit()
    return {"questions": len(overdue_questions), "pv_cases": overdue_cases}


def staff_dashboard(actor: User) -> dict[str, int]:
    """Counts for the home page panel: mine, my teams' unassigned, overdue."""
    now = utcnow()
    mine = queue(actor, view="mine")
    team = queue(actor, view="team")
    return {
        "mine": len(mine),
        "unassigned": sum(1 for q in team if q.assignee_id is None),
        "overdue": sum(1 for q in {*mine, *team} if q.is_overdue(now)),
    }
