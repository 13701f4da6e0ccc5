"""The chat services: consent, invitations, ordered and idempotent messages, compliance checks,
receipts, e-mail and real-time events. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from flask import Flask, url_for
from sqlalchemy import func, select

from chat import (
    consent,
    conversations,
    errors,
    history,
    messages,
    phrases,
    presence,
    receipts,
    review,
)
from chat.models import (
    ConsentPeriod,
    Conversation,
    ConversationState,
    Invitation,
    InvitationStatus,
    Message,
    MessageRevision,
)
from content.models import Classification
from content.services import withdraw_material
from portal import policy
from portal.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.main.badges import badge_counts
from portal.models import AuditRecord, Notification, OutboxMail, Role, User, Verification
from portal.models.base import utcnow
from portal.safety.models import PvCase
from tests.chat.factories import active_conversation, chat_pair, send
from tests.content.factories import make_author, make_material
from tests.factories import make_hcp, make_user

NEW_MESSAGE_SUBJECT = "You have a new chat message"


@pytest.fixture(autouse=True)
def _nobody_online(app: Flask) -> Iterator[None]:
    presence.reset()
    yield
    presence.reset()


@pytest.fixture
def pair(app: Flask) -> tuple[User, User]:
    hcp, msl, _territory = chat_pair(Role.MSL)
    return hcp, msl


def audit_actions(action: str) -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
        )
    )


def message_count(conversation: Conversation | None = None) -> int:
    query = select(func.count()).select_from(Message)
    if conversation is not None:
        query = query.where(Message.conversation_id == conversation.id)
    return int(db.session.scalar(query) or 0)


def new_message_mails(user: User) -> list[OutboxMail]:
    return list(
        db.session.scalars(
            select(OutboxMail).where(
                OutboxMail.to == user.email, OutboxMail.subject == NEW_MESSAGE_SUBJECT
            )
        )
    )


def consents(conversation: Conversation) -> list[ConsentPeriod]:
    return list(
        db.session.scalars(
            select(ConsentPeriod)
            .where(ConsentPeriod.conversation_id == conversation.id)
            .order_by(ConsentPeriod.id)
        )
    )


# --- consent -------------------------------------------------------------------------------------
def test_opting_in_records_who_with_whom_when_and_the_wording(pair):
    hcp, msl = pair
    wording = consent.consent_wording()
    before = utcnow()

    conversation = active_conversation(hcp, msl)

    assert conversation.state is ConversationState.ACTIVE
    [period] = consents(conversation)
    assert (period.hcp_id, period.staff_id) == (hcp.id, msl.id)
    assert period.wording_id == wording.id
    assert period.wording.text == wording.text
    assert period.granted_via == "hcp_started"
    assert period.granted_at >= before - dt.timedelta(seconds=1)
    assert period.withdrawn_at is None
    [given] = audit_actions("chat.consent_given")
    assert given.actor_id == hcp.id
    assert given.details["staff"] == msl.id
    assert given.details["wording_version"] == wording.version


def test_hcp_cannot_start_a_chat_with_staff_outside_their_territory(pair):
    hcp, _msl = pair
    stranger = make_user(Role.MSL, territories=[chat_pair()[2]])

    with pytest.raises(NotFound):
        active_conversation(hcp, stranger)
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 0


@pytest.mark.parametrize("verification", [Verification.PENDING, Verification.REJECTED])
def test_an_unverified_hcp_cannot_start_a_chat(app, verification):
    _hcp, msl, territory = chat_pair()
    unverified = make_hcp(territory=territory, verification=verification)

    with pytest.raises(NotFound):
        active_conversation(unverified, msl)


def test_a_changed_consent_wording_is_refused_and_nothing_is_stored(pair):
    hcp, msl = pair
    stale = consent.consent_wording().id + 1000

    with pytest.raises(InvalidInput) as refused:
        consent.start_chat(hcp, msl.id, wording_id=stale)

    assert "consent" in refused.value.errors
    assert db.session.scalar(select(func.count()).select_from(Conversation)) == 0
    assert db.session.scalar(select(func.count()).select_from(ConsentPeriod)) == 0
    assert audit_actions("chat.consent_given") == []


def test_a_changed_wording_leaves_a_pending_invitation_pending(pair):
    hcp, msl = pair
    invitation = consent.invite(msl, hcp.id)

    with pytest.raises(InvalidInput):
        consent.start_chat(hcp, msl.id, wording_id=consent.consent_wording().id + 1000)
    db.session.commit()  # whatever the failed call left in the session must not be saved

    db.session.expire_all()
    assert db.session.get(Invitation, invitation.id).status is InvitationStatus.PENDING


def test_accepting_with_a_changed_wording_keeps_the_invitation_pending_and_unaudited(pair):
    hcp, msl = pair
    invitation = consent.invite(msl, hcp.id)

    with pytest.raises(InvalidInput):
        consent.accept_invitation(
            hcp, invitation.id, wording_id=consent.consent_wording().id + 1000
        )
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(Invitation, invitation.id).status is InvitationStatus.PENDING
    assert audit_actions("chat.invitation_accepted") == []
    assert db.session.scalar(select(func.count()).select_from(ConsentPeriod)) == 0


# --- invitations ---------------------------------------------------------------------------------
def test_only_one_pending_invitation_per_pair(pair):
    hcp, msl = pair
    invitation = consent.invite(msl, hcp.id, note="Happy to discuss the new data.")

    assert invitation.status is InvitationStatus.PENDING
    assert [a.actor_id for a in audit_actions("chat.invited")] == [msl.id]
    with pytest.raises(Conflict):
        consent.invite(msl, hcp.id)


def test_staff_cannot_invite_an_hcp_outside_their_territory(pair):
    _hcp, msl = pair
    outsider = make_hcp(territory=chat_pair()[2])

    with pytest.raises(NotFound):
        consent.invite(msl, outsider.id)


def test_a_declined_invitation_blocks_new_ones_until_the_cooldown_lifts(pair, app):
    hcp, msl = pair
    invitation = consent.invite(msl, hcp.id)

    consent.decline_invitation(hcp, invitation.id)

    assert invitation.status is InvitationStatus.DECLINED
    assert audit_actions("chat.invitation_declined")[0].actor_id == hcp.id
    with pytest.raises(Conflict) as refused:
        consent.invite(msl, hcp.id)
    assert "declined" in str(refused.value)
    days = app.config["CHAT_DECLINE_COOLDOWN_DAYS"]
    with time_machine.travel(utcnow() + dt.timedelta(days=days, hours=1), tick=False):
        again = consent.invite(msl, hcp.id)
    assert again.status is InvitationStatus.PENDING


def test_an_hcp_holds_at_most_the_configured_number_of_pending_invitations(pair, app):
    hcp, _msl = pair
    territory = hcp.hcp_profile.territory
    cap = app.config["CHAT_MAX_PENDING_INVITATIONS"]
    # The contact rule's gap and cap would stop the invitations first (tests/portal/accounts).
    app.config.update(CONTACT_MIN_GAP_DAYS=0, CONTACT_DEFAULT_CAP=cap + 1)
    for _ in range(cap):
        consent.invite(make_user(Role.REP, territories=[territory]), hcp.id)

    with pytest.raises(Conflict):
        consent.invite(make_user(Role.MSL, territories=[territory]), hcp.id)
    pending = db.session.scalar(
        select(func.count()).select_from(Invitation).where(Invitation.hcp_id == hcp.id)
    )
    assert pending == cap


def test_accepting_an_invitation_is_the_opt_in(pair):
    hcp, msl = pair
    invitation = consent.invite(msl, hcp.id)

    conversation = consent.accept_invitation(
        hcp, invitation.id, wording_id=consent.consent_wording().id
    )

    assert invitation.status is InvitationStatus.ACCEPTED
    assert conversation.state is ConversationState.ACTIVE
    [period] = consents(conversation)
    assert period.granted_via == "invitation"
    assert [a.actor_id for a in audit_actions("chat.invitation_accepted")] == [hcp.id]
    assert audit_actions("chat.consent_given")[0].details["via"] == "invitation"


def test_another_hcp_cannot_answer_someone_elses_invitation(pair):
    hcp, msl = pair
    invitation = consent.invite(msl, hcp.id)
    other = make_hcp(territory=hcp.hcp_profile.territory)

    with pytest.raises(NotFound):
        consent.decline_invitation(other, invitation.id)


# --- ending and opting in again ------------------------------------------------------------------
def test_ending_the_chat_withdraws_consent_and_refuses_both_sides(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)

    consent.end_chat(hcp, conversation.id)

    [period] = consents(conversation)
    assert period.withdrawn_at is not None
    assert period.withdrawn_via == "conversation"
    assert conversation.state is ConversationState.ENDED
    [withdrawn] = audit_actions("chat.consent_withdrawn")
    assert withdrawn.actor_id == hcp.id
    with pytest.raises(errors.ConsentRequired):
        send(msl, conversation, "Are you still there?")
    with pytest.raises(errors.ConsentRequired):
        send(hcp, conversation, "One more thing")
    assert message_count(conversation) == 0


def test_only_the_hcp_ends_a_chat(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)

    with pytest.raises(PermissionDenied):
        consent.end_chat(msl, conversation.id)
    assert conversation.state is ConversationState.ACTIVE


def test_opting_in_again_opens_a_second_period_in_the_same_history(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Hello")
    send(msl, conversation, "Hello, doctor")
    consent.end_chat(hcp, conversation.id)

    again = active_conversation(hcp, msl)
    third = send(msl, again, "Welcome back")

    assert again.id == conversation.id
    first, second = consents(conversation)
    assert first.withdrawn_at is not None and second.withdrawn_at is None
    assert third["seq"] == 3
    page, more = history.messages_after(hcp, conversation.id, 0)
    assert [m["body"] for m in page] == ["Hello", "Hello, doctor", "Welcome back"]
    assert not more


def test_opting_in_twice_while_active_is_a_conflict(pair):
    hcp, msl = pair
    active_conversation(hcp, msl)

    with pytest.raises(Conflict):
        active_conversation(hcp, msl)
    assert db.session.scalar(select(func.count()).select_from(ConsentPeriod)) == 1


# --- sending: order, idempotence, validation -----------------------------------------------------
def test_sequences_are_gap_free_and_increasing_for_interleaved_senders(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    senders = [hcp, msl, msl, hcp, msl, hcp, hcp, msl]

    seqs = [send(who, conversation, f"message {i}")["seq"] for i, who in enumerate(senders)]

    assert seqs == list(range(1, len(senders) + 1))
    db.session.refresh(conversation)
    assert conversation.last_seq == len(senders)
    stored = db.session.scalars(
        select(Message.sender_id)
        .where(Message.conversation_id == conversation.id)
        .order_by(Message.seq)
    ).all()
    assert stored == [who.id for who in senders]


def test_sequences_are_per_conversation(pair):
    hcp, msl = pair
    first = active_conversation(hcp, msl)
    other_hcp = make_hcp(territory=hcp.hcp_profile.territory)
    second = active_conversation(other_hcp, msl)
    send(hcp, first, "one")
    send(hcp, first, "two")

    assert send(msl, second, "hello")["seq"] == 1


def test_resending_the_same_client_id_returns_the_first_message_and_stores_nothing(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    client_id = str(uuid.uuid4())

    first, created = messages.send_message(
        msl, conversation.id, client_id=client_id, body="Here is the study."
    )
    again, created_again = messages.send_message(
        msl, conversation.id, client_id=client_id, body="Here is the study."
    )

    assert created and not created_again
    assert again == first
    assert message_count(conversation) == 1
    assert len(audit_actions("chat.message_sent")) == 1


def test_a_client_id_is_not_someone_elses_key(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    client_id = str(uuid.uuid4())
    send(msl, conversation, "From the MSL", client_id=client_id)

    reply = send(hcp, conversation, "From the HCP", client_id=client_id)

    assert reply["body"] == "From the HCP"
    assert message_count(conversation) == 2


@pytest.mark.parametrize("client_id", [None, 42, "", "not-a-uuid", ["x"]])
def test_a_bad_client_id_is_refused(pair, client_id):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)

    with pytest.raises(InvalidInput):
        messages.send_message(hcp, conversation.id, client_id=client_id, body="Hello")
    assert message_count() == 0


@pytest.mark.parametrize("body", ["", "   ", None, 12])
def test_an_empty_or_non_text_body_is_refused(pair, body):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)

    with pytest.raises(InvalidInput):
        messages.send_message(hcp, conversation.id, client_id=str(uuid.uuid4()), body=body)


def test_four_thousand_characters_pass_and_one_more_is_too_long(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)

    assert send(hcp, conversation, "x" * 4_000)["seq"] == 1
    with pytest.raises(errors.TooLong):
        send(hcp, conversation, "x" * 4_001)
    assert message_count() == 1


# --- restricted phrases --------------------------------------------------------------------------
def test_a_staff_message_with_a_restricted_phrase_is_refused_naming_it(pair):
    hcp, msl = pair
    admin = make_user(Role.ADMIN)
    phrases.add_restricted_phrase(admin, "guaranteed", reason="No promise of outcome")
    conversation = active_conversation(hcp, msl)

    with pytest.raises(errors.Restricted) as refused:
        send(msl, conversation, "Results are Guaranteed within a week.")

    assert refused.value.phrase == "guaranteed"
    assert "Guaranteed" in str(refused.value)
    assert message_count() == 0
    [record] = audit_actions("chat.message_refused")
    assert record.actor_id == msl.id
    assert record.details["phrase"] == "guaranteed"
    db.session.refresh(conversation)
    assert conversation.last_seq == 0


def test_hcp_messages_are_never_blocked_by_restricted_phrases(pair):
    hcp, msl = pair
    phrases.add_restricted_phrase(make_user(Role.ADMIN), "cure")
    conversation = active_conversation(hcp, msl)

    message = send(hcp, conversation, "Is this a cure for my patient's condition?")

    assert message["seq"] == 1
    assert audit_actions("chat.message_refused") == []


def test_a_removed_phrase_no_longer_blocks(pair):
    hcp, msl = pair
    admin = make_user(Role.ADMIN)
    phrase = phrases.add_restricted_phrase(admin, "miracle")
    conversation = active_conversation(hcp, msl)
    phrases.remove_restricted_phrase(admin, phrase.id)

    assert send(msl, conversation, "Not a miracle, but good data.")["seq"] == 1
    assert [a.action for a in audit_actions("chat.phrase_removed")] == ["chat.phrase_removed"]


def test_a_removed_phrase_can_be_added_again_and_blocks_again(pair):
    hcp, msl = pair
    admin = make_user(Role.ADMIN)
    conversation = active_conversation(hcp, msl)
    first = phrases.add_restricted_phrase(admin, "miracle", reason="Superlative")
    phrases.remove_restricted_phrase(admin, first.id)

    again = phrases.add_restricted_phrase(admin, "Miracle", reason="Back on the list")

    assert again.id != first.id and again.active and not first.active  # the old row is kept
    assert [p.phrase for p in phrases.restricted_phrases()] == ["Miracle"]
    with pytest.raises(errors.Restricted):
        send(msl, conversation, "A miracle drug.")
    with pytest.raises(InvalidInput, match="already on the list"):
        phrases.add_restricted_phrase(admin, "MIRACLE")
    assert len(audit_actions("chat.phrase_added")) == 2


@pytest.mark.parametrize(
    ("role", "screened"),
    [(Role.HCP, False), (Role.REP, True), (Role.MSL, True), (Role.COMPLIANCE, True)],
)
def test_policy_says_whose_messages_are_screened_for_restricted_phrases(app, role, screened):
    assert policy.screens_restricted_phrases(make_user(role)) is screened
    assert policy.screens_restricted_phrases(None) is False


@pytest.mark.parametrize("role", [Role.COMPLIANCE, Role.REP, Role.MSL])
def test_only_administrators_manage_restricted_phrases(app, role):
    with pytest.raises(PermissionDenied):
        phrases.add_restricted_phrase(make_user(role), "best in class")


# --- adverse events ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("who", "text"),
    [
        ("hcp", "My patient developed a rash after the first dose."),
        ("staff", "Did your patient report any side effects since starting?"),
    ],
)
def test_a_possible_adverse_event_flags_the_message_and_opens_a_pv_case(pair, who, text):
    hcp, msl = pair
    pv = make_user(Role.PHARMACOVIGILANCE)
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Good morning")

    message = send(hcp if who == "hcp" else msl, conversation, text)

    assert message["flags"] == ["adverse_event"]
    [case] = db.session.scalars(select(PvCase)).all()
    assert case.source == "chat"
    assert case.source_ref == f"C-{conversation.id}#2"
    assert case.source_text == text
    assert case.due_at is not None and case.due_at > case.created_at
    assert [n.kind for n in db.session.scalars(select(Notification).where(
        Notification.user_id == pv.id))] == ["pv_case"]  # fmt: skip


def test_an_edit_that_describes_an_adverse_event_opens_a_pv_case(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    sent = send(hcp, conversation, "Quick question about my patient")

    edited = messages.edit_message(hcp, sent["id"], "My patient developed a rash after it.")

    assert edited["flags"] == ["adverse_event"]
    [case] = db.session.scalars(select(PvCase)).all()
    assert case.source_ref == f"C-{conversation.id}#1"
    messages.edit_message(hcp, sent["id"], "My patient developed a severe rash after it.")
    assert db.session.scalar(select(func.count()).select_from(PvCase)) == 1


def test_an_ordinary_message_opens_no_pv_case(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)

    assert send(hcp, conversation, "Thanks, see you next week")["flags"] == []
    assert db.session.scalar(select(func.count()).select_from(PvCase)) == 0


# --- material cards ------------------------------------------------------------------------------
def share(actor: User, conversation: Conversation, material: Any) -> dict[str, Any]:
    payload, _created = messages.send_message(
        actor, conversation.id, client_id=str(uuid.uuid4()), material_id=material.id
    )
    return payload


def test_a_rep_shares_promotional_material_but_not_medical(app):
    hcp, rep, _territory = chat_pair(Role.REP)
    conversation = active_conversation(hcp, rep)
    promotional = make_material(classification=Classification.PROMOTIONAL.value)
    medical = make_material(classification=Classification.MEDICAL.value)
    rep.products = [promotional.product, medical.product]  # the product is not what decides
    db.session.commit()

    card = share(rep, conversation, promotional)

    assert card["kind"] == "material"
    assert card["material"]["available"] is True
    assert card["material"]["url"]
    with pytest.raises(InvalidInput):
        share(rep, conversation, medical)
    assert message_count() == 1


def test_an_msl_shares_medical_material(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    medical = make_material(classification=Classification.MEDICAL.value)
    msl.products = [medical.product]
    db.session.commit()

    card = share(msl, conversation, medical)

    assert card["material"]["id"] == medical.id
    assert card["material"]["available"] is True


def test_an_msl_cannot_share_material_meant_for_another_country(pair):
    hcp, msl = pair  # a US HCP
    for_europe = make_material(classification=Classification.MEDICAL.value, countries=["DE"])
    msl.products = [for_europe.product]
    db.session.commit()
    conversation = active_conversation(hcp, msl)

    assert messages.shareable_materials(msl, conversation.id) == []
    with pytest.raises(InvalidInput, match="not meant for their profession, specialty or"):
        share(msl, conversation, for_europe)
    assert message_count() == 0


def test_a_rep_cannot_share_material_of_a_product_they_do_not_cover(app):
    hcp, rep, _territory = chat_pair(Role.REP)
    conversation = active_conversation(hcp, rep)
    uncovered = make_material(classification=Classification.PROMOTIONAL.value)

    assert messages.shareable_materials(rep, conversation.id) == []
    with pytest.raises(InvalidInput, match="a product you do not cover"):
        share(rep, conversation, uncovered)
    assert message_count() == 0


def test_an_hcp_cannot_share_material(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)

    with pytest.raises(InvalidInput):
        share(hcp, conversation, make_material())


def test_a_withdrawn_material_card_shows_as_withdrawn_without_a_link(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    author = make_author()
    material = make_material(author, classification=Classification.MEDICAL.value)
    msl.products = [material.product]
    db.session.commit()
    share(msl, conversation, material)

    withdraw_material(author, material, reason="Superseded safety data")

    [card] = history.messages_after(hcp, conversation.id, 0)[0]
    assert card["material"]["available"] is False
    assert "url" not in card["material"]
    assert card["material"]["title"] == material.title


def test_a_card_links_to_the_family_page_also_without_a_request(pair, app):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    material = make_material(classification=Classification.MEDICAL.value)
    msl.products = [material.product]
    db.session.commit()

    card = share(msl, conversation, material)["material"]  # a socket event has no request

    assert card["available"] is True and card["family_id"] == material.family_id
    with app.test_request_context():
        assert card["url"] == url_for("content.family", family_id=material.family_id)


# --- edits and deletions keep the original -------------------------------------------------------
def test_an_edit_keeps_the_original_and_shows_edited(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    sent = send(msl, conversation, "The trial enrolled 300 patients.")

    edited = messages.edit_message(msl, sent["id"], "The trial enrolled 320 patients.")

    assert edited["edited"] and not edited["deleted"]
    assert edited["body"] == "The trial enrolled 320 patients."
    [revision] = db.session.scalars(select(MessageRevision)).all()
    assert (revision.kind, revision.previous_body) == ("edit", "The trial enrolled 300 patients.")
    assert len(audit_actions("chat.message_edited")) == 1


def test_a_deletion_keeps_the_original_and_empties_the_body_for_participants(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    sent = send(hcp, conversation, "Sorry, wrong chat")

    deleted = messages.delete_message(hcp, sent["id"])

    assert deleted["deleted"] and deleted["body"] == ""
    [shown] = history.messages_after(msl, conversation.id, 0)[0]
    assert shown["deleted"] and shown["body"] == ""
    [revision] = db.session.scalars(select(MessageRevision)).all()
    assert (revision.kind, revision.previous_body) == ("delete", "Sorry, wrong chat")
    assert db.session.get(Message, sent["id"]).body == "Sorry, wrong chat"
    assert len(audit_actions("chat.message_deleted")) == 1


def test_only_the_sender_edits_or_deletes_a_message(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    sent = send(hcp, conversation, "My question")

    with pytest.raises(PermissionDenied):
        messages.edit_message(msl, sent["id"], "Changed by someone else")
    with pytest.raises(PermissionDenied):
        messages.delete_message(msl, sent["id"])
    assert db.session.scalar(select(func.count()).select_from(MessageRevision)) == 0


def test_a_staff_edit_passes_the_restricted_phrase_check(pair):
    hcp, msl = pair
    phrases.add_restricted_phrase(make_user(Role.ADMIN), "guaranteed")
    conversation = active_conversation(hcp, msl)
    sent = send(msl, conversation, "Results vary.")

    with pytest.raises(errors.Restricted):
        messages.edit_message(msl, sent["id"], "Results are guaranteed.")
    assert db.session.get(Message, sent["id"]).body == "Results vary."


# --- firewall and IDOR ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "outsider",
    ["another rep", "another msl", "another hcp", "medical information", "administrator"],
)
def test_outsiders_cannot_reach_a_conversation_by_id(pair, outsider):
    hcp, msl = pair
    territory = hcp.hcp_profile.territory
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Private")
    who = {
        "another rep": lambda: make_user(Role.REP, territories=[territory]),
        "another msl": lambda: make_user(Role.MSL, territories=[territory]),
        "another hcp": lambda: make_hcp(territory=territory),
        "medical information": lambda: make_user(Role.MEDICAL_INFORMATION),
        "administrator": lambda: make_user(Role.ADMIN),
    }[outsider]()

    with pytest.raises(NotFound):
        conversations.get_conversation(who, conversation.id)
    with pytest.raises(NotFound):
        history.messages_after(who, conversation.id, 0)
    with pytest.raises(NotFound):
        send(who, conversation, "Let me in")
    with pytest.raises(NotFound):
        review.transcript(who, conversation.id)
    assert message_count() == 1


@pytest.mark.parametrize("bad_id", [None, "1", 0, -1, True, 2**40, 999_999])
def test_unknown_or_malformed_ids_are_not_found(pair, bad_id):
    hcp, _msl = pair

    with pytest.raises(NotFound):
        conversations.get_conversation(hcp, bad_id)


def test_compliance_reads_every_conversation_but_cannot_write(pair):
    hcp, msl = pair
    compliance = make_user(Role.COMPLIANCE)
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Hello")

    assert conversations.get_conversation(compliance, conversation.id).id == conversation.id
    found, stored = review.transcript(compliance, conversation.id)
    assert found.id == conversation.id and [m.body for m in stored] == ["Hello"]
    assert [c.granted_via for c in review.consent_history(compliance, conversation.id)] == [
        "hcp_started"
    ]
    assert [row.conversation.id for row in review.review_list(compliance)] == [conversation.id]
    with pytest.raises(PermissionDenied):
        send(compliance, conversation, "Compliance here")
    with pytest.raises(PermissionDenied):
        receipts.mark_read(compliance, conversation.id, 1)
    assert message_count() == 1


def test_participants_cannot_use_the_review_functions(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)

    with pytest.raises(NotFound):
        review.transcript(msl, conversation.id)
    with pytest.raises(NotFound):
        review.review_list(hcp)


# --- receipts and unread counts ------------------------------------------------------------------
def test_read_receipts_never_go_backwards(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    for i in range(3):
        send(msl, conversation, f"note {i}")

    receipt = receipts.mark_read(hcp, conversation.id, 3)

    assert receipt == {
        "conversation_id": conversation.id, "user_id": hcp.id, "seq": 3, "kind": "read",
    }  # fmt: skip
    assert receipts.mark_read(hcp, conversation.id, 1) is None
    assert receipts.mark_read(hcp, conversation.id, 3) is None
    assert receipts.receipts(hcp, conversation.id)[str(hcp.id)]["read_seq"] == 3


def test_a_receipt_beyond_the_last_message_is_capped(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    send(msl, conversation, "only one")

    receipt = receipts.mark_read(hcp, conversation.id, 99)

    assert receipt is not None and receipt["seq"] == 1


def test_unread_counts_only_the_peers_messages_after_the_read_mark(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "question")
    send(msl, conversation, "answer 1")
    send(msl, conversation, "answer 2")

    [listed] = conversations.list_conversations(hcp)
    assert listed["unread"] == 2
    assert listed["peer"]["id"] == msl.id
    assert conversations.list_conversations(msl)[0]["unread"] == 0
    receipts.mark_read(hcp, conversation.id, 2)
    assert conversations.list_conversations(hcp)[0]["unread"] == 1
    assert conversations.unread_total(hcp) == 1


def test_the_unread_badge_is_the_sum_of_every_conversations_unread(app):
    """The badge (one statement on every page) agrees with the chat list, chat by chat: with
    several peers, a read mark, and the reader's own reply counting as having read before it."""
    hcp, msl, territory = chat_pair(Role.MSL)
    rep = make_user(Role.REP, territories=[territory])
    with_msl = active_conversation(hcp, msl)
    with_rep = active_conversation(hcp, rep)
    for body in ("one", "two", "three"):
        send(msl, with_msl, body)
    send(rep, with_rep, "four")
    send(hcp, with_rep, "a reply")  # has read "four"
    send(rep, with_rep, "five")
    receipts.mark_read(hcp, with_msl.id, 1)

    for who in (hcp, msl, rep):
        listed = conversations.list_conversations(who)
        assert conversations.unread_total(who) == sum(c["unread"] for c in listed)
        # The navigation bar's statement, built once and bound to each reader in turn.
        assert badge_counts(who)["chat_unread"] == conversations.unread_total(who)
    assert conversations.unread_total(hcp) == 3  # "two", "three", "five"
    assert conversations.unread_total(msl) == 0


