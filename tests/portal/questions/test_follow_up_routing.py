"""Follow-ups are routed like questions (issue 11, item 4).

Medical content in a follow-up (off-label intent, a possible adverse event, a patient affected,
words a keyword rule sends to a medical team) never stays with a commercial team: Medical
Information takes the question, the team it left keeps a trace without the text, and the firewall
shuts the question to them. A possible adverse event copies PV whoever owns the question.

Texts are ones the detector flags without doubt, since its phrase lists are being improved.
"""

from __future__ import annotations

import datetime as dt
from html import unescape

import pytest
from flask import Flask
from sqlalchemy import select

from portal.errors import InvalidInput, NotFound
from portal.extensions import db
from portal.models import AuditRecord, Role, TeamKey, User
from portal.questions import facts, intake, routing, thread, work
from portal.questions.calendar import BusinessCalendar, Sla, SlaUnit
from portal.questions.models import (
    Category,
    EntryKind,
    ProductLabel,
    Question,
    QuestionEventKind,
    QuestionStatus,
)
from portal.questions.routing import (
    FollowUpDecision,
    HcpFacts,
    QuestionFacts,
    RuleFacts,
    StaffFacts,
    classify_follow_up,
    route_follow_up,
)
from portal.safety.detection import LabelFacts
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.helpers import browser
from tests.portal.questions.factories import (
    ask,
    mail_to,
    notifications_of,
    pv_cases_of,
    question_audit,
)

MI = TeamKey.MEDICAL_INFORMATION
SALES = TeamKey.SALES
ACCESS = TeamKey.MARKET_ACCESS
PV = TeamKey.PHARMACOVIGILANCE
QUALITY = TeamKey.QUALITY

OFF_LABEL = "Thanks. Can I use it off-label in children under 6?"
AE = "Update: the patient was hospitalised after the second dose."
LOGISTICS = "Please send 3 more boxes of samples to the clinic next week."
SAMPLES = "Could I get starter samples for my clinic please?"
ACCESS_TEXT = "Which co-pay programme covers this product for my patients?"

LABELS = {
    "CVX": LabelFacts(
        product="CVX",
        product_name="Cardiovex",
        indications=("hypertension",),
        min_age=18,
        dose_min_mg=5,
        dose_max_mg=20,
    )
}
US_NE = HcpFacts(country="US", territory="US-NE")
MONDAY = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York


def facts_of(category: str, product: str | None = None) -> QuestionFacts:
    return QuestionFacts(category=Category(category), text="(the question)", product=product)


