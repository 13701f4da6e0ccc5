"""PV cases: opening one (the only write path, whatever the source), the PV workspace's actions,
and the clock.

A case is opened in the CALLER's transaction by :func:`open_case` (a question, a follow-up, a chat
message): it exists only if what was said is stored. The workspace's actions are each one unit
of work and commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Sequence

from sqlalchemy import select

from portal import audit, policy
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import TeamKey, User, utcnow
from portal.safety.models import CaseOrigin, PvCase, PvCaseStatus
from portal.services import notifications, users


class CaseSource(enum.StrEnum):
    """Where the words of a case were said."""

    QUESTION = "question"
    FOLLOW_UP = "follow_up"
    CHAT = "chat"


def adverse_event_due_at(received_at: dt.datetime) -> dt.datetime:
    """When PV must have acknowledged a possible adverse event received at ``received_at``: one
    business day on the adverse-event SLA and the business calendar."""
    from portal.inquiries import facts  # the calendar and SLAs are routing data

    return facts.calendar().due_at(received_at, facts.slas()["adverse_event"])


def open_case(
    actor: User | None,
    *,
    source: CaseSource,
    text: str,
    reasons: Sequence[str],
    reporter: User | None,
    received_at: dt.datetime,
    source_ref: str | None = None,
    question_id: int | None = None,
    entry_id: int | None = None,
    product_id: int | None = None,
    product_name: str = "",
    due_at: dt.datetime | None = None,
    origin: CaseOrigin = CaseOrigin.DETECTED,
    reported_by: User | None = None,
    conversation_id: int | None = None,
    message_id: int | None = None,
    product_complaint: bool = False,
) -> PvCase:
    """Open a PV case on the adverse-event clock, in the CALLER's transaction (never commits).

    The only way a PV case is created. ``reporter`` is the person whose words these are (the
    HCP, or the staff member who wrote them); ``received_at`` is day zero; ``origin`` says
    whether detection, a colleague's report (``reported_by``) or an attestation opened it.
    Audit: ``pv_case.open``. Notifies Pharmacovigilance.
    """
    due = due_at or adverse_event_due_at(received_at)
    case = PvCase(
        question_id=question_id,
        entry_id=entry_id,
        source=source.value,
        source_ref=source_ref,
        source_text=text,
        reasons=list(reasons),
        reporter_id=reporter.id if reporter is not None else None,
        reporter=reporter.name if reporter is not None and reporter.is_hcp else "",
        product_id=product_id,
        suspect_product=product_name,
        status=PvCaseStatus.OPEN,
        due_at=due,
        created_at=received_at,
        origin=origin,
        reported_by_id=reported_by.id if reported_by is not None else None,
        conversation_id=conversation_id,
        message_id=message_id,
        product_complaint=product_complaint,
    )
    db.session.add(case)
    db.session.flush()
    audit.record(
        actor, "pv_case.open", case, source=case.source, ref=source_ref, question=question_id,
        due_at=due.isoformat(), reasons=list(reasons), origin=origin.value,
        message=message_id, product_complaint=product_complaint,
    )  # fmt: skip
    notifications.notify(
        users.team_members(TeamKey.PHARMACOVIGILANCE),
        kind="pv_case",
        title=f"New possible adverse event {case.reference}, due {_when(due)}",
        endpoint="questions.pv_case",
        case_id=case.id,
    )
    return case


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%d %b %Y %H:%M UTC")


def cases_of_question(actor: User, question_id: int) -> list[PvCase]:
    """The PV cases of a question, for PV and compliance only (others get an empty list)."""
    if not policy.can_view_pv_cases(actor):
        return []
    return list(
        db.session.scalars(
            select(PvCase).where(PvCase.question_id == question_id).order_by(PvCase.id)
        )
    )


def pv_cases(actor: User, *, status: str = "open") -> Sequence[PvCase]:
    """PV cases, soonest due first (``open``, ``acknowledged``, ``closed`` or ``all``)."""
    policy.require_visible(policy.can_view_pv_cases(actor), "The PV case list")
    query = select(PvCase)
    if status in set(PvCaseStatus):
        query = query.where(PvCase.status == PvCaseStatus(status))
    return db.session.scalars(query.order_by(PvCase.due_at, PvCase.id).limit(500)).all()


def get_pv_case(actor: User, case_id: int) -> PvCase:
    """The case, for PV and compliance; anyone else gets NotFound."""
    case = db.session.get(PvCase, case_id)
    policy.require_visible(case is not None and policy.can_view_pv_cases(actor), "That PV case")
    assert case is not None
    return case


def acknowledge_pv_case(actor: User, case_id: int) -> PvCase:
    """PV takes the case: the clock stops. Audit: ``pv_case.acknowledge``."""
    case = get_pv_case(actor, case_id)
    policy.require(policy.can_work_pv_case(actor, case), "Only Pharmacovigilance can do that.")
    if case.status is not PvCaseStatus.OPEN:
        raise InvalidInput("This case is already acknowledged.")
    now = utcnow()
    case.status = PvCaseStatus.ACKNOWLEDGED
    case.acknowledged_at = now
    case.acknowledged_by_id = actor.id
    audit.record(actor, "pv_case.acknowledge", case, late=now > case.due_at)
    db.session.commit()
    return case


@dataclasses.dataclass
class PvCaseInput:
    patient: str = ""
    reporter: str = ""
    suspect_product: str = ""
    event: str = ""
    serious: bool | None = None


PV_FIELD_MAX = 4_000


def update_pv_case(actor: User, case_id: int, data: PvCaseInput) -> PvCase:
    """Complete the four elements of a valid report (patient, reporter, product, event).

    Audit: ``pv_case.update`` naming the fields that changed."""
    case = get_pv_case(actor, case_id)
    policy.require(policy.can_work_pv_case(actor, case), "Only Pharmacovigilance can do that.")
    values = {
        "patient": data.patient, "reporter": data.reporter,
        "suspect_product": data.suspect_product, "event": data.event,
    }  # fmt: skip
    problems = {
        k: "Keep it under 4,000 characters." for k, v in values.items() if len(v) > PV_FIELD_MAX
    }
    if problems:
        raise InvalidInput("Please correct the highlighted fields.", errors=problems)
    changed = [k for k, v in values.items() if getattr(case, k) != v.strip()]
    for key, value in values.items():
        setattr(case, key, value.strip())
    if case.serious != data.serious:
        changed.append("serious")
        case.serious = data.serious
    audit.record(actor, "pv_case.update", case, fields=changed)
    db.session.commit()
    return case


def close_pv_case(actor: User, case_id: int) -> PvCase:
    """Close a case once acknowledged and complete. Audit: ``pv_case.close``."""
    case = get_pv_case(actor, case_id)
    policy.require(policy.can_work_pv_case(actor, case), "Only Pharmacovigilance can do that.")
    if case.status is PvCaseStatus.OPEN:
        raise InvalidInput("Acknowledge the case before closing it.")
    if case.missing_elements:
        raise InvalidInput(
            "A valid report needs all four elements; still missing: "
            + ", ".join(case.missing_elements)
            + "."
        )
    case.status = PvCaseStatus.CLOSED
    case.closed_at = utcnow()
    audit.record(actor, "pv_case.close", case)
    db.session.commit()
    return case


def flag_overdue_cases(now: dt.datetime) -> int:
    """Notify PV once about each open case past its clock, in the CALLER's transaction (the
    sweep's). Audit: ``pv_case.overdue`` (system actor). Returns how many."""
    overdue = db.session.scalars(
        select(PvCase).where(
            PvCase.status == PvCaseStatus.OPEN,
            PvCase.due_at < now,
            PvCase.overdue_notified_at.is_(None),
        )
    ).all()
    for case in overdue:
        case.overdue_notified_at = now
        audit.record(None, "pv_case.overdue", case, due_at=case.due_at.isoformat())
        notifications.notify(
            users.team_members(TeamKey.PHARMACOVIGILANCE),
            kind="pv_case_overdue",
            title=f"PV case {case.reference} is overdue",
            endpoint="questions.pv_case",
            case_id=case.id,
        )
    return len(overdue)
