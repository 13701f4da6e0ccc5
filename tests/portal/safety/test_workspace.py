"""What the workspace shows about a case: its source link (question, follow-up, chat message), the
product it is about (and why), the reporter's contact, and the clock."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from chat import messages, presence
from content.models import Classification
from portal.extensions import db
from portal.models import Role, utcnow
from portal.questions import intake
from portal.safety import services, workspace
from portal.safety.models import PvCase
from portal.safety.workspace import ClockState, ProductBasis
from tests.chat.factories import active_conversation, chat_pair, send
from tests.content.factories import make_material
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import ask, pv_cases_of
from tests.portal.safety.factories import open_case, pv_officer

AE = "My patient was hospitalised after the first dose."


@pytest.fixture(autouse=True)
def _nobody_online(app):
    presence.reset()
    yield
    presence.reset()


@pytest.fixture
def hcp(app):
    make_user(Role.MEDICAL_INFORMATION)  # someone answers the questions
    return make_hcp(territory=make_territory())


def facts_of(case: PvCase) -> workspace.CaseFacts:
    return workspace.describe([case])[case.id]


def chat_case() -> PvCase:
    found = db.session.scalar(select(PvCase).where(PvCase.source == "chat"))
    assert found is not None
    return found


# --- the source link ---------------------------------------------------------------------------
def test_a_question_case_links_to_the_question(hcp):
    question = ask(hcp, text=AE)
    [case] = pv_cases_of(question)

    link = facts_of(case).source
    assert (link.kind, link.question_id, link.anchor) == (
        services.CaseSource.QUESTION,
        question.id,
        None,
    )
    assert question.reference in link.label


def test_a_follow_up_case_links_to_the_follow_up_inside_the_question(hcp):
    question = ask(hcp, text="What is the usual dose?")
    intake.follow_up(hcp, question.id, "Since the first dose my patient has had a severe rash.")
    [case] = pv_cases_of(question)

    link = facts_of(case).source
    assert link.kind is services.CaseSource.FOLLOW_UP
    assert link.question_id == question.id
    assert case.entry_id is not None and link.anchor == f"entry-{case.entry_id}"


def test_a_chat_case_links_to_its_message_in_the_transcript(app):
    hcp, msl, _territory = chat_pair(Role.MSL)
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Hello")
    send(hcp, conversation, "My patient developed a rash after the first dose.")

    link = facts_of(chat_case()).source
    assert link.kind is services.CaseSource.CHAT
    assert (link.conversation_id, link.seq, link.anchor) == (conversation.id, 2, "seq-2")


# --- the product -------------------------------------------------------------------------------
def test_the_cases_own_product_comes_first(app):
    product = make_product(name="Cardiovex")
    case = open_case(product_id=product.id, text="After Oncora my patient was hospitalised.")
    make_product(name="Oncora")

    suggestion = workspace.suggested_product(case)
    assert suggestion is not None
    assert (suggestion.name, suggestion.basis, suggestion.inferred) == (
        "Cardiovex",
        ProductBasis.CASE,
        False,
    )


def test_what_pv_entered_comes_before_any_inference(app):
    make_product(name="Oncora")
    case = open_case(text="After Oncora my patient was hospitalised.")
    case.suspect_product = "Cardiovex 10 mg, batch 42"

    suggestion = workspace.suggested_product(case)
    assert suggestion is not None and suggestion.basis is ProductBasis.PV
    assert suggestion.name == "Cardiovex 10 mg, batch 42"


def test_then_the_questions_product(hcp):
    product = make_product(name="Respira")
    question = ask(hcp, product=product)
    case = open_case(question_id=question.id, reporter=hcp, text="The patient was hospitalised.")

    suggestion = workspace.suggested_product(case)
    assert suggestion is not None
    assert (suggestion.product, suggestion.basis) == (product, ProductBasis.QUESTION)


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("She started CARDIOVEX last week and was hospitalised.", "cardiovex"),
        ("She started cardiovx last week and was hospitalised.", "cardiovx"),  # one letter short
        ("She started Cardoivex last week and was hospitalised.", "cardoivex"),  # swapped
        ("She started Cardiovexe last week and was hospitalised.", "cardiovexe"),  # one extra
        ("She started Cardíovex last week and was hospitalised.", "cardiovex"),  # an accent
        ("On CVX 10 mg she was hospitalised.", "cvx"),  # the code
    ],
)
def test_a_product_named_in_the_text_is_suggested_with_the_words_that_matched(app, text, matched):
    product = make_product(name="Cardiovex", code="CVX")
    case = open_case(text=text)

    suggestion = workspace.suggested_product(case)
    assert suggestion is not None
    assert (suggestion.product, suggestion.basis, suggestion.inferred) == (
        product,
        ProductBasis.TEXT,
        True,
    )
    assert f"“{matched}”" in suggestion.explanation


@pytest.mark.parametrize(
    "text",
    [
        "She started Cardiovexxx last week.",  # two typos
        "She started Cardio last week.",  # another word
        "On CVXX 10 mg she was unwell.",  # codes match exactly
        "Nothing named here at all.",
    ],
)
def test_words_too_far_from_any_product_suggest_nothing(app, text):
    make_product(name="Cardiovex", code="CVX")
    make_product(name="Onco", code="ON")  # no typo in short names, short codes are words

    assert workspace.suggested_product(open_case(text=text + " Once.")) is None


def test_the_first_product_named_wins_and_the_others_are_mentioned(app):
    make_product(name="Cardiovex")
    first = make_product(name="Respira Forte")

    case = open_case(text="Switched from respira forte to cardiovex; then hospitalised.")
    suggestion = workspace.suggested_product(case)
    assert suggestion is not None and suggestion.product == first
    assert "also named: Cardiovex" in suggestion.explanation


def test_a_chat_suggests_the_only_product_its_staff_member_covers(app):
    hcp, msl, _territory = chat_pair(Role.MSL)
    product = make_product(name="Oncora")
    msl.products = [product]
    db.session.commit()
    send(hcp, active_conversation(hcp, msl), "My patient developed a rash after the first dose.")

    suggestion = workspace.suggested_product(chat_case())
    assert suggestion is not None
    assert (suggestion.product, suggestion.basis) == (product, ProductBasis.CONVERSATION)
    assert msl.name in suggestion.explanation


def test_a_chat_suggests_the_only_product_of_the_materials_shared_in_it(app):
    hcp, msl, _territory = chat_pair(Role.MSL)
    first, second = make_product(), make_product()
    msl.products = [first, second]  # two: no guess from the portfolio
    db.session.commit()
    # A material of one of them (an MSL shares only material of a product they cover).
    material = make_material(classification=Classification.MEDICAL.value, product=second)
    conversation = active_conversation(hcp, msl)
    messages.send_message(
        msl, conversation.id, client_id=str(uuid.uuid4()), material_id=material.id
    )
    send(hcp, conversation, "My patient developed a rash after the first dose.")

    suggestion = workspace.suggested_product(chat_case())
    assert suggestion is not None and suggestion.product is not None
    assert (suggestion.product.id, suggestion.basis) == (
        material.product_id,
        ProductBasis.CONVERSATION,
    )
    assert "materials shared" in suggestion.explanation


def test_in_a_chat_a_product_named_in_the_text_beats_the_portfolio(app):
    hcp, msl, _territory = chat_pair(Role.MSL)
    msl.products = [make_product(name="Oncora")]
    named = make_product(name="Cardiovex")
    db.session.commit()
    send(hcp, active_conversation(hcp, msl), "My patient developed a rash after Cardiovex.")

    suggestion = workspace.suggested_product(chat_case())
    assert suggestion is not None
    assert (suggestion.product, suggestion.basis) == (named, ProductBasis.TEXT)


def test_nothing_known_suggests_nothing(app):
    hcp, msl, _territory = chat_pair(Role.MSL)
    send(hcp, active_conversation(hcp, msl), "My patient developed a rash after the first dose.")

    assert workspace.suggested_product(chat_case()) is None


# --- the reporter ------------------------------------------------------------------------------
def test_a_us_hcp_reporter_is_reached_with_their_npi(app):
    hcp = make_hcp(name="Dr. Ada Cole", specialty="Oncology", country="US")
    contact = facts_of(open_case(reporter=hcp)).reporter

    assert contact is not None and contact.is_hcp
    assert (contact.name, contact.email, contact.specialty, contact.country) == (
        "Dr. Ada Cole",
        hcp.email,
        "Oncology",
        "US",
    )
    assert (contact.id_label, contact.id_number) == ("NPI", hcp.hcp_profile.npi)
    assert contact.profession == "Physician"


def test_a_non_us_hcp_reporter_shows_their_licence(app):
    hcp = make_hcp(country="DE", licence_number="LIC-DE-77")
    contact = facts_of(open_case(reporter=hcp)).reporter

    assert contact is not None
    assert (contact.id_label, contact.id_number, contact.country_name) == (
        "Licence",
        "LIC-DE-77",
        "Germany",
    )


def test_a_staff_reporter_shows_their_role(app):
    msl = make_user(Role.MSL)
    contact = facts_of(open_case(reporter=msl)).reporter

    assert contact is not None and not contact.is_hcp
    assert (contact.email, contact.role) == (msl.email, Role.MSL.label)


# --- the clock ---------------------------------------------------------------------------------
def test_the_clock_runs_goes_overdue_and_stops_on_time_or_late(app):
    pv = pv_officer()
    case = open_case()
    due = case.due_at

    running = workspace.clock(case, due - dt.timedelta(hours=2, minutes=5))
    assert (running.state, running.summary) == (ClockState.RUNNING, "2 h 05 min left")
    overdue = workspace.clock(case, due + dt.timedelta(days=1, hours=3))
    assert (overdue.state, overdue.summary) == (ClockState.OVERDUE, "Overdue by 1 d 3 h")

    services.acknowledge_pv_case(pv, case.id)
    assert workspace.clock(case, utcnow()).state is ClockState.ON_TIME
    case.acknowledged_at = due + dt.timedelta(minutes=30)
    late = workspace.clock(case, utcnow())
    assert (late.state, late.summary) == (ClockState.LATE, "Acknowledged late, by 30 min")
    assert late.received_at == case.created_at  # day zero
