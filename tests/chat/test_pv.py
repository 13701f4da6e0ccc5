"""The chat's side of the PV workspace: who learns which PV case a message went to (and how),
PV's read-only transcript of a conversation a case came from, and what the chat tells the
workspace (message numbers, products)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from chat import conversations, history, messages, presence, review
from chat.pv import PvChatSource
from content.models import Classification
from portal.errors import NotFound
from portal.extensions import db
from portal.models import Role, User
from portal.safety import services as safety
from portal.safety.models import PvCase
from tests.chat.factories import active_conversation, chat_pair, send
from tests.content.factories import make_material
from tests.factories import make_product, make_user

AE = "My patient developed a rash after the first dose."


@pytest.fixture(autouse=True)
def _nobody_online(app: Flask) -> Iterator[None]:
    presence.reset()
    yield
    presence.reset()


@pytest.fixture
def pair(app: Flask) -> tuple[User, User]:
    hcp, msl, _territory = chat_pair(Role.MSL)
    return hcp, msl


def the_case() -> PvCase:
    found = db.session.scalar(select(PvCase).where(PvCase.source == "chat"))
    assert found is not None
    return found


# --- what is detected ----------------------------------------------------------------------------
def test_a_message_naming_a_company_product_is_read_with_the_product_names(pair):
    hcp, msl = pair
    make_product(name="Respira")
    db.session.commit()
    conversation = active_conversation(hcp, msl)

    # Read without the product names, "Respira:" is no exposure and nothing happened to anyone.
    ack = send(hcp, conversation, "Respira: hoarse voice for 3 weeks.")

    assert ack["flags"] == ["adverse_event"]
    assert the_case().source_text == "Respira: hoarse voice for 3 weeks."


# --- who learns of the case ----------------------------------------------------------------------
def test_an_hcps_flagged_message_tells_the_staff_member_the_reference_in_their_own_room(
    pair, emitted
):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    emitted.clear()

    ack = send(hcp, conversation, AE)

    case = the_case()
    assert "pv_case" not in ack  # the HCP is not told
    events = [(name, kwargs["to"]) for name, _data, kwargs in emitted]
    assert events == [
        ("message", conversations.room(conversation.id)),
        ("pv_case", conversations.user_room(msl.id)),
    ]
    room_message = emitted[0][1]
    assert "pv_case" not in room_message  # the room's MESSAGE reaches the HCP too
    assert emitted[1][1] == {
        "conversation_id": conversation.id,
        "message_id": ack["id"],
        "seq": ack["seq"],
        "pv_case": {"reference": case.reference},  # no link: an MSL cannot open the case
    }


def test_the_staff_senders_acknowledgement_names_the_case_without_a_link(pair, emitted):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    emitted.clear()

    ack = send(msl, conversation, "Your patient developed a rash after the first dose?")

    assert ack["pv_case"] == {"reference": the_case().reference}
    [room_message] = [data for name, data, _kwargs in emitted if name == "message"]
    assert "pv_case" not in room_message


def test_replays_name_the_case_to_the_staff_member_only(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Hello")
    flagged = send(hcp, conversation, AE)

    staff_view, _more = history.messages_after(msl, conversation.id, 0)
    hcp_view, _more = history.messages_after(hcp, conversation.id, 0)
    earlier, _more = history.messages_before(msl, conversation.id, 3)

    assert [m.get("pv_case") for m in staff_view] == [None, {"reference": the_case().reference}]
    assert [m.get("pv_case") for m in earlier] == [m.get("pv_case") for m in staff_view]
    assert all("pv_case" not in m for m in hcp_view)
    assert flagged["id"] == staff_view[1]["id"]


@pytest.mark.parametrize(
    ("role", "link"), [(Role.PHARMACOVIGILANCE, True), (Role.COMPLIANCE, True), (Role.REP, False)]
)
def test_only_those_who_may_open_the_case_get_its_link(pair, role, link):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    message = send(hcp, conversation, AE)
    case = the_case()

    notices = safety.case_notices(make_user(role), conversation, [message["id"]])

    if role is Role.REP:  # not this conversation's staff member: told nothing
        assert notices == {}
    else:
        expected = {"reference": case.reference}
        if link:
            expected["url"] = f"/safety/cases/{case.id}"
        assert notices == {message["id"]: expected}


# --- PV's read-only transcript -------------------------------------------------------------------
def test_pv_reads_the_transcript_of_a_conversation_a_case_came_from(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, AE)
    pv = make_user(Role.PHARMACOVIGILANCE)

    found, stored = review.transcript(pv, conversation.id)
    assert found.id == conversation.id and [m.body for m in stored] == [AE]
    assert [c.granted_via for c in review.consent_history(pv, conversation.id)] == ["hcp_started"]


@pytest.mark.parametrize(
    "role", [Role.MEDICAL_INFORMATION, Role.QUALITY, Role.REP, Role.ADMIN, Role.HCP]
)
def test_nobody_else_reads_it_even_with_a_case(pair, role):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, AE)
    outsider = make_user(role) if role is not Role.HCP else chat_pair(Role.REP)[0]

    with pytest.raises(NotFound):
        review.transcript(outsider, conversation.id)


def test_pv_does_not_read_a_conversation_no_case_came_from(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Hello")

    with pytest.raises(NotFound):
        review.transcript(make_user(Role.PHARMACOVIGILANCE), conversation.id)
    with pytest.raises(NotFound):
        review.consent_history(make_user(Role.PHARMACOVIGILANCE), conversation.id)


# --- what the chat tells the workspace ------------------------------------------------------------
def test_the_source_gives_sequences_and_products(pair):
    hcp, msl = pair
    covered = make_product()
    msl.products = [covered]
    db.session.commit()
    material = make_material(product=covered, classification=Classification.MEDICAL.value)
    conversation = active_conversation(hcp, msl)
    first = send(hcp, conversation, "Hello")
    messages.send_message(
        msl, conversation.id, client_id=str(uuid.uuid4()), material_id=material.id
    )
    source = PvChatSource()

    assert source.message_seqs({first["id"], 999_999}) == {first["id"]: 1}
    [products] = source.conversation_products({conversation.id}).values()
    assert products.staff_products == (covered.id,)
    assert products.shared_products == (material.product_id,)
    assert products.staff_name == msl.name
    assert source.message_seqs(set()) == {} and source.conversation_products(set()) == {}
