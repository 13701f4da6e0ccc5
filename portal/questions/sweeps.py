"""The clock: what went overdue is told once, to the people who must act on it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from portal import audit
from portal.extensions import db
from portal.models import utcnow
from portal.questions import thread
from portal.questions.models import Question, QuestionEventKind, QuestionStatus
from portal.safety import services as safety
from portal.services import notifications, users
from portal.unit_of_work import transactional


@transactional
def sweep_overdue(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Tell people about what went overdue since the last sweep (each item once).

    Run by the background worker (a periodic job, :mod:`portal.jobs`) and by ``flask questions
    sweep``. Audit: ``question.overdue`` / ``pv_case.overdue`` (system actor). Returns the counts.
    """
    now = now or utcnow()
    overdue_questions = db.session.scalars(
        select(Question)
        .where(
            Question.status.in_([QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS]),
            Question.due_at < now,
            Question.overdue_notified_at.is_(None),
        )
        # A sweep run by hand beside the worker's passes over what the other is telling.
        .with_for_update(skip_locked=True)
    ).all()
    for question in overdue_questions:
        question.overdue_notified_at = now
        thread.record_event(question, QuestionEventKind.OVERDUE, None, team=question.owner_team)
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
    return {"questions": len(overdue_questions), "pv_cases": overdue_cases}
