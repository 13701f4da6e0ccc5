"""Wiring of the chat compliance pages: who may open them, what they show, and what the
restricted-phrase form does."""

from __future__ import annotations

import html
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from chat import consent, messages, phrases, presence
from chat.models import Conversation, RestrictedPhrase
from content.models import Classification
from content.services import withdraw_material
from portal.extensions import db
from portal.models import AuditRecord, Role, User
from tests.chat.factories import active_conversation, chat_pair, send
from tests.conftest import login
from tests.content.factories import make_author, make_material
from tests.factories import make_user

NOT_COMPLIANCE = [r for r in Role if r is not Role.COMPLIANCE]
NEITHER = [r for r in Role if r not in (Role.COMPLIANCE, Role.ADMIN)]


def page(response: Any) -> str:
    """The response's HTML with entities decoded, so text reads as a person sees it."""
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture(autouse=True)
def _nobody_online(app):
    presence.reset()
    yield
    presence.reset()


@pytest.fixture
def chat(app) -> tuple[User, User, Conversation]:
    hcp, msl, _territory = chat_pair(Role.MSL, name="Dr. Harper Cole")
    conversation = active_conversation(hcp, msl)
    return hcp, msl, conversation


def sign_in(client: FlaskClient, role: Role) -> User:
    user = make_user(role)
    login(client, user.email)
    return user


# --- who may open the pages ----------------------------------------------------------------------
@pytest.mark.parametrize("role", NOT_COMPLIANCE)
def test_only_compliance_opens_the_review_pages(client, chat, role):
    _hcp, _msl, conversation = chat
    sign_in(client, role)

    assert client.get("/compliance/chats/").status_code == 404
    assert client.get(f"/compliance/chats/{conversation.id}").status_code == 404


def test_the_participants_themselves_cannot_open_the_review_transcript(client, chat):
    hcp, msl, conversation = chat
    for user in (hcp, msl):
        login(client, user.email)
        assert client.get(f"/compliance/chats/{conversation.id}").status_code == 404
        client.post("/logout")


def test_signed_out_visitors_are_sent_to_sign_in(client, chat):
    response = client.get("/compliance/chats/")

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# --- what compliance sees ------------------------------------------------------------------------
def test_compliance_lists_every_conversation(client, chat):
    hcp, msl, conversation = chat
    send(hcp, conversation, "Hello")
    send(msl, conversation, "Hello, doctor")
    consent.end_chat(hcp, conversation.id)
    active_conversation(hcp, msl)
    rep_hcp, rep, _territory = chat_pair(Role.REP)
    active_conversation(rep_hcp, rep)
    sign_in(client, Role.COMPLIANCE)

    response = client.get("/compliance/chats/")

    assert response.status_code == 200
    text = page(response)
    assert "2 conversations" in text
    assert hcp.name in text and msl.name in text and rep.name in text
    assert "Medical science liaison" in text or msl.role.label in text
    row = text[text.index(f'data-conversation="{conversation.id}"') :]
    row = row[: row.index("</tr>")]
    assert ">2<" in row  # messages
    assert f"from {msl.name}" in row
    assert row.count(">2<") == 2  # two consent periods as well


def test_compliance_reads_the_transcript_with_the_originals(client, chat):
    hcp, msl, conversation = chat
    first = send(msl, conversation, "The trial enrolled 300 patients.")
    messages.edit_message(msl, first["id"], "The trial enrolled 320 patients.")
    gone = send(hcp, conversation, "Sorry, that was for another chat")
    messages.delete_message(hcp, gone["id"])
    send(hcp, conversation, "My patient developed a rash after the first dose.")
    sign_in(client, Role.COMPLIANCE)

    response = client.get(f"/compliance/chats/{conversation.id}")

    assert response.status_code == 200
    text = page(response)
    assert "The trial enrolled 320 patients." in text
    assert "The trial enrolled 300 patients." in text  # the original, before the edit
    assert "Sorry, that was for another chat" in text  # the deleted message's text
    assert "edited" in text and "deleted" in text
    assert 'data-flag="adverse_event"' in text
    assert text.index('data-seq="1"') < text.index('data-seq="2"') < text.index('data-seq="3"')
    assert 'data-revision="edit"' in text and 'data-revision="delete"' in text


def test_the_transcript_shows_the_consent_history_with_the_wording(client, chat):
    hcp, _msl, conversation = chat
    consent.end_chat(hcp, conversation.id, via="settings")
    sign_in(client, Role.COMPLIANCE)

    text = page(client.get(f"/compliance/chats/{conversation.id}"))

    wording = consent.consent_wording()
    history = text[text.index('data-testid="consent-history"') :]
    assert "Started by the HCP" in history
    assert f"version {wording.version}" in history
    assert wording.text in history
    assert "from the settings" in history


def test_a_withdrawn_material_card_shows_as_withdrawn(client, chat):
    _hcp, msl, conversation = chat
    author = make_author()
    material = make_material(author, classification=Classification.MEDICAL.value)
    msl.products = [material.product]
    db.session.commit()
    messages.send_message(
        msl, conversation.id, client_id=str(uuid.uuid4()), material_id=material.id
    )
    sign_in(client, Role.COMPLIANCE)
    assert "available" in page(client.get(f"/compliance/chats/{conversation.id}"))

    withdraw_material(author, material, reason="Superseded")

    card = page(client.get(f"/compliance/chats/{conversation.id}"))
    card = card[card.index('data-testid="material-card"') :]
    assert material.title in card
    assert "withdrawn or expired" in card


