"""Call notes: what staff record about an interaction, on their side of the firewall, within the
HCP's terms, with the adverse-event attestation; the medical question the HCP asked in person,
filed on their behalf; follow-ups (portal.accounts.call_notes and its pages)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import render_template
from sqlalchemy import func, select

from portal import policy
from portal.accounts import call_notes, contact_rule, preferences
from portal.accounts.call_notes import CallNoteInput
from portal.accounts.contact_rule import ContactRefused
from portal.accounts.models import CallNote, Contact, ContactKind, InteractionKind
from portal.errors import InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Notification, Role, Side, TeamKey, User, utcnow
from portal.questions import intake, thread, work
from portal.questions.models import (
    COMMERCIAL_TEAMS,
    Category,
    Channel,
    Question,
    QuestionStatus,
    RoutingRule,
)
from portal.safety.attestations import Attestation
from portal.safety.models import (
    AttestationSubject,
    CaseOrigin,
    PvCase,
    SafetyAttestation,
)
from tests.conftest import login
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import NOTHING

AE = Attestation(adverse_event=True)
COMPLAINT = Attestation(adverse_event=False, product_complaint=True)
AE_WORDS = "She told me a patient was hospitalised with severe liver injury after the second dose."
QUESTION = "Can it be given to a patient with severe renal impairment at the full dose?"


@pytest.fixture
def field(app: Any) -> dict[str, Any]:
    """One territory: its HCP, two reps, market access and an MSL; Medical Information, PV,
    Quality and compliance company-wide; a rep of another territory; a product."""
    territory = make_territory()
    elsewhere = make_territory()
    product = make_product(name="Cardiovex")
    people: dict[str, Any] = {
        "hcp": make_hcp(territory=territory, name="Dr. Cole"),
        "rep": make_user(Role.REP, territories=[territory], products=[product], name="Jordan Lee"),
        "rep2": make_user(Role.REP, territories=[territory], products=[product]),
        "market_access": make_user(Role.MARKET_ACCESS, territories=[territory]),
        "msl": make_user(Role.MSL, territories=[territory], name="Morgan Sci"),
        "mi": make_user(Role.MEDICAL_INFORMATION, name="Mina Information"),
        "pv": make_user(Role.PHARMACOVIGILANCE),
        "quality": make_user(Role.QUALITY),
        "compliance": make_user(Role.COMPLIANCE),
        "admin": make_user(Role.ADMIN),
        "outsider": make_user(Role.REP, territories=[elsewhere]),
        "product": product,
    }
    return people


def note_input(**overrides: Any) -> CallNoteInput:
    values: dict[str, Any] = {
        "kind": InteractionKind.VISIT.value,
        "occurred_at": utcnow() - dt.timedelta(hours=1),
        "summary": "Went through the new titration guide; she will try it with two patients.",
        "topics": "titration",
    }
    values.update(overrides)
    return CallNoteInput(**values)


def on_behalf(**overrides: Any) -> intake.OnBehalfInput:
    values: dict[str, Any] = {"text": QUESTION, "category": "dosing", "consent": True}
    values.update(overrides)
    return intake.OnBehalfInput(**values)


def record(author: User, hcp: User, attestation: Attestation | None = NOTHING, **overrides: Any):
    return call_notes.record(author, hcp.id, note_input(**overrides), attestation=attestation)


def count(model: type) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def audit_of(action: str) -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
        )
    )


def cases() -> list[PvCase]:
    return list(db.session.scalars(select(PvCase).order_by(PvCase.id)))


def notifications_of(user: User) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
    )


def nothing_saved() -> dict[str, int]:
    return {
        model.__name__: count(model)
        for model in (CallNote, Contact, SafetyAttestation, PvCase, Question, Notification)
    }


# --- who writes, and the firewall ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("persona", "side"),
    [("rep", Side.COMMERCIAL), ("market_access", Side.COMMERCIAL), ("msl", Side.MEDICAL),
     ("mi", Side.MEDICAL)],
)  # fmt: skip
def test_a_note_is_saved_on_its_authors_side_of_the_firewall(field, persona, side):
    product = field["product"]
    note = record(field[persona], field["hcp"], requested_by_hcp=True, product_ids=[product.id])

    assert note.side is side
    assert note.author_id == field[persona].id and note.hcp_id == field["hcp"].id
    assert note.kind is InteractionKind.VISIT and note.product_ids == [field["product"].id]
    [audit] = audit_of("call_note.recorded")
    assert audit.details["hcp"] == field["hcp"].id
    assert audit.details["side"] == side.value and audit.details["kind"] == "visit"
    assert audit.details["requested_by_hcp"] is True
    assert "titration guide" not in str(audit.details)  # never the note's text


@pytest.mark.parametrize(
    ("persona", "refusal"),
    [("compliance", PermissionDenied), ("pv", PermissionDenied), ("quality", PermissionDenied),
     ("outsider", NotFound), ("admin", NotFound), ("hcp", NotFound)],
)  # fmt: skip
def test_only_those_who_talk_to_the_hcp_record_notes_and_a_refusal_saves_nothing(
    field, persona, refusal
):
    before = nothing_saved()

    with pytest.raises(refusal):
        record(field[persona], field["hcp"], requested_by_hcp=True)

    assert nothing_saved() == before


def test_a_note_about_someone_who_is_not_an_hcp_does_not_exist(field):
    with pytest.raises(NotFound):
        call_notes.record(field["rep"], field["msl"].id, note_input(), attestation=NOTHING)


@pytest.mark.parametrize(
    ("author", "reader", "reads"),
    [("rep", "rep2", True), ("rep", "market_access", True), ("rep", "msl", True),
     ("rep", "mi", True), ("rep", "compliance", True), ("rep", "outsider", False),
     ("msl", "rep", False), ("msl", "market_access", False), ("msl", "mi", True),
     ("msl", "pv", True), ("msl", "compliance", True), ("mi", "rep", False)],
)  # fmt: skip
def test_the_other_side_of_the_firewall_cannot_read_a_note(field, author, reader, reads):
    note = record(field[author], field["hcp"], requested_by_hcp=True)

    assert policy.can_view_call_note(field[reader], note) is reads


# --- the contact rule ----------------------------------------------------------------------------
def test_an_unsolicited_visit_is_counted_against_the_hcps_cap(field):
    note = record(field["rep"], field["hcp"])

    [contact] = db.session.scalars(select(Contact)).all()
    assert contact.counted is True and contact.kind is ContactKind.CALL
    assert (contact.subject, contact.subject_id) == ("call_note", note.id)
    assert contact.at == note.occurred_at and contact.channel.value == "visit"
    assert note.requested_by_hcp is False
    assert audit_of("call_note.recorded")[0].details["counted"] is True


def _fill_the_cap(field: dict[str, Any]) -> None:
    # Four unsolicited visits by colleagues, the company's gap apart: the default cap is four.
    for days, colleague in zip((20, 15, 10, 5), ("rep", "rep2", "msl", "rep"), strict=True):
        record(field[colleague], field["hcp"], occurred_at=utcnow() - dt.timedelta(days=days))


def test_an_unsolicited_visit_beyond_the_cap_is_refused_with_the_rule_and_nothing_is_saved(field):
    _fill_the_cap(field)
    before = nothing_saved()

    with pytest.raises(ContactRefused) as refused:
        record(field["rep2"], field["hcp"], attestation=AE, summary=AE_WORDS,
               question=on_behalf())  # fmt: skip

    assert refused.value.decision.rule == contact_rule.CAP
    assert "cap" in refused.value.message and "Dr. Cole" in refused.value.message
    assert nothing_saved() == before  # no note, no contact, no case, no question
    [audit] = audit_of("contact.refused")
    assert audit.details["rule"] == "cap" and audit.details["kind"] == "call"


def test_an_unsolicited_phone_call_on_a_channel_the_hcp_refuses_is_refused(field):
    before = nothing_saved()

    with pytest.raises(ContactRefused) as refused:
        record(field["rep"], field["hcp"], kind=InteractionKind.PHONE.value)

    assert refused.value.decision.rule == contact_rule.CHANNEL
    assert nothing_saved() == before


def test_a_visit_two_days_after_a_colleagues_is_refused_by_the_company_gap(field):
    record(field["msl"], field["hcp"], occurred_at=utcnow() - dt.timedelta(days=1))

    with pytest.raises(ContactRefused) as refused:
        record(field["rep"], field["hcp"])

    assert refused.value.decision.rule == contact_rule.MIN_GAP


def test_an_interaction_the_hcp_asked_for_is_never_blocked_and_uses_no_cap(field):
    _fill_the_cap(field)
    preferences.save(field["hcp"], preferences.PreferencesInput(channels=[], pause_weeks=4))

    note = record(field["rep2"], field["hcp"], kind=InteractionKind.PHONE.value,
                  requested_by_hcp=True)  # fmt: skip

    assert note.requested_by_hcp is True
    contact = db.session.scalar(select(Contact).where(Contact.subject_id == note.id))
    assert contact is not None and contact.counted is False


def test_medical_information_notes_are_calls_the_hcp_made_and_never_blocked(field):
    # MI answers the HCPs who call it: never an unsolicited contact, whatever the HCP's terms.
    preferences.save(field["hcp"], preferences.PreferencesInput(channels=[], pause_weeks=4))

    note = record(field["mi"], field["hcp"], kind=InteractionKind.PHONE.value)

    assert note.requested_by_hcp is True and note.side is Side.MEDICAL
    contact = db.session.scalar(select(Contact).where(Contact.subject_id == note.id))
    assert contact is not None and contact.counted is False


# --- safety ---------------------------------------------------------------------------------------
def test_the_attestation_is_required_and_nothing_is_saved_without_it(field):
    before = nothing_saved()

    with pytest.raises(InvalidInput) as refused:
        record(field["rep"], field["hcp"], attestation=None)

    assert "attestation" in refused.value.errors
    assert nothing_saved() == before


def test_a_no_is_recorded_as_an_attestation_of_the_note_and_opens_no_case(field):
    note = record(field["rep"], field["hcp"])

    [row] = db.session.scalars(select(SafetyAttestation)).all()
    assert row.subject is AttestationSubject.CALL_NOTE and row.call_note_id == note.id
    assert (row.adverse_event, row.product_complaint, row.case_id) == (False, False, None)
    assert row.actor_id == field["rep"].id
    assert cases() == []


def test_a_yes_opens_a_pv_case_linked_to_the_note_with_the_hcp_as_reporter(field):
    words = "We talked about the new packaging and the conference in May."
    note = record(field["rep"], field["hcp"], attestation=AE, summary=words)

    [case] = cases()
    assert case.source == "call_note" and case.call_note_id == note.id
    assert case.origin is CaseOrigin.ATTESTATION and case.reported_by_id == field["rep"].id
    assert case.reporter_id == field["hcp"].id and case.reporter == "Dr. Cole"
    assert case.created_at == note.occurred_at  # day zero: when the rep heard it
    assert "conference in May" in case.source_text
    assert case.source_ref == call_notes.reference_of(note.id)
    [row] = db.session.scalars(select(SafetyAttestation)).all()
    assert row.case_id == case.id and row.adverse_event is True
    assert notifications_of(field["pv"])  # PV is told at once


def test_a_product_complaint_marks_the_case_and_tells_quality(field):
    record(field["rep"], field["hcp"], attestation=COMPLAINT)

    [case] = cases()
    assert case.product_complaint is True
    [told] = notifications_of(field["quality"])
    assert case.reference in told.title
    assert "titration" not in told.title


def test_detection_opens_a_case_on_adverse_event_words_even_when_the_author_says_no(field):
    note = record(field["rep"], field["hcp"], attestation=NOTHING, summary=AE_WORDS)

    [case] = cases()
    assert case.origin is CaseOrigin.DETECTED and case.call_note_id == note.id
    assert "hospitalised" in case.source_text


def test_detection_reads_the_topics_too(field):
    record(field["rep"], field["hcp"], topics="overdose in an elderly patient")

    assert [c.origin for c in cases()] == [CaseOrigin.DETECTED]


def test_a_yes_on_words_detection_flagged_opens_one_case_not_two(field):
    note = record(field["rep"], field["hcp"], attestation=AE, summary=AE_WORDS)

    [case] = cases()
    assert case.call_note_id == note.id
    [row] = db.session.scalars(select(SafetyAttestation)).all()
    assert row.case_id == case.id


# --- the question filed on the HCP's behalf ------------------------------------------------------
def test_a_medical_question_asked_in_person_becomes_the_hcps_question_routed_to_medical(field):
    hcp, rep = field["hcp"], field["rep"]

    note = record(rep, hcp, question=on_behalf(product_id=field["product"].id))

    question = db.session.get(Question, note.question_id)
    assert question is not None
    assert question.hcp_id == hcp.id and question.channel is Channel.PORTAL
    assert question.category is Category.DOSING and question.text == QUESTION
    assert question.owner_team is TeamKey.MEDICAL_INFORMATION
    assert question.assignee_id == field["mi"].id
    assert question.routing["filed_by"] == rep.id and question.routing["on_behalf_of"] == hcp.id
    assert question.created_at == note.occurred_at
    [audit] = audit_of("question.submit_on_behalf")
    assert audit.actor_id == rep.id and audit.target_id == str(question.id)
    assert audit_of("question.submit") == []
    # The HCP sees it in "My questions".
    assert [q.id for q in intake.my_questions(hcp)] == [question.id]


@pytest.mark.parametrize("category", sorted(c.value for c in Category if c.is_medical))
def test_no_rule_can_give_a_question_filed_on_behalf_to_a_commercial_team(field, category):
    # An administrator's rule sending everything to Sales: the engine's hard limits still win.
    db.session.add(RoutingRule(position=0, name="Everything to Sales", team=TeamKey.SALES))
    db.session.commit()

    note = record(field["rep"], field["hcp"], question=on_behalf(category=category))

    question = db.session.get(Question, note.question_id)
    assert question is not None
    assert question.owner_team not in COMMERCIAL_TEAMS
    assert question.assignee_id not in (field["rep"].id, field["rep2"].id)


@pytest.mark.parametrize("category", ["samples", "access", "other", "nonsense", ""])
def test_only_medical_categories_are_filed_on_behalf(field, category):
    before = nothing_saved()

    with pytest.raises(InvalidInput) as refused:
        record(field["rep"], field["hcp"], question=on_behalf(category=category))

    assert "question_category" in refused.value.errors
    assert nothing_saved() == before


def test_filing_on_behalf_needs_the_hcps_agreement_and_their_words(field):
    with pytest.raises(InvalidInput) as refused:
        record(field["rep"], field["hcp"], question=on_behalf(consent=False, text="dose?"))

    assert {"question_consent", "question_text"} <= set(refused.value.errors)
    assert count(CallNote) == 0


def test_no_question_is_filed_for_an_hcp_not_verified_yet(field):
    from portal.models import Verification

    pending = make_hcp(territory=field["hcp"].hcp_profile.territory,
                       verification=Verification.PENDING)  # fmt: skip

    with pytest.raises(InvalidInput) as refused:
        record(field["rep"], pending, requested_by_hcp=True, question=on_behalf())

    assert "question_text" in refused.value.errors


def test_the_hcp_is_told_in_their_language_without_the_question_text(field):
    hcp = field["hcp"]
    hcp.locale = "de"
    db.session.commit()

    note = record(field["rep"], hcp, question=on_behalf())

    [told] = notifications_of(hcp)
    question = db.session.get(Question, note.question_id)
    assert question is not None
    assert question.reference in told.title and "Jordan Lee" in told.title
    assert "Medizinische Information" in told.title  # the team, in the HCP's language
    assert "renal" not in told.title and "dose" not in told.title
    assert told.url == f"/questions/{question.id}"


def test_the_rep_never_opens_the_question_and_sees_only_its_status(field):
    rep, mi = field["rep"], field["mi"]
    note = record(rep, field["hcp"], question=on_behalf())
    question_id = note.question_id

    with pytest.raises(NotFound):
        thread.get_question(rep, question_id)
    linked = call_notes.linked_question(rep, note)
    assert linked is not None and linked.readable is False
    assert linked.status is QuestionStatus.IN_PROGRESS

    work.reply_to_question(mi, question_id, body="Halve the dose.", attestation=NOTHING)

    db.session.expire_all()
    linked = call_notes.linked_question(rep, note)
    assert linked is not None and linked.status is QuestionStatus.ANSWERED
    assert linked.status_label == "Answered"
    assert call_notes.linked_question(mi, note).readable is True  # type: ignore[union-attr]


def test_adverse_event_words_in_the_question_reach_pv_through_the_question(field):
    note = record(field["rep"], field["hcp"], question=on_behalf(text=AE_WORDS, category="safety"))

    [case] = cases()
    assert case.question_id == note.question_id and case.reporter_id == field["hcp"].id


# --- follow-ups ----------------------------------------------------------------------------------
def test_follow_ups_due_are_the_authors_own_within_a_week_oldest_first(field):
    rep, hcp = field["rep"], field["hcp"]
    today = utcnow().date()
    soon = record(rep, hcp, requested_by_hcp=True, follow_up="Send the study",
                  follow_up_due=today + dt.timedelta(days=3))  # fmt: skip
    later = record(rep, hcp, requested_by_hcp=True, follow_up="Call back",
                   follow_up_due=today + dt.timedelta(days=30))  # fmt: skip
    record(rep, hcp, requested_by_hcp=True, follow_up="Whenever")  # no due date
    colleague = record(field["rep2"], hcp, requested_by_hcp=True, follow_up="Theirs",
                       follow_up_due=today)  # fmt: skip
    # Recorded ten days ago, due the day after: overdue now, and first.
    past = utcnow() - dt.timedelta(days=10)
    overdue = call_notes.record(
        rep, hcp.id,
        note_input(requested_by_hcp=True, occurred_at=past - dt.timedelta(hours=1),
                   follow_up="Bring samples", follow_up_due=past.date() + dt.timedelta(days=1)),
        attestation=NOTHING, now=past,
    )  # fmt: skip

    due = call_notes.follow_ups_due(rep)

    assert [n.id for n in due] == [overdue.id, soon.id]
    assert later.id not in [n.id for n in due] and colleague.id not in [n.id for n in due]
    assert [n.id for n in call_notes.follow_ups_due(rep, limit=1)] == [overdue.id]


def test_the_author_marks_a_follow_up_done_once(field):
    rep = field["rep"]
    note = record(rep, field["hcp"], requested_by_hcp=True, follow_up="Send the study",
                  follow_up_due=utcnow().date())  # fmt: skip

    done = call_notes.complete_follow_up(rep, note.id)

    assert done.follow_up_done_at is not None
    assert call_notes.follow_ups_due(rep) == []
    assert len(audit_of("call_note.follow_up_done")) == 1
    call_notes.complete_follow_up(rep, note.id)  # a second click changes nothing
    assert len(audit_of("call_note.follow_up_done")) == 1


@pytest.mark.parametrize(
    ("persona", "refusal"),
    [("rep2", PermissionDenied), ("msl", PermissionDenied), ("compliance", PermissionDenied),
     ("outsider", NotFound), ("hcp", NotFound), ("admin", NotFound)],
)  # fmt: skip
def test_only_the_author_completes_a_follow_up(field, persona, refusal):
    note = record(field["rep"], field["hcp"], requested_by_hcp=True, follow_up="Send the study")

    with pytest.raises(refusal):
        call_notes.complete_follow_up(field[persona], note.id)

    db.session.refresh(note)
    assert note.follow_up_done_at is None


def test_the_other_sides_notes_do_not_exist_for_completing(field):
    note = record(field["msl"], field["hcp"], requested_by_hcp=True, follow_up="Send the paper")

    with pytest.raises(NotFound):
        call_notes.complete_follow_up(field["rep"], note.id)


def test_a_note_without_a_follow_up_has_nothing_to_complete(field):
    note = record(field["rep"], field["hcp"], requested_by_hcp=True)

    with pytest.raises(InvalidInput):
        call_notes.complete_follow_up(field["rep"], note.id)


# --- bad input -----------------------------------------------------------------------------------
def _bad_cases() -> list[tuple[str, dict[str, Any]]]:
    now = utcnow()
    today = now.date()
    return [
        ("kind", {"kind": "carrier pigeon"}),
        ("occurred_at", {"occurred_at": None}),
        ("occurred_at", {"occurred_at": now + dt.timedelta(hours=2)}),
        ("occurred_at", {"occurred_at": now - dt.timedelta(days=91)}),
        ("product_ids", {"product_ids": [2**31 - 1]}),
        ("summary", {"summary": "   "}),
        ("summary", {"summary": "x" * (call_notes.MAX_SUMMARY + 1)}),
        ("topics", {"topics": "x" * (call_notes.MAX_TOPICS + 1)}),
        ("follow_up", {"follow_up_due": now.date()}),
        ("follow_up_due", {"follow_up": "Call", "follow_up_due": today - dt.timedelta(days=2)}),
        ("follow_up_due", {"follow_up": "Call", "follow_up_due": today + dt.timedelta(days=400)}),
    ]  # fmt: skip


@pytest.mark.parametrize(("field_name", "bad"), _bad_cases())
def test_bad_input_names_the_field_and_saves_nothing(field, field_name, bad):
    before = nothing_saved()

    with pytest.raises(InvalidInput) as refused:
        record(field["rep"], field["hcp"], **bad)

    assert field_name in refused.value.errors
    assert nothing_saved() == before


def test_every_problem_is_named_at_once(field):
    with pytest.raises(InvalidInput) as refused:
        call_notes.record(
            field["rep"], field["hcp"].id,
            CallNoteInput(kind="", occurred_at=None, summary="", question=on_behalf(category="")),
            attestation=None,
        )  # fmt: skip

    assert {"kind", "occurred_at", "summary", "attestation", "question_category"} <= set(
        refused.value.errors
    )


# --- the pages -----------------------------------------------------------------------------------
def form_data(**overrides: Any) -> dict[str, Any]:
    occurred = (utcnow() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    data = {
        "kind": "visit",
        "occurred_at": occurred,
        "summary": "Went through the new titration guide.",
        "topics": "titration",
        "attestation": "none",
    }
    data.update(overrides)
    return data


def url_new(hcp: User) -> str:
    return f"/hcps/{hcp.id}/notes/new"


def test_the_form_shows_the_coordination_warning_and_the_hcps_terms(client, field):
    record(field["msl"], field["hcp"], requested_by_hcp=True)
    login(client, field["rep"].email)

    page = client.get(url_new(field["hcp"]))

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="coordination-warning"' in html and "Dr. Cole" in html
    assert 'data-testid="contact-terms"' in html and "0 of 4" in html
    assert 'data-testid="on-behalf"' in html and 'data-testid="note-attestation"' in html


@pytest.mark.parametrize(("persona", "status"), [("compliance", 403), ("pv", 403),
                                                 ("outsider", 404), ("hcp", 404)])  # fmt: skip
def test_the_form_is_for_those_who_write_notes(client, field, persona, status):
    login(client, field[persona].email)

    assert client.get(url_new(field["hcp"])).status_code == status
    assert client.post(url_new(field["hcp"]), data=form_data()).status_code == status
    assert count(CallNote) == 0


def test_saving_goes_back_to_the_hcp_page(client, field):
    login(client, field["rep"].email)

    answer = client.post(url_new(field["hcp"]), data=form_data(**{
        "question_text": QUESTION, "question_category": "clinical", "question_consent": "y",
        "product_ids": [str(field["product"].id)],
    }))  # fmt: skip

    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/hcps/{field['hcp'].id}")
    [note] = db.session.scalars(select(CallNote)).all()
    assert note.author_id == field["rep"].id and note.product_ids == [field["product"].id]
    assert note.question_id is not None


def test_a_refused_contact_shows_the_rule_and_keeps_what_was_typed(client, field):
    _fill_the_cap(field)
    login(client, field["rep2"].email)

    answer = client.post(url_new(field["hcp"]), data=form_data(summary="Kept words here."))

    assert answer.status_code == 409
    html = answer.get_data(as_text=True)
    assert 'data-testid="contact-refused"' in html and "cap" in html
    assert "Kept words here." in html
    assert count(CallNote) == 4


@pytest.mark.parametrize(
    "bad",
    [{"attestation": ""}, {"occurred_at": "not a date"}, {"follow_up_due": "31/31/2026"},
     {"product_ids": ["abc"]}, {"kind": "pigeon"}, {"question_product_id": "99999999999999"},
     {"question_text": "Is it safe in pregnancy at all?", "question_category": "samples"}],
)  # fmt: skip
def test_bad_input_is_shown_again_never_a_500(client, field, bad):
    login(client, field["rep"].email)

    answer = client.post(url_new(field["hcp"]), data=form_data(summary="Kept words.", **bad))

    assert answer.status_code == 400
    assert "Kept words." in answer.get_data(as_text=True)
    assert count(CallNote) == 0


def test_the_follow_up_done_button_goes_back_where_it_came_from(client, field):
    note = record(field["rep"], field["hcp"], requested_by_hcp=True, follow_up="Send it")
    login(client, field["rep"].email)

    back = f"/hcps/{field['hcp'].id}"
    answer = client.post(f"/hcps/notes/{note.id}/follow-up-done", data={"next": back})

    assert answer.status_code == 302 and answer.headers["Location"].endswith(back)
    db.session.refresh(note)
    assert note.follow_up_done_at is not None


def test_someone_elses_follow_up_is_refused_and_an_unknown_one_does_not_exist(client, field):
    note = record(field["rep"], field["hcp"], requested_by_hcp=True, follow_up="Send it")
    login(client, field["outsider"].email)

    assert client.post(f"/hcps/notes/{note.id}/follow-up-done").status_code == 404
    assert client.post(f"/hcps/notes/{2**31 - 1}/follow-up-done").status_code == 404


def _render_actions(app: Any, viewer: User, hcp: User) -> str:
    with app.test_request_context("/hcps/1"):
        return render_template("accounts/_call_note_actions.html", hcp=hcp, current_user=viewer)


def test_the_hcp_page_offers_the_button_the_follow_ups_and_the_status_of_filed_questions(
    app, field
):
    rep, hcp = field["rep"], field["hcp"]
    record(rep, hcp, requested_by_hcp=True, follow_up="Send the study",
           follow_up_due=utcnow().date())  # fmt: skip
    note = record(rep, hcp, requested_by_hcp=True, question=on_behalf())
    question = db.session.get(Question, note.question_id)
    assert question is not None

    html = _render_actions(app, rep, hcp)

    assert 'data-testid="record-interaction"' in html
    assert "Send the study" in html and 'data-testid="follow-up-done"' in html
    assert question.reference in html and "In progress" in html
    assert QUESTION not in html
    assert f'/questions/{question.id}"' not in html  # the rep cannot open it: no link


@pytest.mark.parametrize("persona", ["compliance", "pv", "outsider"])
def test_the_hcp_page_offers_nothing_to_those_who_do_not_write_notes(app, field, persona):
    assert "record-interaction" not in _render_actions(app, field[persona], field["hcp"])
