"""PV asks the reporting HCP a follow-up question through the portal; the HCP answers there.

The HCP sees only what PV asked them and their own answer: never the case, its reasons, its
notes or its other follow-ups. Notifications and e-mails say that PV has a question, never what
it is (minimum necessary). Questions and answers are records: never edited or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask_babel import lazy_gettext
from sqlalchemy import func, select

from portal import audit, policy
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import User, utcnow
from portal.safety.models import PvFollowUp
from portal.safety.services import get_pv_case
from portal.services import notifications
from portal.unit_of_work import transactional

FOLLOW_UP_MAX = 4_000
HCP_TITLE = lazy_gettext("Pharmacovigilance has a question about your report")


def _text(value: str, field: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(f"Write {what}.", field=field)
    if len(text) > FOLLOW_UP_MAX:
        raise InvalidInput("Keep it under 4,000 characters.", field=field)
    return text


@transactional
def ask_follow_up(actor: User, case_id: int, body: str) -> PvFollowUp:
    """PV asks the case's HCP reporter a question. PV only, on a case it works whose reporter is
    an HCP (``PermissionDenied``); a blank or too long question is ``InvalidInput``.

    Audit: ``pv_follow_up.ask``. Notifies the HCP (and queues the e-mail twin) with no text:
    "Pharmacovigilance has a question about your report", linking to their request page."""
    case = get_pv_case(actor, case_id)
    policy.require(
        policy.can_ask_pv_follow_up(actor, case),
        "Only Pharmacovigilance can ask, on an open case reported by an HCP.",
    )
    text = _text(body, "body", "your question")
    hcp = case.reporter_user
    assert hcp is not None  # policy: an HCP reporter
    follow_up = PvFollowUp(case_id=case.id, author_id=actor.id, hcp_id=hcp.id, body=text)
    db.session.add(follow_up)
    db.session.flush()
    audit.record(actor, "pv_follow_up.ask", follow_up, case=case.id, hcp=hcp.id)
    notifications.notify(
        [hcp],
        kind="pv_follow_up",
        title=HCP_TITLE,
        endpoint="safety.request",
        follow_up_id=follow_up.id,
    )
    return follow_up


def my_requests(actor: User) -> Sequence[PvFollowUp]:
    """The questions PV asked ``actor`` (an HCP), waiting ones first, newest first within each.
    Anyone else: ``NotFound`` (the page does not exist for them)."""
    policy.require_visible(policy.can_receive_pv_follow_ups(actor), "Pharmacovigilance requests")
    return db.session.scalars(
        select(PvFollowUp)
        .where(PvFollowUp.hcp_id == actor.id)
        .order_by(PvFollowUp.answered_at.is_not(None), PvFollowUp.id.desc())
    ).all()


def count_waiting(actor: User) -> int:
    """How many of PV's questions wait for ``actor``'s answer (0 for anyone but an HCP)."""
    if not policy.can_receive_pv_follow_ups(actor):
        return 0
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(PvFollowUp)
            .where(PvFollowUp.hcp_id == actor.id, PvFollowUp.answered_at.is_(None))
        )
        or 0
    )


def get_request(actor: User, follow_up_id: int) -> PvFollowUp:
    """One of PV's questions to ``actor``; anyone else's, or none: ``NotFound``."""
    follow_up = db.session.get(PvFollowUp, follow_up_id)
    policy.require_visible(
        follow_up is not None and policy.can_view_pv_follow_up(actor, follow_up),
        "That request",
    )
    assert follow_up is not None
    return follow_up


@transactional
def answer_follow_up(actor: User, follow_up_id: int, answer: str) -> PvFollowUp:
    """The HCP answers PV's question, once (``InvalidInput`` when already answered, blank or too
    long; ``NotFound`` for anyone else's).

    Audit: ``pv_follow_up.answer``. Notifies the PV officer who asked (no text)."""
    follow_up = get_request(actor, follow_up_id)
    if not policy.can_answer_pv_follow_up(actor, follow_up):
        raise InvalidInput("You have already answered this question.")
    follow_up.answer = _text(answer, "answer", "your answer")
    follow_up.answered_at = utcnow()
    audit.record(actor, "pv_follow_up.answer", follow_up, case=follow_up.case_id)
    case = follow_up.case
    notifications.notify(
        [follow_up.author],
        kind="pv_follow_up_answer",
        title=f"The reporter answered your question on {case.reference}",
        endpoint="safety.case",
        case_id=case.id,
    )
    return follow_up
