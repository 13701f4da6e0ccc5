"""Wiring of the chat pages: "My team" (opt in, invitations), the conversation page, settings.

Rules are tested in ``test_services.py``; here: status codes, redirects, flashes, what a page
shows and that nobody reaches someone else's conversation through a URL.
"""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from chat import consent
from chat.models import ConsentPeriod, Conversation, ConversationState, Invitation
from portal.extensions import db
from portal.models import AuditRecord, Role, User, Verification
from tests.chat.factories import active_conversation, chat_pair, send
from tests.conftest import IsolatedClient, login
from tests.factories import make_hcp, make_user


def text_of(response: TestResponse) -> str:
    return unescape(response.get_data(as_text=True))


def client_for(app: Flask, user: User) -> FlaskClient:
    """A separate browser, signed in as ``user``."""
    app.test_client_class = IsolatedClient
    browser = app.test_client()
    login(browser, user.email)
    return browser


def wording_id() -> str:
    return str(consent.consent_wording().id)


def start_form(staff: User, **overrides: str) -> dict[str, str]:
    data = {"staff_id": str(staff.id), "wording_id": wording_id(), "consent": "y"}
    data.update(overrides)
    return data


def conversations() -> list[Conversation]:
    return list(db.session.scalars(select(Conversation)))


def consents_of(conversation: Conversation) -> list[ConsentPeriod]:
    return list(
        db.session.scalars(
            select(ConsentPeriod)
            .where(ConsentPeriod.conversation_id == conversation.id)
            .order_by(ConsentPeriod.id)
        )
    )


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))


@pytest.fixture
def team(app: Flask) -> tuple[User, User, User]:
    """An HCP, the MSL and the rep who cover the HCP's territory."""
    hcp, msl, territory = chat_pair(Role.MSL, name="Dr. Ada Cole")
    rep = make_user(Role.REP, territories=[territory], name="Riley Rep")
    return hcp, msl, rep


# --- my team and opting in ---------------------------------------------------------------------
def test_hcp_team_page_lists_covering_rep_and_msl_with_the_consent_wording(app, team):
    hcp, msl, rep = team
    outsider = make_user(Role.REP, name="Far Away Rep")

    page = text_of(client_for(app, hcp).get("/chat/team"))

    assert msl.name in page and rep.name in page
    assert "Medical science liaison" in page or msl.role.label in page
    assert outsider.name not in page
    assert consent.consent_wording().text in page
    assert f'name="wording_id" value="{wording_id()}"' in page


def test_start_chat_requires_the_confirm_box(app, team):
    hcp, msl, _rep = team
    browser = client_for(app, hcp)

    response = browser.post("/chat/start", data=start_form(msl, consent=""), follow_redirects=True)

    assert "Tick the box" in text_of(response)
    assert conversations() == []


def test_start_chat_with_an_outdated_wording_is_refused_and_stores_nothing(app, team):
    hcp, msl, _rep = team
    browser = client_for(app, hcp)
    before = audit_actions()

    response = browser.post(
        "/chat/start", data=start_form(msl, wording_id="999999"), follow_redirects=True
    )

    assert "consent wording has changed" in text_of(response)
    assert conversations() == []
    assert audit_actions() == before


def test_start_chat_opens_an_active_conversation_with_the_wording_agreed_to(app, team):
    hcp, msl, _rep = team
    browser = client_for(app, hcp)

    response = browser.post("/chat/start", data=start_form(msl))

    (conversation,) = conversations()
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/chat/?conversation={conversation.id}")
    assert conversation.state is ConversationState.ACTIVE
    (period,) = consents_of(conversation)
    assert period.wording_id == consent.consent_wording().id
    assert period.granted_via == "hcp_started"
    assert "chat.consent_given" in audit_actions()


def test_hcp_ends_a_chat_in_one_click(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)
    browser = client_for(app, hcp)

    response = browser.post(f"/chat/{conversation.id}/end", follow_redirects=True)

    assert f"You ended the chat with {msl.name}" in text_of(response)
    db.session.refresh(conversation)
    assert conversation.state is ConversationState.ENDED
    (period,) = consents_of(conversation)
    assert period.withdrawn_at is not None and period.withdrawn_via == "conversation"
    assert "chat.consent_withdrawn" in audit_actions()


