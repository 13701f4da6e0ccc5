"""Questions from the HCP's side: asking, following up, rating the answer, their own list.

A question is routed as it arrives (:mod:`portal.questions.routing`, with the data of
:mod:`portal.questions.facts`) and a follow-up as it is added; either opens a PV case when its
words may describe an adverse event (the hand-off to :mod:`portal.safety`). Every public function
that changes something is one unit of work (:func:`portal.unit_of_work.transactional`): it checks
policy, validates, changes state and writes the audit record and the notifications in the same
transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask
from flask_babel import format_number, gettext, lazy_gettext
from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload

from portal import audit, policy, unit_of_work, webhooks
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import Product, Side, TeamKey, User, utcnow
from portal.models.reference import TEAM_NAMES
from portal.questions import extension, facts, routing, thread
from portal.questions.models import (
    COMMERCIAL_TEAMS,
    Category,
    Channel,
    EntryKind,
    Question,
    QuestionEntry,
    QuestionEventKind,
    QuestionStatus,
    Urgency,
    team_label,
)
from portal.questions.routing import Decision, QuestionFacts
from portal.safety import services as safety
from portal.services import notifications, users
from portal.services.consent import current_wording
from portal.services.notifications import Title
from portal.unit_of_work import transactional

log = logging.getLogger(__name__)


CONSENT_PURPOSE = "question_contact"


MIN_TEXT = 10


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
    """Whether the HCP has an active chat consent. The chat package answers, when the app has it
    (:func:`register_chat_opt_in_check`); without it nobody has opted in, so "chat" is not
    offered as a reply channel."""
    from flask import current_app

    check = extension(current_app).chat_opt_in
    return bool(check(hcp)) if check is not None else False


def register_chat_opt_in_check(app: Flask, check: Callable[[User], bool]) -> None:
    """Let the chat package say whether an HCP has opted in to chat (questions never import
    chat): called by chat's ``init_app``."""
    extension(app).chat_opt_in = check


def channel_choices(hcp: User) -> list[Channel]:
    offered = [Channel.PORTAL, Channel.EMAIL, Channel.PHONE]
    if chat_opted_in(hcp):
        offered.append(Channel.CHAT)
    return offered


def _text_problem(text: str, *, what: str, maximum: int) -> str | None:
    """Why ``text`` (a ``"question"`` or a ``"follow-up"``) cannot be sent, in the HCP's
    language, or None."""
    stripped = text.strip()
    if len(stripped) < MIN_TEXT:
        if what == "question":
            return gettext("Write your question in at least %(min)s characters.", min=MIN_TEXT)
        return gettext("Write your follow-up in at least %(min)s characters.", min=MIN_TEXT)
    if len(text) > maximum:
        sizes = {"max": format_number(maximum), "length": format_number(len(text))}
        if what == "question":
            return gettext("Keep your question to %(max)s characters (it has %(length)s).", **sizes)
        return gettext("Keep your follow-up to %(max)s characters (it has %(length)s).", **sizes)
    return None


def _question_problems(actor: User, data: QuestionInput, wording_id: int) -> dict[str, str]:
    problems: dict[str, str] = {}
    if (p := _text_problem(data.text, what="question", maximum=max_text_length())) is not None:
        problems["text"] = p
    if data.category not in set(Category):
        problems["category"] = gettext("Choose what your question is about.")
    if data.channel not in set(Channel):
        problems["channel"] = gettext("Choose how you would like the answer.")
    elif Channel(data.channel) not in channel_choices(actor):
        problems["channel"] = gettext(
            "Chat replies need a chat you opted in to: choose another channel or start a chat."
        )
    if data.urgency not in set(Urgency):
        problems["urgency"] = gettext("Choose how urgent your question is.")
    if data.product_id is not None and db.session.get(Product, data.product_id) is None:
        problems["product_id"] = gettext("Choose a product from the list, or none.")
    if not data.consent:
        problems["consent"] = gettext("We can only answer if you agree to be contacted about it.")
    elif data.consent_wording_id != wording_id:
        problems["consent"] = gettext(
            "The consent wording has changed: read it again and tick the box."
        )
    return problems


def _decide(question_facts: QuestionFacts, hcp: User, received_at: dt.datetime) -> Decision:
    return routing.route(
        question_facts,
        facts.hcp_facts(hcp),
        rules=facts.rules(),
        staff=facts.staff(),
        labels=facts.labels(),
        calendar=facts.calendar(),
        calendars=facts.team_calendars(),
        slas=facts.slas(),
        received_at=received_at,
    )


