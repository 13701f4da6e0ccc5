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
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal import audit, policy, webhooks
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import Product, TeamKey, User, utcnow
from portal.safety import detection
from portal.safety.models import CaseOrigin, PvCase, PvCaseStatus, Seriousness
from portal.services import notifications, users
from portal.unit_of_work import transactional
from portal.urls import external_url


def product_names() -> tuple[str, ...]:
    """Every product's name, for detection to recognise a product named in a text."""
    return tuple(db.session.scalars(select(Product.name).order_by(Product.id)))


def detect(text: str) -> detection.Finding:
    """Adverse-event detection of an HCP's or colleague's words (a chat message, an edit), with
    the company's product names, as routing detects it in questions."""
    return detection.detect_adverse_event(text, products=product_names())


class CaseSource(enum.StrEnum):
    """Where the words of a case were said."""

    QUESTION = "question"
    FOLLOW_UP = "follow_up"
    CHAT = "chat"
    CALL_NOTE = "call_note"
    MEETING = "meeting"  # the topic of a meeting an HCP asked for


def adverse_event_due_at(received_at: dt.datetime) -> dt.datetime:
    """When PV must have acknowledged a possible adverse event received at ``received_at``: one
    business day on the adverse-event SLA and Pharmacovigilance's business calendar."""
    from portal.questions import facts  # the calendar and SLAs are routing data

    pv = facts.calendar(TeamKey.PHARMACOVIGILANCE)
    return pv.due_at(received_at, facts.slas()["adverse_event"])


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
    call_note_id: int | None = None,
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
        call_note_id=call_note_id,
        product_complaint=product_complaint,
    )
    db.session.add(case)
    db.session.flush()
    audit.record(
        actor, "pv_case.open", case, source=case.source, ref=source_ref, question=question_id,
        due_at=due.isoformat(), reasons=list(reasons), origin=origin.value,
        message=message_id, call_note=call_note_id, product_complaint=product_complaint,
    )  # fmt: skip
    webhooks.publish(
        webhooks.WebhookEvent.PV_CASE_OPENED,
        {
            "case_id": case.id,
            "reference": case.reference,
            "source": case.source,
            "origin": origin.value,
            "question_id": question_id,
            "created_at": received_at,
            "due_at": due,
        },
    )
    notifications.notify(
        users.team_members(TeamKey.PHARMACOVIGILANCE),
        kind="pv_case",
        title=f"New possible adverse event {case.reference}, due {_when(due)}",
        endpoint="safety.case",
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


def cases_of_conversation(actor: User, conversation_id: int) -> list[PvCase]:
    """The PV cases opened from a chat conversation's messages, for PV and compliance only
    (others get an empty list)."""
    if not policy.can_view_pv_cases(actor):
        return []
    return list(
        db.session.scalars(
            select(PvCase).where(PvCase.conversation_id == conversation_id).order_by(PvCase.id)
        )
    )


def conversation_holds_case(conversation_id: int) -> bool:
    """Whether any PV case was opened from this conversation (PV may then read its transcript:
    see :func:`portal.policy.can_read_chat_transcript`). A fact, not a permission."""
    found = db.session.scalar(
        select(PvCase.id).where(PvCase.conversation_id == conversation_id).limit(1)
    )
    return found is not None


def case_notices(
    viewer: User, conversation: Any, message_ids: Collection[int]
) -> dict[int, dict[str, str]]:
    """For the chat: which of ``message_ids`` (of ``conversation``) went to PV, as ``viewer`` may
    be told: ``{message_id: {"reference": "PV-000123"}}``, with ``"url"`` (the case page) only for
    those who may open the case. Empty for anyone else (the HCP included). Reads only."""
    if not message_ids or not policy.can_know_pv_case_reference(viewer, conversation):
        return {}
    rows = db.session.execute(
        select(PvCase.message_id, PvCase.id)
        .where(PvCase.conversation_id == conversation.id, PvCase.message_id.in_(message_ids))
        .order_by(PvCase.id)
    ).all()
    with_link = policy.can_view_pv_cases(viewer)
    notices: dict[int, dict[str, str]] = {}
    for message_id, case_id in rows:
        if message_id is None or message_id in notices:
            continue  # the first case of a message is the one to name
        notice = {"reference": reference_of(case_id)}
        if with_link:
            notice["url"] = case_path(case_id)
        notices[message_id] = notice
    return notices


def reference_of(case_id: int) -> str:
    """``PV-000123``: how a case is named everywhere (same as :attr:`PvCase.reference`)."""
    return f"PV-{case_id:06d}"


def case_path(case_id: int) -> str:
    """The case page's path on this site (for payloads that carry a link, not for e-mail)."""
    return urlsplit(external_url("safety.case", case_id=case_id)).path


class ListStatus(enum.StrEnum):
    """The case list's status tabs: one per case status, and everything."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"
    ALL = "all"

    @property
    def label(self) -> str:
        return self.value.capitalize()


@dataclasses.dataclass(frozen=True)
class CaseFilter:
    """What the case list shows. Unknown values fall back to the default (a bookmarked URL with a
    stale value still opens the list)."""

    status: ListStatus = ListStatus.OPEN
    source: CaseSource | None = None
    origin: CaseOrigin | None = None
    overdue: bool = False

    @classmethod
    def of(
        cls, *, status: str = "", source: str = "", origin: str = "", overdue: bool = False
    ) -> CaseFilter:
        """The filter from the list's query parameters (unknown values: the defaults)."""
        return cls(
            status=ListStatus(status) if status in set(ListStatus) else ListStatus.OPEN,
            source=CaseSource(source) if source in set(CaseSource) else None,
            origin=CaseOrigin(origin) if origin in set(CaseOrigin) else None,
            overdue=overdue,
        )


PAGE_SIZE = 25


@dataclasses.dataclass(frozen=True)
class CasePage:
    """One page of the case list, and where it sits in the whole."""

    cases: list[PvCase]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def case_page(
    actor: User,
    filters: CaseFilter,
    *,
    page: int = 1,
    per_page: int = PAGE_SIZE,
    now: dt.datetime | None = None,
) -> CasePage:
    """A page of PV cases, for PV and compliance (anyone else: ``NotFound``).

    Open cases come soonest due first (the clock); the other tabs most recently received first.
    ``overdue`` keeps open cases past their due time. A page past the end shows the last one."""
    policy.require_visible(policy.can_view_pv_cases(actor), "The PV case list")
    now = now or utcnow()
    conditions: list[Any] = []
    if filters.status is not ListStatus.ALL:
        conditions.append(PvCase.status == PvCaseStatus(filters.status.value))
    if filters.source is not None:
        conditions.append(PvCase.source == filters.source.value)
    if filters.origin is not None:
        conditions.append(PvCase.origin == filters.origin)
    if filters.overdue:
        conditions += [PvCase.status == PvCaseStatus.OPEN, PvCase.due_at < now]
    total = int(db.session.scalar(select(func.count()).select_from(PvCase).where(*conditions)) or 0)
    per_page = max(1, per_page)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    order: tuple[Any, ...] = (PvCase.due_at, PvCase.id)
    if not (filters.status is ListStatus.OPEN or filters.overdue):
        order = (PvCase.created_at.desc(), PvCase.id.desc())
    cases = db.session.scalars(
        select(PvCase)
        .options(joinedload(PvCase.reporter_user).joinedload(User.hcp_profile))
        .where(*conditions)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return CasePage(cases=list(cases), total=total, page=page, per_page=per_page)


def count_open_cases(actor: User) -> int:
    """How many cases wait on the clock (the home panel), for PV and compliance; 0 otherwise."""
    if not policy.can_view_pv_cases(actor):
        return 0
    return int(
        db.session.scalar(
            select(func.count()).select_from(PvCase).where(PvCase.status == PvCaseStatus.OPEN)
        )
        or 0
    )


def get_pv_case(actor: User, case_id: int) -> PvCase:
    """The case, for PV and compliance; anyone else gets NotFound."""
    case = db.session.get(PvCase, case_id)
    policy.require_visible(case is not None and policy.can_view_pv_cases(actor), "That PV case")
    assert case is not None
    return case


@transactional
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
    return case


class PatientSex(enum.StrEnum):
    """The patient's sex as reported (E2B D.5); empty when not given."""

    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return self.value.capitalize()


@dataclasses.dataclass
class PvCaseInput:
    patient: str = ""
    reporter: str = ""
    suspect_product: str = ""
    event: str = ""
    seriousness: Sequence[str] = ()
    patient_initials: str = ""
    patient_age: str = ""
    patient_sex: str = ""


PV_FIELD_MAX = 4_000
PATIENT_INITIALS_MAX = 16
PATIENT_AGE_MAX = 32


@transactional
def update_pv_case(actor: User, case_id: int, data: PvCaseInput) -> PvCase:
    """Complete the report: the four elements (patient, reporter, product, event), the patient's
    initials, age and sex, and the seriousness criteria (ICH E2A). The case is serious when any
    criterion is ticked, not serious when none is (``serious`` stays unknown until PV saves).

    PV only, while the case is not closed (``PermissionDenied``); every bad field at once
    (``InvalidInput``). Audit: ``pv_case.update`` naming the fields that changed."""
    case = get_pv_case(actor, case_id)
    policy.require(policy.can_work_pv_case(actor, case), "Only Pharmacovigilance can do that.")
    values = {
        "patient": data.patient.strip(), "reporter": data.reporter.strip(),
        "suspect_product": data.suspect_product.strip(), "event": data.event.strip(),
        "patient_initials": data.patient_initials.strip(),
        "patient_age": data.patient_age.strip(), "patient_sex": data.patient_sex.strip(),
    }  # fmt: skip
    problems = {
        k: "Keep it under 4,000 characters."
        for k in ("patient", "reporter", "suspect_product", "event")
        if len(values[k]) > PV_FIELD_MAX
    }
    if len(values["patient_initials"]) > PATIENT_INITIALS_MAX:
        problems["patient_initials"] = f"Initials only: at most {PATIENT_INITIALS_MAX} characters."
    if len(values["patient_age"]) > PATIENT_AGE_MAX:
        problems["patient_age"] = f"Keep it under {PATIENT_AGE_MAX} characters (e.g. 72 years)."
    if values["patient_sex"] and values["patient_sex"] not in set(PatientSex):
        problems["patient_sex"] = "Choose female, male or unknown."
    unknown = [c for c in data.seriousness if c not in set(Seriousness)]
    if unknown:
        problems["seriousness"] = "Choose among the listed criteria."
    if problems:
        raise InvalidInput("Please correct the highlighted fields.", errors=problems)
    # Stored in the criteria's own order, so the same choice never reads as a change.
    criteria: list[str] = [str(c) for c in Seriousness if c.value in set(data.seriousness)]
    changed = [k for k, v in values.items() if getattr(case, k) != v]
    for key, value in values.items():
        setattr(case, key, value)
    if list(case.seriousness or []) != criteria:
        changed.append("seriousness")
        case.seriousness = criteria
    serious = bool(criteria)
    if case.serious != serious:
        changed.append("serious")
        case.serious = serious
    audit.record(actor, "pv_case.update", case, fields=changed)
    return case


@transactional
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
    return case


def flag_overdue_cases(now: dt.datetime) -> int:
    """Notify PV once about each open case past its clock, in the CALLER's transaction (the
    sweep's). Audit: ``pv_case.overdue`` (system actor). Returns how many."""
    overdue = db.session.scalars(
        select(PvCase)
        .where(
            PvCase.status == PvCaseStatus.OPEN,
            PvCase.due_at < now,
            PvCase.overdue_notified_at.is_(None),
        )
        .with_for_update(skip_locked=True)  # each case told once, whoever else is sweeping
    ).all()
    for case in overdue:
        case.overdue_notified_at = now
        audit.record(None, "pv_case.overdue", case, due_at=case.due_at.isoformat())
        notifications.notify(
            users.team_members(TeamKey.PHARMACOVIGILANCE),
            kind="pv_case_overdue",
            title=f"PV case {case.reference} is overdue",
            endpoint="safety.case",
            case_id=case.id,
        )
    return len(overdue)