def test_staff_cannot_end_the_hcps_chat(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)

    client_for(app, msl).post(f"/chat/{conversation.id}/end", follow_redirects=True)

    db.session.refresh(conversation)
    assert conversation.state is ConversationState.ACTIVE


def test_opting_in_again_opens_a_second_consent_period_in_the_same_conversation(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Before ending")
    browser = client_for(app, hcp)
    browser.post(f"/chat/{conversation.id}/end")

    page = text_of(browser.get("/chat/team"))
    assert "Chat again" in page
    browser.post("/chat/start", data=start_form(msl))

    assert [c.id for c in conversations()] == [conversation.id]
    first, second = consents_of(conversation)
    assert first.withdrawn_at is not None and second.withdrawn_at is None
    db.session.refresh(conversation)
    assert conversation.state is ConversationState.ACTIVE


# --- invitations -------------------------------------------------------------------------------
def invite(app: Flask, staff: User, hcp: User, note: str = "") -> TestResponse:
    return client_for(app, staff).post(
        "/chat/invite", data={"hcp_id": str(hcp.id), "note": note}, follow_redirects=True
    )


def only_invitation() -> Invitation:
    invitation = db.session.scalar(select(Invitation).order_by(Invitation.id.desc()))
    assert invitation is not None
    return invitation


def test_rep_sees_invitable_hcps_of_the_territory(app, team):
    hcp, _msl, rep = team
    elsewhere = make_hcp(name="Dr. Elsewhere")

    page = text_of(client_for(app, rep).get("/chat/team"))

    assert hcp.name in page and "Invite to chat" in page
    assert elsewhere.name not in page


def test_a_large_territory_is_paged_and_searched_by_name(app, team, monkeypatch):
    from chat import consent

    hcp, _msl, rep = team
    monkeypatch.setattr(consent, "INVITABLE_PAGE_SIZE", 2)
    territory = hcp.hcp_profile.territory
    others = [make_hcp(name=f"Dr. Zed {n}", territory=territory) for n in range(3)]

    first = text_of(client_for(app, rep).get("/chat/team"))
    last = text_of(client_for(app, rep).get("/chat/team?page=2"))
    found = text_of(client_for(app, rep).get("/chat/team?name=zed+1"))

    assert "4 HCPs · page 1 of 2" in first
    shown = [h.name for h in [hcp, *others] if h.name in first or h.name in last]
    assert len(shown) == 4  # every HCP on one page or the other
    assert others[1].name in found and others[0].name not in found and hcp.name not in found
    assert "No verified HCP of your territories is called" in text_of(
        client_for(app, rep).get("/chat/team?name=nobody%25")
    )


def test_rep_invites_and_the_hcp_sees_the_invitation_with_its_note(app, team):
    hcp, _msl, rep = team

    response = invite(app, rep, hcp, note="Happy to answer questions about the dosing guide.")

    assert f"Invitation sent to {hcp.name}" in text_of(response)
    page = text_of(client_for(app, hcp).get("/chat/team"))
    assert "invited you to chat" in page
    assert "Happy to answer questions about the dosing guide." in page
    assert f"/chat/invitations/{only_invitation().id}/accept" in page


def test_hcp_accepts_an_invitation_with_the_wording_shown(app, team):
    hcp, _msl, rep = team
    invite(app, rep, hcp)
    invitation = only_invitation()

    response = client_for(app, hcp).post(
        f"/chat/invitations/{invitation.id}/accept",
        data={"wording_id": wording_id(), "consent": "y"},
    )

    conversation = db.session.scalar(select(Conversation).where(Conversation.staff_id == rep.id))
    assert conversation is not None and conversation.state is ConversationState.ACTIVE
    assert response.headers["Location"].endswith(f"?conversation={conversation.id}")
    (period,) = consents_of(conversation)
    assert period.granted_via == "invitation"


def test_accepting_without_the_confirm_box_keeps_the_invitation_pending(app, team):
    hcp, _msl, rep = team
    invite(app, rep, hcp)
    invitation = only_invitation()

    client_for(app, hcp).post(
        f"/chat/invitations/{invitation.id}/accept", data={"wording_id": wording_id()}
    )

    db.session.refresh(invitation)
    assert invitation.status.value == "pending"


def test_a_declined_invitation_blocks_the_same_rep_for_a_while(app, team):
    hcp, _msl, rep = team
    invite(app, rep, hcp)
    browser = client_for(app, hcp)

    response = browser.post(
        f"/chat/invitations/{only_invitation().id}/decline", follow_redirects=True
    )
    assert f"You declined {rep.name}'s invitation" in text_of(response)
    again = invite(app, rep, hcp)

    assert "declined your last invitation" in text_of(again)
    assert db.session.scalar(select(Invitation).where(Invitation.status == "pending")) is None


def test_a_second_pending_invitation_from_the_same_rep_is_refused(app, team):
    hcp, _msl, rep = team
    invite(app, rep, hcp)

    again = invite(app, rep, hcp)

    assert "already waiting for an answer" in text_of(again)
    assert len(list(db.session.scalars(select(Invitation)))) == 1


def test_an_hcp_cannot_answer_someone_elses_invitation(app, team):
    hcp, _msl, rep = team
    invite(app, rep, hcp)
    other = make_hcp(territory=hcp.hcp_profile.territory)

    response = client_for(app, other).post(f"/chat/invitations/{only_invitation().id}/decline")

    assert response.status_code == 404


# --- the conversation page ---------------------------------------------------------------------
def chat_data(response: TestResponse) -> dict:
    match = re.search(
        r'<script type="application/json" id="chat-data">(.*?)</script>',
        response.get_data(as_text=True),
        re.S,
    )
    assert match is not None
    return dict(json.loads(match.group(1)))


def test_the_chat_page_embeds_its_first_state_and_no_executable_inline_script(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "<b>x</b> & 'quotes'")

    response = client_for(app, hcp).get(f"/chat/?conversation={conversation.id}")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert "<b>x</b>" not in html  # the JSON block escapes markup too
    data = chat_data(response)
    assert data["me"]["id"] == hcp.id and data["selected"] == conversation.id
    assert [m["body"] for m in data["messages"]] == ["<b>x</b> & 'quotes'"]
    assert [c["peer"]["name"] for c in data["conversations"]] == [msl.name]
    assert "/static/js/chat.js" in html and "/static/vendor/socket.io/socket.io.min.js" in html


def test_the_staff_page_offers_sharing_and_no_end_button(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)

    page = text_of(client_for(app, msl).get(f"/chat/?conversation={conversation.id}"))

    assert 'data-testid="share-material"' in page
    assert 'data-testid="end-chat"' not in page


def test_the_share_picker_offers_only_material_meant_for_this_hcp(app, team):
    from tests.content.factories import make_material

    hcp, msl, _rep = team  # a US cardiologist
    for_them = make_material(classification="medical", title="Cardiology dosing guide")
    for_europe = make_material(
        product=for_them.product, classification="medical", countries=["DE", "FR"],
        title="EU dosing guide",
    )  # fmt: skip
    uncovered = make_material(classification="medical", title="Other product study")
    msl.products = [for_them.product]
    db.session.commit()
    conversation = active_conversation(hcp, msl)

    page = text_of(client_for(app, msl).get(f"/chat/?conversation={conversation.id}"))
    picker = page[page.index('id="chat-material"') : page.index('id="chat-share"')]

    assert for_them.title in picker
    assert for_europe.title not in picker and uncovered.title not in picker


def test_an_ended_chat_tells_the_staff_member_who_ended_it(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)
    consent.end_chat(hcp, conversation.id)

    page = text_of(client_for(app, msl).get(f"/chat/?conversation={conversation.id}"))

    assert f"{hcp.name} ended this chat" in page
    assert re.search(r'<textarea[^>]*id="chat-input"[^>]*disabled', page)


def test_an_hcp_cannot_open_another_hcps_conversation(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)
    other = make_hcp(territory=hcp.hcp_profile.territory)

    response = client_for(app, other).get(f"/chat/?conversation={conversation.id}")

    assert response.status_code == 404


def test_rep_cannot_open_msl_conversation_by_id(app, team):
    hcp, msl, rep = team
    conversation = active_conversation(hcp, msl)

    response = client_for(app, rep).get(f"/chat/?conversation={conversation.id}")

    assert response.status_code == 404


@pytest.mark.parametrize("junk", ["abc", "0", "-1", "99999999999"])
def test_a_junk_conversation_id_is_not_found(app, team, junk):
    hcp, _msl, _rep = team

    assert client_for(app, hcp).get(f"/chat/?conversation={junk}").status_code == 404


@pytest.mark.parametrize("path", ["/chat/", "/chat/team", "/chat/settings"])
@pytest.mark.parametrize("role", [Role.MEDICAL_INFORMATION, Role.COMPLIANCE, Role.ADMIN])
def test_other_staff_get_404_on_the_chat_pages(app, path, role):
    assert client_for(app, make_user(role)).get(path).status_code == 404


@pytest.mark.parametrize("path", ["/chat/", "/chat/team"])
def test_an_unverified_hcp_gets_404(app, path):
    pending = make_hcp(verification=Verification.PENDING)

    assert client_for(app, pending).get(path).status_code == 404


def test_the_chat_pages_require_sign_in(client):
    response = client.get("/chat/")

    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- settings --------------------------------------------------------------------------------
def test_settings_list_active_chats_and_end_all(app, team):
    hcp, msl, rep = team
    first = active_conversation(hcp, msl)
    second = active_conversation(hcp, rep)
    browser = client_for(app, hcp)

    page = text_of(browser.get("/chat/settings"))
    assert msl.name in page and rep.name in page and "End all chats" in page
    response = browser.post("/chat/settings/end-all", follow_redirects=True)

    assert "You ended 2 chats" in text_of(response)
    for conversation in (first, second):
        db.session.refresh(conversation)
        assert conversation.state is ConversationState.ENDED
        assert consents_of(conversation)[-1].withdrawn_via == "settings"


def test_ending_one_chat_from_settings_is_recorded_as_such(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)

    response = client_for(app, hcp).post(f"/chat/{conversation.id}/end", data={"via": "settings"})

    assert response.headers["Location"].endswith("/chat/settings")
    assert consents_of(conversation)[-1].withdrawn_via == "settings"


def test_staff_have_no_chat_settings(app, team):
    _hcp, msl, _rep = team

    assert client_for(app, msl).get("/chat/settings").status_code == 404


# --- safety: one-click reports and attestations -------------------------------------------------
JSON = {"Accept": "application/json"}


def pv_cases() -> list[Any]:
    from portal.safety.models import PvCase

    return list(db.session.scalars(select(PvCase).order_by(PvCase.id)))


def test_the_msl_reports_an_hcp_message_to_pv_in_one_click(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "As I said on the phone, it happened again yesterday.")
    browser = client_for(app, msl)
    data = chat_data(browser.get(f"/chat/?conversation={conversation.id}"))
    assert data["csrf_token"] and data["chat_url"] == "/chat/"

    first = browser.post(f"/chat/{conversation.id}/messages/1/report-pv", headers=JSON)
    assert first.status_code == 201
    [case] = pv_cases()
    assert first.json == {
        "ok": True,
        "case": case.reference,
        "created": True,
        "message": f"Reported to Pharmacovigilance as {case.reference}.",
    }
    assert (case.conversation_id, case.source_ref) == (conversation.id, f"C-{conversation.id}#1")
    again = browser.post(f"/chat/{conversation.id}/messages/1/report-pv", headers=JSON)
    assert again.status_code == 200 and again.json["created"] is False
    assert len(pv_cases()) == 1


def test_the_hcp_page_carries_no_report_token(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)
    data = chat_data(client_for(app, hcp).get(f"/chat/?conversation={conversation.id}"))
    assert "csrf_token" not in data and "attest_url" not in data


@pytest.mark.parametrize(("who", "status"), [("outsider", 404), ("hcp", 403), ("compliance", 403)])
def test_who_may_not_report_a_chat_message(app, team, who, status):
    hcp, msl, rep = team
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "As I said on the phone, it happened again yesterday.")
    user = {"outsider": rep, "hcp": hcp, "compliance": make_user(Role.COMPLIANCE)}[who]
    refused = client_for(app, user).post(
        f"/chat/{conversation.id}/messages/1/report-pv", headers=JSON
    )
    assert refused.status_code == status
    assert refused.json["ok"] is False
    assert pv_cases() == []