# --- e-mail about new messages -------------------------------------------------------------------
def test_an_offline_recipient_gets_one_email_without_the_text(pair, app):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)

    send(msl, conversation, "The confidential trial numbers")
    send(msl, conversation, "And one more thing")

    [mail] = new_message_mails(hcp)
    assert "confidential" not in mail.body and "trial numbers" not in mail.body
    assert "one more thing" not in mail.body
    later = utcnow() + dt.timedelta(minutes=app.config["CHAT_EMAIL_INTERVAL_MINUTES"] + 1)
    with time_machine.travel(later, tick=False):
        send(msl, conversation, "After the quiet period")
    assert len(new_message_mails(hcp)) == 2


def test_an_online_recipient_gets_no_email(pair):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    presence.connected(hcp.id, "sid-x")

    send(msl, conversation, "You're online")

    assert new_message_mails(hcp) == []


# --- real-time events ----------------------------------------------------------------------------
def test_a_committed_send_emits_one_message_to_the_conversation_room(pair, emitted):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    emitted.clear()

    message = send(hcp, conversation, "Hello")

    assert [(e, d, k) for e, d, k in emitted] == [
        ("message", message, {"to": conversations.room(conversation.id), "namespace": "/chat"})
    ]


def test_a_refused_send_emits_nothing(pair, emitted):
    hcp, msl = pair
    phrases.add_restricted_phrase(make_user(Role.ADMIN), "guaranteed")
    conversation = active_conversation(hcp, msl)
    emitted.clear()

    with pytest.raises(errors.Restricted):
        send(msl, conversation, "This is guaranteed")
    with pytest.raises(errors.TooLong):
        send(hcp, conversation, "x" * 4_001)

    assert emitted == []