# --- the engine: a follow-up against the team that owns the question ------------------------------
# owner, category, product, follow-up text → moves to, PV case, off-label flag
CASES = [
    (SALES, "samples", None, OFF_LABEL, MI, False, True),
    (SALES, "samples", "CVX", "Can I give it to an 8-year-old child?", MI, False, True),
    (SALES, "samples", "CVX", "Would 80 mg once daily be fine for him?", MI, False, True),
    (ACCESS, "access", None, AE, MI, True, False),
    # A patient affected (the detector may also call it an adverse event: PV not asserted).
    (SALES, "other", None, "The patient took two tablets from the samples.", MI, None, False),
    (SALES, "samples", None, LOGISTICS, None, False, False),
    (ACCESS, "access", "CVX", "Is the co-pay card still valid next year?", None, False, False),
    (MI, "dosing", None, AE, None, True, False),
    (MI, "dosing", None, OFF_LABEL, None, False, True),
    (PV, "adverse_event", None, AE, None, True, False),
    (QUALITY, "quality", None, "The patient took two tablets from the cracked pack.", None,
     True, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("owner", "category", "product", "text", "move_to", "pv", "off_label"), CASES
)
def test_a_follow_up_is_read_against_the_team_that_owns_the_question(
    owner, category, product, text, move_to, pv, off_label
):
    decision = classify_follow_up(text, facts_of(category, product), owner, US_NE, [], LABELS)
    assert (decision.move_to, decision.off_label) == (move_to, off_label)
    if pv is not None:
        assert decision.pv is pv


def test_the_reason_names_the_follow_ups_words():
    decision = classify_follow_up(
        f"{OFF_LABEL} {AE}", facts_of("samples"), SALES, US_NE, [], LABELS
    )
    assert decision.reasons[0].startswith(
        "moved to Medical Information because the follow-up mentions 'off-label' "
        "(a use outside the label)"
    )
    assert (
        "hospitalised" in decision.reasons[0]
        and "(a possible adverse event)" in (decision.reasons[0])
    )
    assert decision.reasons[1].startswith(
        "routed to Pharmacovigilance as well because the follow-up mentions "
    )
    assert "hospitalised" in decision.reasons[1]
    assert decision.words[0] == "off-label"
    assert any("hospitalised" in w for w in decision.words)


def test_a_keyword_rule_to_a_medical_team_is_medical_content_one_to_sales_is_not():
    to_msl = RuleFacts(id=1, name="Compassionate use", team=TeamKey.MSL,
                       keywords=("compassionate use",))  # fmt: skip
    to_sales = RuleFacts(id=2, name="Boxes", team=SALES, keywords=("boxes",))
    text = "Is compassionate use possible? I also need boxes."

    moved = classify_follow_up(text, facts_of("samples"), SALES, US_NE, [to_msl], LABELS)
    assert moved.move_to is MI
    assert "'compassionate use' (for MSL team by rule 'Compassionate use')" in moved.reasons[0]
    kept = classify_follow_up(text, facts_of("samples"), SALES, US_NE, [to_sales], LABELS)
    assert kept == FollowUpDecision()


def test_a_moved_question_is_assigned_within_mi_and_due_from_the_follow_up():
    calendar = BusinessCalendar(timezone="America/New_York")
    staff = [
        StaffFacts(id=1, name="Busy", teams=frozenset({MI}), open_questions=4),
        StaffFacts(id=2, name="Free", teams=frozenset({MI}), open_questions=1),
        StaffFacts(id=3, name="Rep", teams=frozenset({SALES}), territories=frozenset({"US-NE"})),
    ]
    decision = route_follow_up(
        OFF_LABEL, facts_of("samples"), SALES, US_NE, rules=[], staff=staff, labels=LABELS,
        calendar=calendar, slas=routing.DEFAULT_SLAS, received_at=MONDAY,
    )  # fmt: skip
    assert decision.assignee_id == 2
    assert decision.due_at == calendar.due_at(MONDAY, Sla(2, SlaUnit.DAYS))
    assert decision.reasons[-2:] == (
        "assigned to Free, who has the fewest open questions on Medical Information (1)",
        "due within 2 business days of the follow-up",
    )


# --- the service --------------------------------------------------------------------------------
@pytest.fixture
def hcp(app: Flask) -> User:
    return make_hcp(territory=make_territory(code="US-NE"))


@pytest.fixture
def rep(hcp: User) -> User:
    return make_user(Role.REP, territories=[hcp.territory], name="Rita Rep")


@pytest.fixture
def mi(app: Flask) -> User:
    return make_user(Role.MEDICAL_INFORMATION, name="Mina Information")


def reroutes(question: Question) -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord).where(
                AuditRecord.action == "question.reroute",
                AuditRecord.target_id == str(question.id),
            )
        )
    )


def test_off_label_in_a_follow_up_moves_a_samples_question_from_the_rep_to_mi(hcp, rep, mi):
    question = ask(hcp, category="samples", text=SAMPLES, now=MONDAY)
    assert (question.owner_team, question.assignee_id) == (SALES, rep.id)
    later = MONDAY + dt.timedelta(days=3)

    intake.follow_up(hcp, question.id, OFF_LABEL, now=later)

    assert question.owner_team is MI
    assert question.assignee_id == mi.id
    assert question.status is QuestionStatus.IN_PROGRESS
    assert question.off_label_flag and not question.ae_flag
    assert question.due_at == facts.calendar().due_at(later, Sla(2, SlaUnit.DAYS))
    assert question.routing["teams"] == ["medical_information"]
    assert any(
        r.startswith("moved to Medical Information because the follow-up mentions 'off-label'")
        for r in question.reasons
    )
    assert question.moves == [
        {"from_team": "sales", "to_team": "medical_information", "from_assignee": rep.id,
         "at": later.isoformat()},
    ]  # fmt: skip
    assert [e.kind for e in question.events][-3:] == [
        QuestionEventKind.FOLLOW_UP, QuestionEventKind.REROUTED, QuestionEventKind.ASSIGNED,
    ]  # fmt: skip
    assert question_audit(question)[-2:] == ["question.follow_up", "question.reroute"]
    [record] = reroutes(question)
    assert record.actor_id is None  # the routing engine moved it
    assert record.details["from_team"] == "sales"
    assert record.details["to_team"] == "medical_information"
    assert record.details["previous_assignee"] == rep.id and record.details["assignee"] == mi.id
    assert any("'off-label'" in r for r in record.details["reasons"])
    assert pv_cases_of(question) == []

    with pytest.raises(NotFound):
        thread.get_question(rep, question.id)
    assert work.queue(rep, view="all") == []
    [moved] = [n for n in notifications_of(rep) if n.kind == "question_moved"]
    assert moved.title == (
        f"Question {question.reference} moved to Medical Information on 26 Nov 2026 "
        "(medical content in a follow-up)"
    )
    assert moved.url == "/questions/queue"
    assert [n.kind for n in notifications_of(mi)] == ["question_rerouted"]
    assert all("off-label" not in m.body and "children" not in m.body for m in mail_to(rep))
    assert work.moved_away(rep) == [
        work.MovedQuestion(reference=question.reference, at=later, to_team=MI)
    ]
    assert work.moved_away(mi) == []