def test_a_missing_message_is_not_found(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)
    missing = client_for(app, msl).post(f"/chat/{conversation.id}/messages/9/report-pv")
    assert missing.status_code == 404


def test_an_ended_chat_asks_its_staff_member_to_attest_and_the_attestation_is_recorded(app, team):
    hcp, msl, _rep = team
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "As I said on the phone, it happened again yesterday.")
    send(msl, conversation, "Thank you, I will pass this on.")
    browser = client_for(app, msl)
    assert 'data-testid="attest-notice"' not in text_of(
        browser.get(f"/chat/?conversation={conversation.id}")
    )
    consent.end_chat(hcp, conversation.id)

    chat_page = text_of(browser.get(f"/chat/?conversation={conversation.id}"))
    assert 'data-testid="attest-notice"' in chat_page
    assert f'href="/chat/{conversation.id}/attest"' in chat_page
    home = text_of(browser.get("/"))
    assert "Chats waiting for your safety attestation" in home
    assert f'data-conversation="{conversation.id}"' in home

    form = text_of(browser.get(f"/chat/{conversation.id}/attest"))
    assert "it happened again yesterday" in form and "I will pass this on" in form
    assert 'name="through_seq" type="hidden" value="2"' in form
    assert "checked" not in form

    unchosen = browser.post(f"/chat/{conversation.id}/attest", data={"through_seq": "2"})
    assert unchosen.status_code == 200
    assert "nothing is chosen for you" in text_of(unchosen)
    assert conversations()[0].attested_seq == 0

    done = browser.post(
        f"/chat/{conversation.id}/attest",
        data={"through_seq": "2", "attestation": "adverse_event"},
        follow_redirects=True,
    )
    [case] = pv_cases()
    expected = f"Attested for messages up to #2. Reported to Pharmacovigilance as {case.reference}."
    assert expected in text_of(done)
    assert conversations()[0].attested_seq == 2
    assert "Chats waiting for your safety attestation" not in text_of(browser.get("/"))
    nothing_left = browser.get(f"/chat/{conversation.id}/attest", follow_redirects=True)
    assert "Every message of this chat is attested already." in text_of(nothing_left)

    stale = browser.post(
        f"/chat/{conversation.id}/attest",
        data={"through_seq": "2", "attestation": "none"},
        follow_redirects=True,
    )
    assert "Every message of this chat is attested already." in text_of(stale)
    assert len(pv_cases()) == 1


@pytest.mark.parametrize("who", ["hcp", "outsider", "compliance"])
def test_the_attest_page_is_the_staff_participants_only(app, team, who):
    hcp, msl, rep = team
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Hello, a question about the titration schedule.")
    consent.end_chat(hcp, conversation.id)
    user = {"outsider": rep, "hcp": hcp, "compliance": make_user(Role.COMPLIANCE)}[who]
    browser = client_for(app, user)
    assert browser.get(f"/chat/{conversation.id}/attest").status_code == 404
    posted = browser.post(
        f"/chat/{conversation.id}/attest", data={"through_seq": "1", "attestation": "none"}
    )
    assert posted.status_code == 404
    assert conversations()[0].attested_seq == 0