def test_an_idempotent_resend_emits_nothing_new(pair, emitted):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    client_id = str(uuid.uuid4())
    send(hcp, conversation, "Hello", client_id=client_id)
    emitted.clear()

    send(hcp, conversation, "Hello", client_id=client_id)

    assert emitted == []


def test_ending_a_chat_tells_both_sides(pair, emitted):
    hcp, msl = pair
    conversation = active_conversation(hcp, msl)
    emitted.clear()

    consent.end_chat(hcp, conversation.id)

    assert sorted(k["to"] for e, _d, k in emitted if e == "conversation_ended") == sorted(
        [conversations.user_room(hcp.id), conversations.user_room(msl.id)]
    )


# --- demo data -----------------------------------------------------------------------------------
def test_demo_chats_are_consented_ordered_and_seeded_once(app):
    from chat import demo as chat_demo
    from portal import audit
    from portal.services import demo

    demo.seed_demo()
    assert chat_demo.seed_chats() is None  # registered with seed-demo: already done

    def who(name: str) -> User:
        found = db.session.scalar(select(User).where(User.email == f"{name}@example.com"))
        assert found is not None
        return found

    hcp, hcp2 = who("hcp"), who("hcp2")
    by_peer = {c["peer"]["id"]: c for c in conversations.list_conversations(hcp)}
    with_msl, with_rep = by_peer[who("msl").id], by_peer[who("rep").id]
    assert with_msl["state"] == with_rep["state"] == "active"
    msl_messages, _ = history.messages_after(hcp, with_msl["id"], 0)
    assert [m["seq"] for m in msl_messages] == list(range(1, len(msl_messages) + 1))
    assert len(msl_messages) >= 8
    assert {m["sender_id"] for m in msl_messages} == {hcp.id, who("msl").id}
    [flagged] = [m for m in msl_messages if m["flags"]]
    assert flagged["sender_id"] == hcp.id
    cases = db.session.scalars(select(PvCase).where(PvCase.source == "chat")).all()
    assert [c.source_ref for c in cases] == [f"C-{with_msl['id']}#{flagged['seq']}"]
    [medical_card] = [m for m in msl_messages if m["material"]]
    assert medical_card["material"]["classification"] == "medical"
    assert medical_card["material"]["available"]
    rep_messages, _ = history.messages_after(hcp, with_rep["id"], 0)
    [promo_card] = [m for m in rep_messages if m["material"]]
    assert promo_card["material"]["classification"] == "promotional"
    states = {c["peer"]["id"]: c["state"] for c in conversations.list_conversations(hcp2)}
    assert states == {who("msl").id: "ended", who("rep.west").id: "invited"}
    invitation = db.session.scalar(select(Invitation).where(Invitation.hcp_id == hcp2.id))
    assert invitation is not None and invitation.status is InvitationStatus.PENDING
    assert invitation.staff_id == who("rep.west").id
    assert phrases.restricted_phrases()
    assert audit.verify().ok