def test_message_text_is_escaped(client, chat):
    hcp, _msl, conversation = chat
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    send(hcp, conversation, payload)
    sign_in(client, Role.COMPLIANCE)

    raw = client.get(f"/compliance/chats/{conversation.id}").get_data(as_text=True)

    assert "<script>alert" not in raw
    assert "<img src=x" not in raw
    assert "&lt;script&gt;alert(" in raw


def test_an_unknown_conversation_is_not_found_for_compliance(client, chat):
    sign_in(client, Role.COMPLIANCE)

    assert client.get("/compliance/chats/999999").status_code == 404


# --- restricted phrases --------------------------------------------------------------------------
@pytest.mark.parametrize("role", NEITHER)
def test_only_administrators_and_compliance_see_the_phrases(client, app, role):
    sign_in(client, role)

    assert client.get("/compliance/chats/restricted-phrases").status_code == 404
    response = client.post(
        "/compliance/chats/restricted-phrases", data={"phrase": "best ever", "reason": ""}
    )
    assert response.status_code == 404
    assert db.session.scalar(select(RestrictedPhrase.id)) is None


def test_an_administrator_adds_a_phrase_and_it_is_audited(client, app):
    admin = sign_in(client, Role.ADMIN)

    response = client.post(
        "/compliance/chats/restricted-phrases",
        data={"phrase": "  unbeatable   results ", "reason": "Promotional superlative"},
        follow_redirects=True,
    )

    assert response.status_code == 200
    text = page(response)
    assert "“unbeatable results” added" in text
    [row] = db.session.scalars(select(RestrictedPhrase)).all()
    assert (row.phrase, row.reason) == ("unbeatable results", "Promotional superlative")
    [record] = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "chat.phrase_added")
    ).all()
    assert record.actor_id == admin.id


def test_a_duplicate_or_empty_phrase_is_shown_on_the_form(client, app):
    sign_in(client, Role.ADMIN)
    client.post("/compliance/chats/restricted-phrases", data={"phrase": "cure"})

    again = client.post("/compliance/chats/restricted-phrases", data={"phrase": "CURE"})
    empty = client.post("/compliance/chats/restricted-phrases", data={"phrase": "   "})

    assert again.status_code == 200 and "already on the list" in page(again)
    assert empty.status_code == 200 and "1 to 100 characters" in page(empty)
    assert len(db.session.scalars(select(RestrictedPhrase)).all()) == 1


def test_an_administrator_removes_a_phrase(client, app):
    admin = make_user(Role.ADMIN)
    phrase = phrases.add_restricted_phrase(admin, "guaranteed")
    login(client, admin.email)

    response = client.post(
        f"/compliance/chats/restricted-phrases/{phrase.id}/remove", follow_redirects=True
    )

    assert response.status_code == 200
    assert "Phrase removed" in page(response)
    db.session.refresh(phrase)
    assert not phrase.active
    assert [r.action for r in db.session.scalars(select(AuditRecord)) if r.action.startswith(
        "chat.phrase")] == ["chat.phrase_added", "chat.phrase_removed"]  # fmt: skip
    table = page(response)[page(response).index('data-testid="phrase-table"') :]
    assert "guaranteed" not in table


def test_removing_an_unknown_phrase_says_so(client, app):
    sign_in(client, Role.ADMIN)

    response = client.post(
        "/compliance/chats/restricted-phrases/999999/remove", follow_redirects=True
    )

    assert "not found" in page(response)


def test_compliance_reads_the_phrases_but_cannot_change_them(client, app):
    admin = make_user(Role.ADMIN)
    phrase = phrases.add_restricted_phrase(admin, "miracle", reason="Promotional superlative")
    sign_in(client, Role.COMPLIANCE)

    response = client.get("/compliance/chats/restricted-phrases")

    assert response.status_code == 200
    text = page(response)
    assert "miracle" in text and "Promotional superlative" in text
    assert 'data-testid="read-only-notice"' in text
    assert "<form" not in text.split('id="main"')[-1]
    added = client.post("/compliance/chats/restricted-phrases", data={"phrase": "best ever"})
    removed = client.post(f"/compliance/chats/restricted-phrases/{phrase.id}/remove")
    assert added.status_code == 403
    assert removed.status_code == 403
    db.session.refresh(phrase)
    assert phrase.active
    assert len(db.session.scalars(select(RestrictedPhrase)).all()) == 1


def test_phrase_text_is_escaped(client, app):
    phrases.add_restricted_phrase(make_user(Role.ADMIN), "<b>bold</b> claim")
    sign_in(client, Role.COMPLIANCE)

    raw = client.get("/compliance/chats/restricted-phrases").get_data(as_text=True)

    assert "<b>bold</b>" not in raw


def test_compliance_sees_the_safety_attestations_in_the_transcript(client, chat):
    from portal.safety import attestations

    hcp, msl, conversation = chat
    send(hcp, conversation, "Hello, a question about the titration schedule.")
    send(msl, conversation, "Happy to help.")
    send(hcp, conversation, "Thanks.")
    attestations.attest_conversation(
        msl, conversation.id, adverse_event=False, product_complaint=False, through_seq=2
    )
    sign_in(client, Role.COMPLIANCE)

    text = page(client.get(f"/compliance/chats/{conversation.id}"))

    assert "Attested for safety up to #2" in text and "#3\N{EN DASH}#3 not yet" in text
    [line] = text.split('data-testid="attestation"')[1:]
    assert msl.name in line and "messages up to #2" in line
    assert "adverse event: <strong>no</strong>" in line
    # The line follows message #2, before #3.
    assert text.index('data-testid="attestation"') < text.index('data-seq="3"')
    assert text.index('data-seq="2"') < text.index('data-testid="attestation"')