def test_an_adverse_event_in_a_follow_up_moves_an_access_question_and_copies_pv(hcp, mi):
    access = make_user(Role.MARKET_ACCESS, territories=[hcp.territory])
    question = ask(hcp, category="access", text=ACCESS_TEXT)
    assert (question.owner_team, question.assignee_id) == (ACCESS, access.id)

    intake.follow_up(hcp, question.id, AE)

    assert question.owner_team is MI and question.assignee_id == mi.id
    assert question.ae_flag and not question.off_label_flag
    assert question.routing["teams"] == ["medical_information", "pharmacovigilance"]
    [case] = pv_cases_of(question)
    assert case.source == "follow_up" and "hospitalised" in case.source_text
    assert case.entry_id == question.entries[-1].id
    with pytest.raises(NotFound):
        thread.get_question(access, question.id)
    assert [n.kind for n in notifications_of(access)][-1] == "question_moved"
    assert question_audit(question)[-2:] == ["question.follow_up", "question.reroute"]


def test_a_logistics_follow_up_stays_with_sales(hcp, rep, mi):
    question = ask(hcp, category="samples", text=SAMPLES)
    reasons = question.reasons

    intake.follow_up(hcp, question.id, LOGISTICS)

    assert (question.owner_team, question.assignee_id) == (SALES, rep.id)
    assert not question.off_label_flag and not question.ae_flag
    assert question.reasons == reasons and question.moves == []
    assert thread.get_question(rep, question.id) is question
    assert [n.kind for n in notifications_of(rep)] == ["question_new", "question_follow_up"]
    assert reroutes(question) == [] and pv_cases_of(question) == []


def test_an_adverse_event_on_an_mi_question_stays_with_mi_and_copies_pv(hcp, mi):
    question = ask(hcp)
    due = question.due_at

    intake.follow_up(hcp, question.id, AE)

    assert (question.owner_team, question.assignee_id, question.due_at) == (MI, mi.id, due)
    assert question.ae_flag
    assert question.routing["teams"] == ["medical_information", "pharmacovigilance"]
    assert question.reasons[-1].startswith(
        "routed to Pharmacovigilance as well because the follow-up mentions '"
    )
    assert "hospitalised" in question.reasons[-1]
    [case] = pv_cases_of(question)
    assert case.source == "follow_up"
    assert [n.kind for n in notifications_of(mi)] == ["question_new", "question_follow_up"]
    assert reroutes(question) == []


def test_off_label_on_an_mi_question_stays_and_is_flagged(hcp, mi):
    question = ask(hcp)
    intake.follow_up(hcp, question.id, OFF_LABEL)
    assert question.owner_team is MI and question.off_label_flag
    assert question.reasons[-1].startswith("possible off-label question: the follow-up mentions")
    assert reroutes(question) == [] and pv_cases_of(question) == []


def test_the_label_facts_of_the_questions_product_count(hcp, rep, mi):
    product = make_product(code="CVX", name="Cardiovex")
    db.session.add(ProductLabel(product_id=product.id, indications=["hypertension"], min_age=18))
    db.session.commit()
    question = ask(hcp, category="samples", text=SAMPLES, product=product)
    intake.follow_up(hcp, question.id, "Can I give it to an 8-year-old child?")
    assert question.owner_team is MI and question.off_label_flag


