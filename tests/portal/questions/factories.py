"""Questions made the way HCPs make them: through the service, routed by the real engine."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditRecord, Notification, OutboxMail, User
from portal.questions import intake
from portal.questions.models import Question
from portal.safety.attestations import Attestation
from portal.safety.models import PvCase
from portal.services.consent import current_wording

# What staff attest when answering or closing a question that held no adverse event.
NOTHING = Attestation(adverse_event=False, product_complaint=False)


def question_input(**overrides: Any) -> intake.QuestionInput:
    consent = overrides.pop("consent", True)
    product = overrides.pop("product", None)
    return intake.QuestionInput(
        text=overrides.pop("text", "What is the recommended dose in renal impairment?"),
        category=overrides.pop("category", "dosing"),
        channel=overrides.pop("channel", "portal"),
        urgency=overrides.pop("urgency", "routine"),
        product_id=product.id if product is not None else overrides.pop("product_id", None),
        consent=consent,
        consent_wording_id=overrides.pop(
            "consent_wording_id", current_wording(intake.CONSENT_PURPOSE).id
        ),
        **overrides,
    )


def ask(hcp: User, *, now: dt.datetime | None = None, **overrides: Any) -> Question:
    return intake.ask_question(hcp, question_input(**overrides), now=now)


def pv_cases_of(question: Question) -> list[PvCase]:
    return list(db.session.scalars(select(PvCase).where(PvCase.question_id == question.id)))


def question_audit(question: Question) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditRecord.action)
            .where(
                AuditRecord.target_type == "questions", AuditRecord.target_id == str(question.id)
            )
            .order_by(AuditRecord.id)
        )
    )


def notifications_of(user: User) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
    )


def mail_to(user: User) -> list[OutboxMail]:
    return list(
        db.session.scalars(
            select(OutboxMail).where(OutboxMail.to == user.email).order_by(OutboxMail.id)
        )
    )
