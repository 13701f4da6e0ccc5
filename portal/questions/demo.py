"""Demo questions for ``seed-demo``: every category and state, overdue ones and PV cases.

They go through the real services (routing, PV cases, notifications, audit), back-dated by
passing the time they were received, so the demo shows what the engine really decides.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Product, TeamKey, User, utcnow
from portal.questions import intake, settings, sweeps, work
from portal.questions.models import Category, ProductLabel, Question, RoutingRule
from portal.safety.attestations import Attestation
from portal.services.consent import current_wording
from portal.services.demo import demo_email
from portal.services.users import team_members
from portal.unit_of_work import transactional

LABELS = {
    # product code: (indications, min age, max age, dose range in mg, populations)
    "CVX": (("hypertension", "heart_failure"), 18, None, (5.0, 20.0), "Adults; not in pregnancy."),
    "ONC": (("breast_cancer", "lung_cancer"), 18, None, (100.0, 400.0), "Adults."),
    "RSP": (("asthma", "copd"), 12, None, (1.0, 4.0), "Adults and adolescents from 12 years."),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class DemoQuestion:
    hcp: str
    category: str
    product: str | None
    text: str
    days_ago: float
    then: str = ""  # "", "claim", "answer", "rated", "follow_up", "close"
    urgency: str = "routine"
    channel: str = "portal"


DEMO_QUESTIONS = [
    DemoQuestion("hcp", "dosing", "CVX", "What is the recommended dose adjustment of Cardiovex "
                 "for patients with moderate renal impairment?", 0.1),
    DemoQuestion("hcp", "clinical", "CVX", "Are there head-to-head data comparing Cardiovex with "
                 "ACE inhibitors on blood pressure control at 12 weeks?", 6, "answer"),
    DemoQuestion("hcp", "adverse_event", "CVX", "My patient developed a severe rash and was "
                 "hospitalised two days after starting Cardiovex 10 mg.", 0.2),
    DemoQuestion("hcp", "samples", "CVX", "Could I get starter samples of Cardiovex for my "
                 "clinic?", 1, "claim"),
    DemoQuestion("hcp", "samples", "CVX", "Can I use the samples for off-label use in children "
                 "with migraine?", 2),
    DemoQuestion("hcp2", "off_label", "ONC", "Is there any evidence for Oncora in pancreatic "
                 "cancer after two prior lines?", 5, "rated"),
    DemoQuestion("hcp2", "access", "ONC", "Which patient support programme covers Oncora "
                 "co-pays for Medicare patients?", 4),
    DemoQuestion("hcp2", "quality", "ONC", "A vial of Oncora arrived cracked; the patient was "
                 "not exposed.", 3, "follow_up"),
    DemoQuestion("pharmacist", "quality", "RSP", "The Respira inhaler counter jumped and my "
                 "patient received no dose and had an asthma attack.", 1.5),
    DemoQuestion("pharmacist", "safety", "RSP", "Is Respira safe with concomitant beta "
                 "blockers?", 9, "close"),
    DemoQuestion("np", "other", None, "How do I update the e-mail address on my portal "
                 "account?", 8, "answer"),
    DemoQuestion("np", "dosing", "RSP", "Maximum daily dose of Respira for a patient on "
                 "dialysis?", 0.05, urgency="urgent"),
    DemoQuestion("dr.mueller", "clinical", "RSP", "Gibt es Daten zu Respira bei schwerem "
                 "Asthma? Ein Patient hatte nach der zweiten Dosis einen Ausschlag.", 2.5),
    DemoQuestion("dr.garcia", "access", "CVX", "¿Cómo solicito el reembolso de Cardiovex en "
                 "Cataluña?", 0.5),
]  # fmt: skip


def _labels() -> None:
    for code, (indications, min_age, max_age, doses, populations) in LABELS.items():
        product = db.session.scalar(select(Product).where(Product.code == code))
        if product is None or db.session.get(ProductLabel, product.id) is not None:
            continue
        db.session.add(
            ProductLabel(
                product_id=product.id,
                indications=list(indications),
                min_age=min_age,
                max_age=max_age,
                dose_min_mg=doses[0],
                dose_max_mg=doses[1],
                populations=populations,
            )
        )


def _extra_rules() -> None:
    named = "Compassionate use requests"
    if db.session.scalar(select(RoutingRule).where(RoutingRule.name == named)) is not None:
        return
    # Before the defaults, so it wins: the MSL team handles expanded-access conversations.
    for rule in db.session.scalars(select(RoutingRule)):
        rule.position += 1
    db.session.add(
        RoutingRule(
            position=1,
            name=named,
            keywords=["compassionate use", "expanded access", "uso compasivo", "härtefall*"],
            team=TeamKey.MSL,
        )
    )


def _user(who: str) -> User:
    user = db.session.scalar(select(User).where(User.email == demo_email(who)))
    assert user is not None, f"demo account {who} is missing"
    return user


def _staff_for(question: Question) -> User | None:
    if question.assignee is not None:
        return question.assignee
    members = team_members(question.owner_team)
    return members[0] if members else None


def _work(question: Question, then: str) -> None:
    staff = _staff_for(question)
    if not then or staff is None:
        return
    if question.assignee_id != staff.id:
        work.claim_question(staff, question.id)
    if then == "claim":
        return
    # The answerer attests what the demo question holds (an adverse event PV already has, or a
    # quality complaint), as anyone answering must.
    attestation = Attestation(
        adverse_event=question.ae_flag, product_complaint=question.category is Category.QUALITY
    )
    work.reply_to_question(
        staff,
        question.id,
        body="Thank you for your question. Please find our answer below.\n\n"
        "- The data you asked about are summarised in the prescribing information.\n"
        "- Contact us again here if anything is unclear.",
        attestation=attestation,
    )
    hcp = question.hcp
    if then == "rated":
        intake.rate_answer(hcp, question.id, helpful=True)
    elif then == "follow_up":
        intake.follow_up(hcp, question.id, "Thanks. Could you also send the lot number form?")
    elif then == "close":
        work.close_question(hcp, question.id, reason="Answered, thank you.")


@transactional
def seed_questions() -> str | None:
    """Routing defaults, label facts and the demo questions (once), in one unit of work."""
    wording = current_wording(intake.CONSENT_PURPOSE)  # may commit: before any change
    settings.ensure_default_rules()
    _labels()
    _extra_rules()
    if db.session.scalar(select(func.count()).select_from(Question)):
        return None
    now = utcnow().replace(microsecond=0)
    for item in DEMO_QUESTIONS:
        product = (
            db.session.scalar(select(Product).where(Product.code == item.product))
            if item.product
            else None
        )
        question = intake.ask_question(
            _user(item.hcp),
            intake.QuestionInput(
                text=item.text,
                category=item.category,
                channel=item.channel,
                urgency=item.urgency,
                product_id=product.id if product else None,
                consent=True,
                consent_wording_id=wording.id,
            ),
            now=now - dt.timedelta(days=item.days_ago),
        )
        _work(question, item.then)
    sweeps.sweep_overdue(now=now)
    return f"Added {len(DEMO_QUESTIONS)} demo questions."