def test_an_unassigned_question_tells_the_whole_team_it_left(hcp, mi):
    elsewhere = make_user(Role.REP, territories=[make_territory(code="US-SW")])
    question = ask(hcp, category="samples", text=SAMPLES)
    assert question.owner_team is SALES and question.assignee_id is None

    intake.follow_up(hcp, question.id, OFF_LABEL)

    assert question.owner_team is MI
    assert [n.kind for n in notifications_of(elsewhere)] == ["question_new", "question_moved"]
    assert [m.reference for m in work.moved_away(elsewhere)] == [question.reference]


def test_commercial_notes_stay_commercial_after_the_move(hcp, rep, mi):
    question = ask(hcp, category="samples", text=SAMPLES)
    work.add_note(rep, question.id, body="Samples shipped last month.")
    intake.follow_up(hcp, question.id, OFF_LABEL)

    def notes(viewer: User) -> list[str]:
        shown = thread.visible_entries(viewer, question)
        return [e.body for e in shown if e.kind is EntryKind.NOTE]

    assert notes(mi) == []
    assert notes(make_user(Role.COMPLIANCE)) == ["Samples shipped last month."]


@pytest.mark.parametrize("to_team", ["sales", "market_access"])
def test_a_moved_question_never_goes_back_to_a_commercial_team(hcp, rep, mi, to_team):
    question = ask(hcp, category="samples", text=SAMPLES)
    intake.follow_up(hcp, question.id, AE)  # no off-label flag: the move itself pins it
    assert not question.off_label_flag
    assert work.reassign_choices(mi, question) == [TeamKey.MSL, PV, QUALITY]
    with pytest.raises(InvalidInput):
        work.reassign_question(mi, question.id, to_team=to_team, reason="It says samples")
    assert question.owner_team is MI


def test_a_follow_up_is_never_lost_when_routing_fails(hcp, rep, mi, monkeypatch):
    question = ask(hcp, category="samples", text=SAMPLES)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("detector down")

    monkeypatch.setattr(routing, "route_follow_up", broken)
    intake.follow_up(hcp, question.id, LOGISTICS)

    assert question.owner_team is MI
    assert question.entries[-1].body == LOGISTICS
    assert len(pv_cases_of(question)) == 1
    with pytest.raises(NotFound):
        thread.get_question(rep, question.id)


# --- the pages the rep can still open -------------------------------------------------------------
def test_after_the_move_the_rep_keeps_a_trace_but_never_the_text(app, hcp, rep, mi):
    question = ask(hcp, category="samples", text=SAMPLES)
    rep_browser = browser(app, rep)
    assert rep_browser.get(f"/questions/{question.id}").status_code == 200

    posted = browser(app, hcp).post(
        f"/questions/{question.id}/follow-up", data={"text": OFF_LABEL}, follow_redirects=True
    )
    assert "With Medical Information" in unescape(posted.get_data(as_text=True))

    assert rep_browser.get(f"/questions/{question.id}").status_code == 404
    pages = {
        path: unescape(rep_browser.get(path).get_data(as_text=True))
        for path in ("/", "/notifications", "/questions/queue", "/questions/queue?view=team",
                     "/questions/queue?view=all&closed=1")
    }  # fmt: skip
    for path, html in pages.items():
        assert "children under 6" not in html and OFF_LABEL not in html, path
        assert SAMPLES not in html, path  # the question itself is medical now
    assert f"{question.reference} moved to Medical Information on" in pages["/questions/queue"]
    assert f"Question {question.reference} moved to Medical Information" in pages["/notifications"]
    [notification] = [n for n in notifications_of(rep) if n.kind == "question_moved"]
    opened = rep_browser.post(f"/notifications/{notification.id}")
    assert opened.status_code == 302 and opened.location.endswith("/questions/queue")

    mi_page = unescape(browser(app, mi).get(f"/questions/{question.id}").get_data(as_text=True))
    assert OFF_LABEL in mi_page
    assert "moved to Medical Information because the follow-up mentions 'off-label'" in mi_page
    assert "Moved by the routing rules" in mi_page
