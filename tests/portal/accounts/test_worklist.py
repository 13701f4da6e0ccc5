"""The home page of reps, market access and MSLs is a worklist: requests and invitations waiting,
HCPs who asked for contact, open questions of their territories as the firewall allows, new
engagement with what they shared, follow-ups due; bounded, and within the page's SQL budget."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from chat import consent
from portal.accounts import outreach, worklist
from portal.accounts.models import CallNote, InteractionKind, MaterialShare
from portal.extensions import db
from portal.models import Role, Side, utcnow
from tests.chat.factories import active_conversation
from tests.conftest import login
from tests.content.factories import make_author, make_material
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import ask
from tests.portal.test_page_statements import BUDGET, counting

DAY = dt.timedelta(days=1)
MEDICAL_TEXT = "Can I give it to a pregnant patient with renal failure?"
COMMERCIAL_TEXT = "Could you send samples of the starter pack?"


@pytest.fixture
def field(app: Any) -> dict[str, Any]:
    territory = make_territory()
    product = make_product()
    people: dict[str, Any] = {
        "hcp": make_hcp(territory=territory, name="Dr. Cole"),
        "hcp2": make_hcp(territory=territory, name="Dr. Okafor"),
        "elsewhere": make_hcp(territory=make_territory(), name="Dr. Faraway"),
        "rep": make_user(Role.REP, territories=[territory], products=[product], name="Jordan Lee"),
        "msl": make_user(Role.MSL, territories=[territory], products=[product], name="Ana Ruiz"),
        "access": make_user(Role.MARKET_ACCESS, territories=[territory], products=[product]),
        "product": product,
    }
    people["material"] = make_material(make_author(), product=product, title="Starter pack guide")
    return people


def future(days: float) -> dt.datetime:
    day = (utcnow() + dt.timedelta(days=days)).date()
    return dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)


def test_only_reps_market_access_and_msls_have_a_worklist(field):
    assert worklist.home_panel(field["rep"]) is not None
    assert worklist.home_panel(field["access"]) is not None
    assert worklist.home_panel(field["msl"]) is not None
    assert worklist.home_panel(field["hcp"]) is None
    for role in (Role.MEDICAL_INFORMATION, Role.COMPLIANCE, Role.ADMIN):
        assert worklist.home_panel(make_user(role)) is None


def test_an_empty_worklist_says_so(client, field):
    login(client, field["rep"].email)
    page = client.get("/").get_data(as_text=True)
    assert 'data-testid="worklist-empty"' in page


def test_requests_invitations_and_hcps_who_asked_for_contact(client, field):
    rep, hcp, hcp2 = field["rep"], field["hcp"], field["hcp2"]
    request = outreach.request_meeting(
        hcp, outreach.MeetingInput(mode="phone", slots=[future(2)], staff_id=rep.id)
    )
    proposal = outreach.propose_meeting(
        rep, hcp2.id, outreach.MeetingInput(mode="visit", slots=[future(3)])
    )
    invited = make_hcp(territory=hcp.hcp_profile.territory, name="Dr. Invited")
    consent.invite(rep, invited.id)
    active_conversation(hcp2, rep)  # Dr. Okafor started a chat with the rep

    work = worklist.worklist(rep)

    assert [e.ref_id for e in work.meeting_requests.entries] == [request.id]
    assert [e.ref_id for e in work.proposals.entries] == [proposal.id]
    assert [e.hcp_name for e in work.invitations.entries] == ["Dr. Invited"]
    assert [e.hcp_name for e in work.chats_started.entries] == ["Dr. Okafor"]
    assert worklist.worklist(field["msl"]).meeting_requests.total == 0  # the rep's, not the MSL's
    login(client, rep.email)
    page = client.get("/").get_data(as_text=True)
    assert 'data-testid="asked-for-contact"' in page and "asked for a phone call" in page
    assert 'data-testid="invitation-pending"' in page and "Dr. Invited" in page


def test_each_list_is_bounded_and_says_how_many_more(field):
    rep, hcp = field["rep"], field["hcp"]
    for n in range(worklist.LIMIT + 2):
        other = make_hcp(territory=hcp.hcp_profile.territory)
        consent.invite(rep, other.id)
        del n
    work = worklist.worklist(rep)
    assert len(work.invitations.entries) == worklist.LIMIT
    assert work.invitations.total == worklist.LIMIT + 2 and work.invitations.more == 2


def test_a_rep_sees_commercial_questions_and_only_a_count_of_medical_ones(client, field):
    rep, msl, hcp = field["rep"], field["msl"], field["hcp"]
    commercial = ask(hcp, category="samples", text=COMMERCIAL_TEXT, product=field["product"])
    medical = ask(hcp, category="clinical", text=MEDICAL_TEXT, product=field["product"])
    ask(field["elsewhere"], category="samples", text="Another territory's question")

    rep_work = worklist.worklist(rep)
    msl_work = worklist.worklist(msl)

    assert [q.question.id for q in rep_work.questions] == [commercial.id]
    assert rep_work.medical_questions == 1
    assert {q.question.id for q in msl_work.questions} == {commercial.id, medical.id}
    assert msl_work.medical_questions is None
    login(client, rep.email)
    page = client.get("/").get_data(as_text=True)
    assert commercial.reference in page
    assert f"/questions/{commercial.id}" in page  # the rep's team's question: a link
    assert medical.reference not in page and f"/questions/{medical.id}" not in page
    assert MEDICAL_TEXT not in page and "pregnant" not in page
    assert 'data-testid="medical-question-count"' in page


def test_market_access_sees_commercial_questions_it_may_not_open_without_a_link(field):
    commercial = ask(field["hcp"], category="samples", text=COMMERCIAL_TEXT)
    [item] = worklist.worklist(field["access"]).questions
    assert item.question.id == commercial.id and not item.linked  # Sales' question


def test_new_engagement_until_the_colleague_marks_it_seen(client, field):
    rep, hcp, material = field["rep"], field["hcp"], field["material"]
    share = outreach.share_material(rep, hcp.id, material.id, now=utcnow() - DAY)
    assert worklist.worklist(rep).engagement.total == 0  # not opened yet
    from content import services as content_services

    content_services.record_view(hcp, material)

    [entry] = worklist.worklist(rep).engagement.entries
    assert (entry.ref_id, entry.hcp_name, entry.label) == (share.id, "Dr. Cole", material.title)
    login(client, field["msl"].email)
    assert client.post(f"/outreach/shares/{share.id}/seen").status_code == 404  # not theirs
    client.post("/logout")
    login(client, rep.email)
    assert 'data-testid="engagement"' in client.get("/").get_data(as_text=True)
    assert client.post(f"/outreach/shares/{share.id}/seen").status_code == 302
    assert worklist.worklist(rep).engagement.total == 0
    seen = db.session.get(MaterialShare, share.id)
    assert seen.seen_by_staff_at is not None and seen.opened_at is not None


def test_follow_ups_due_are_listed(client, field):
    rep, hcp = field["rep"], field["hcp"]
    db.session.add(
        CallNote(
            hcp_id=hcp.id, author_id=rep.id, side=Side.COMMERCIAL, kind=InteractionKind.VISIT,
            occurred_at=utcnow() - 3 * DAY, follow_up="Bring the starter pack",
            follow_up_due=(utcnow() - DAY).date(),
        )
    )  # fmt: skip
    db.session.commit()

    assert [n.hcp_id for n in worklist.worklist(rep).follow_ups] == [hcp.id]
    login(client, rep.email)
    assert "Bring the starter pack" in client.get("/").get_data(as_text=True)


def test_the_home_page_with_a_full_worklist_stays_within_its_statement_budget(client, field):
    rep, hcp, hcp2 = field["rep"], field["hcp"], field["hcp2"]
    outreach.request_meeting(
        hcp, outreach.MeetingInput(mode="phone", slots=[future(2)], staff_id=rep.id)
    )
    outreach.propose_meeting(rep, hcp2.id, outreach.MeetingInput(mode="visit", slots=[future(3)]))
    active_conversation(hcp2, rep)
    consent.invite(rep, make_hcp(territory=hcp.hcp_profile.territory).id)
    ask(hcp, category="samples", text=COMMERCIAL_TEXT)
    ask(hcp, category="clinical", text=MEDICAL_TEXT)
    share = outreach.share_material(
        field["msl"], hcp.id, field["material"].id, now=utcnow() - 10 * DAY
    )
    from content import services as content_services

    content_services.record_view(hcp, field["material"])
    db.session.add(
        CallNote(
            hcp_id=hcp.id, author_id=rep.id, side=Side.COMMERCIAL, kind=InteractionKind.PHONE,
            occurred_at=utcnow() - 3 * DAY, follow_up="Call back", follow_up_due=utcnow().date(),
        )
    )  # fmt: skip
    db.session.commit()
    for who in (rep, field["msl"]):
        client.post("/logout")
        login(client, who.email)
        client.get("/")
        with counting(client.application) as seen:
            page = client.get("/").get_data(as_text=True)
        assert 'data-testid="worklist"' in page
        assert len(seen) <= BUDGET, "\n".join(seen)
    assert db.session.scalars(select(MaterialShare.id)).all() == [share.id]