def _fallback_decision(question_facts: QuestionFacts, received_at: dt.datetime) -> Decision:
    # A question is never lost once sent: if routing itself fails, Medical Information gets it
    # for manual triage, and PV is involved too (detection errs on the side of flagging).
    sla = routing.DEFAULT_SLAS[Category.ADVERSE_EVENT.value]
    return Decision(
        teams=(routing.MI, routing.PV),
        reasons=(
            "routing failed: sent to Medical Information for manual triage, and to "
            "Pharmacovigilance in case it describes an adverse event",
        ),
        ae=True,
        due_at=facts.calendar(routing.MI).due_at(received_at, sla),
        pv_due_at=facts.calendar(routing.PV).due_at(received_at, sla),
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


@transactional
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
        raise InvalidInput(gettext("Please correct the highlighted fields."), errors=problems)
    # The material the HCP was reading is kept only if they may see it: an id typed into the form
    # for a piece outside their audience (or none at all) is context we cannot vouch for.
    about_family_id = (
        data.about_family_id
        if data.about_family_id and about_material(actor, data.about_family_id) is not None
        else None
    )
    return _file(
        actor,
        data,
        filed_by=None,
        wording_id=wording.id,
        received_at=now or utcnow(),
        about_family_id=about_family_id,
    )


def _file(
    hcp: User,
    data: QuestionInput,
    *,
    filed_by: User | None,
    wording_id: int,
    received_at: dt.datetime,
    about_family_id: int | None = None,
) -> Question:
    """Route and store ``hcp``'s question (already validated), in the CALLER's unit of work: the
    one path of :func:`ask_question` and :func:`ask_on_behalf`. ``filed_by``: the staff member
    who filed it on the HCP's behalf (the routing record says so), else the HCP asked.

    Audit: ``question.submit`` (or ``question.submit_on_behalf``) with the routing decision, and
    ``pv_case.open`` when the text may describe an adverse event. Notifies the assignee (or the
    owning team) and PV."""
    actor = filed_by or hcp
    product = db.session.get(Product, data.product_id) if data.product_id else None
    question_facts = QuestionFacts(
        category=Category(data.category),
        text=data.text,
        product=product.code if product else None,
        urgent=data.urgency == Urgency.URGENT.value,
        products=safety.product_names(),
    )
    try:
        decision = _decide(question_facts, hcp, received_at)
    except Exception:
        log.exception("routing failed; the question goes to manual triage")
        unit_of_work.start_over()
        decision = _fallback_decision(question_facts, received_at)
    assert decision.due_at is not None
    record = decision.as_record()
    if filed_by is not None:
        record.update(on_behalf_of=hcp.id, filed_by=filed_by.id)
    question = Question(
        hcp=hcp,
        product=product,
        about_family_id=about_family_id,
        category=Category(data.category),
        text=data.text.strip(),
        channel=Channel(data.channel),
        urgency=Urgency(data.urgency),
        consent_wording_id=wording_id,
        status=QuestionStatus.IN_PROGRESS if decision.assignee_id else QuestionStatus.RECEIVED,
        owner_team=decision.owner,
        assignee_id=decision.assignee_id,
        due_at=decision.due_at,
        routing=record,
        ae_flag=decision.ae,
        off_label_flag=decision.off_label,
        created_at=received_at,
        updated_at=received_at,
    )
    db.session.add(question)
    db.session.flush()
    thread.record_event(question, QuestionEventKind.RECEIVED, actor, at=received_at)
    thread.record_event(
        question,
        QuestionEventKind.ROUTED,
        None,
        team=decision.owner,
        detail="; ".join(decision.reasons),
        at=received_at,
    )
    if decision.assignee_id:
        thread.record_event(
            question, QuestionEventKind.ASSIGNED, None, team=decision.owner, at=received_at
        )
    audit.record(
        actor,
        "question.submit" if filed_by is None else "question.submit_on_behalf",
        question,
        category=question.category.value,
        product=question_facts.product,
        consent_wording=wording_id,
        routing=record,
        assignee=decision.assignee_id,
        due_at=decision.due_at.isoformat(),
    )
    webhooks.publish(
        webhooks.WebhookEvent.QUESTION_CREATED,
        {
            "question_id": question.id,
            "reference": question.reference,
            "category": question.category.value,
            "created_at": received_at,
        },
        side=policy.question_side(question),
    )
    db.session.flush()
    thread.notify_team_or_assignee(
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
    return question


# --- questions filed on the HCP's behalf ---------------------------------------------------------
@dataclasses.dataclass
class OnBehalfInput:
    """A medical or off-label question an HCP asked a staff member in person (or on the phone),
    as the staff member records it: the words, a medical category, the product, whether a
    patient is waiting, and that the HCP agreed to be answered about it through the portal."""

    text: str
    category: str
    product_id: int | None = None
    urgent: bool = False
    consent: bool = False


def on_behalf_problems(data: OnBehalfInput) -> dict[str, str]:
    """What is wrong with a question filed on an HCP's behalf, by field (empty: nothing).
    Only medical categories: a commercial question the HCP asks in person is answered there."""
    problems: dict[str, str] = {}
    text = data.text.strip()
    if len(text) < MIN_TEXT:
        problems["text"] = f"Write the HCP's question in at least {MIN_TEXT} characters."
    elif len(data.text) > max_text_length():
        problems["text"] = f"Keep the question to {max_text_length():,} characters."
    if data.category not in set(Category) or not Category(data.category).is_medical:
        problems["category"] = (
            "Choose a medical category: clinical, safety, dosing, off-label, adverse event or "
            "quality."
        )
    if data.product_id is not None and db.session.get(Product, data.product_id) is None:
        problems["product_id"] = "Choose a product from the list, or none."
    if not data.consent:
        problems["consent"] = (
            "Confirm the HCP agreed to be answered about it through the portal: without that, "
            "nobody can answer them."
        )
    return problems


@transactional
def ask_on_behalf(
    staff: User,
    hcp: User,
    data: OnBehalfInput,
    *,
    now: dt.datetime | None = None,
    occasion: Title | None = None,
) -> Question:
    """File a medical or off-label question ``hcp`` asked ``staff`` in person, as the HCP's own
    question (channel portal): routed by the same engine as :func:`ask_question` (whose hard
    limits never leave a medical category with a commercial team), so the rep who files it
    never answers it and, by the firewall, cannot open it. The HCP sees it in "My questions".

    ``staff`` must be allowed to file for ``hcp`` (:func:`portal.policy.can_ask_on_behalf`:
    ``PermissionDenied``); ``InvalidInput`` lists every bad field (:func:`on_behalf_problems`).
    ``now`` is when the HCP asked (day zero of the answer's and PV's clocks); ``occasion``
    (lazy text, e.g. "during your visit") completes the HCP's notification. The routing record
    notes ``filed_by`` (the staff member's id) and ``on_behalf_of`` (the HCP's).

    Audit: ``question.submit_on_behalf``, and ``pv_case.open`` when the text may describe an
    adverse event. Notifies the assignee (or the owning team), PV, and the HCP, in their
    language and without the question's text.
    """
    policy.require(
        policy.can_ask_on_behalf(staff, hcp), "You may not file a question for this HCP."
    )
    problems = on_behalf_problems(data)
    if problems:
        raise InvalidInput(next(iter(problems.values())), errors=problems)
    wording = current_wording(CONSENT_PURPOSE)
    question = _file(
        hcp,
        QuestionInput(
            text=data.text,
            category=data.category,
            channel=Channel.PORTAL.value,
            urgency=(Urgency.URGENT if data.urgent else Urgency.ROUTINE).value,
            product_id=data.product_id,
            consent=True,
            consent_wording_id=wording.id,
        ),
        filed_by=staff,
        wording_id=wording.id,
        received_at=now or utcnow(),
    )
    notifications.notify(
        [hcp],
        kind="question_on_behalf",
        title=lazy_gettext(
            "Your question %(reference)s, recorded by %(name)s %(occasion)s, was sent to %(team)s",
            reference=question.reference,
            name=staff.name,
            occasion=occasion or lazy_gettext("on your behalf"),
            team=TEAM_NAMES.get(question.owner_team, question.owner_team.value),
        ),
        endpoint="questions.detail",
        question_id=question.id,
    )
    return question


def about_material(actor: User, family_id: int) -> Any:
    """The current version of the material an HCP asks about, if they may see it (else None)."""
    from content import services as content_services

    return content_services.get_current_version(actor, family_id)


@transactional
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
    question = thread.get_question(actor, question_id)
    policy.require(policy.can_follow_up_question(actor, question), "This question is closed.")
    if (p := _text_problem(text, what="follow-up", maximum=max_text_length())) is not None:
        raise InvalidInput(p, field="text")
    at = now or utcnow()
    body = text.strip()
    try:
        decision = _route_follow_up(question, body, at)
    except Exception:
        log.exception("routing a follow-up failed; it goes to manual triage")
        unit_of_work.start_over()
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
    thread.record_event(question, QuestionEventKind.FOLLOW_UP, actor, at=at)
    db.session.flush()
    audit.record(actor, "question.follow_up", question, entry=entry.id)
    _record_follow_up_routing(question, decision, at=at)
    if decision.move_to is not None:
        _move_after_follow_up(question, decision, entry=entry, at=at)
    else:
        thread.notify_team_or_assignee(
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
        calendars=facts.team_calendars(),
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
    sla = routing.DEFAULT_SLAS[Category.ADVERSE_EVENT.value]
    due = facts.calendar(routing.MI).due_at(at, sla)
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
    thread.record_event(
        question, QuestionEventKind.REROUTED, None, team=target,
        detail=f"from {team_label(previous_team)}: {routing.MOVED_WHY}", at=at,
    )  # fmt: skip
    if decision.assignee_id:
        thread.record_event(question, QuestionEventKind.ASSIGNED, None, team=target, at=at)
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
    thread.notify_team_or_assignee(
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


@transactional
def rate_answer(actor: User, question_id: int, *, helpful: bool) -> None:
    """ "Was this helpful?": the HCP's verdict on the answer (may change their mind).

    Audit: ``question.rate``."""
    question = thread.get_question(actor, question_id)
    policy.require(policy.can_rate_answer(actor, question), "There is no answer to rate yet.")
    question.helpful = helpful
    thread.record_event(
        question, QuestionEventKind.RATED, actor, detail="helpful" if helpful else "not helpful"
    )
    audit.record(actor, "question.rate", question, helpful=helpful)


MY_QUESTIONS_PAGE_SIZE = 25


def my_questions(actor: User, *, page: int = 1, page_size: int | None = None) -> Sequence[Question]:
    """One page of an HCP's questions, newest first (with their product); ``page_size``
    defaults to ``MY_QUESTIONS_PAGE_SIZE``."""
    page_size = page_size or MY_QUESTIONS_PAGE_SIZE
    return db.session.scalars(
        select(Question)
        .where(Question.hcp_id == actor.id)
        .options(joinedload(Question.product))
        .order_by(Question.created_at.desc(), Question.id.desc())
        .offset((max(1, page) - 1) * page_size)
        .limit(page_size)
    ).all()


@dataclasses.dataclass(frozen=True)
class MyQuestionCounts:
    total: int
    open: int
    answered: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // MY_QUESTIONS_PAGE_SIZE))


def my_question_counts(actor: User) -> MyQuestionCounts:
    """How many questions the HCP asked, how many are open and how many answered (one
    statement: the home panel and the list's pages)."""
    is_open = Question.status.in_([QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS])
    row = db.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((is_open, 1), else_=0)), 0),
            func.coalesce(
                func.sum(case((Question.status == QuestionStatus.ANSWERED, 1), else_=0)), 0
            ),
        ).where(Question.hcp_id == actor.id)
    ).one()
    return MyQuestionCounts(total=int(row[0]), open=int(row[1]), answered=int(row[2]))


@dataclasses.dataclass(frozen=True)
class Step:
    label: str
    done: bool
    at: dt.datetime | None = None
    current: bool = False


_ROUTING_EVENTS = frozenset(
    {QuestionEventKind.ROUTED, QuestionEventKind.REASSIGNED, QuestionEventKind.REROUTED}
)


def timeline(question: Question) -> list[Step]:
    """The four steps an HCP understands: received → with <team> → answered → closed."""
    with_team = gettext("With %(team)s", team=team_label(question.owner_team))
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
        Step(gettext("Received"), True, question.created_at, current == 0),
        Step(with_team, True, routed_at, current == 1),
        Step(gettext("Answered"), answered, question.answered_at, current == 2),
        Step(gettext("Closed"), closed, question.closed_at, current == 3),
    ]


def hcp_status_label(question: Question) -> str:
    if question.status in (QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS):
        return gettext("With %(team)s", team=team_label(question.owner_team))
    return question.status.label
