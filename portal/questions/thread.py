"""One question: finding it for someone who may see it, its thread as they may read it, and
the record of what happens to it (its events and the notifications that tell its people).

Helpers of the other question modules (:mod:`intake`, :mod:`work`, :mod:`sweeps`): nothing here
commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import joinedload

from portal import policy
from portal.extensions import db
from portal.models import HcpProfile, TeamKey, User, utcnow
from portal.questions.models import (
    EntryKind,
    Question,
    QuestionEntry,
    QuestionEvent,
    QuestionEventKind,
)
from portal.services import notifications, users


def get_question(actor: User, question_id: int) -> Question:
    """The question, if ``actor`` may see it; ``NotFound`` otherwise (ids reveal nothing)."""
    # The page shows the HCP (profile, territory) and the product: read at once. (Not the
    # assignee: services change ``assignee_id``, and a loaded ``assignee`` would not follow.)
    question = db.session.get(
        Question,
        question_id,
        options=[
            joinedload(Question.hcp).joinedload(User.hcp_profile).joinedload(HcpProfile.territory),
            joinedload(Question.product),
        ],
    )
    policy.require_visible(
        question is not None and policy.can_view_question(actor, question), "That question"
    )
    assert question is not None
    return question


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


def record_event(
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


def notify_team_or_assignee(question: Question, *, kind: str, title: str) -> None:
    people = [question.assignee] if question.assignee else users.team_members(question.owner_team)
    notifications.notify(
        [p for p in people if p is not None],
        kind=kind,
        title=title,
        endpoint="questions.detail",
        question_id=question.id,
    )
