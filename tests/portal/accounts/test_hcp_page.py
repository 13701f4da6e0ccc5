"""The HCP page for staff (``/hcps/<id>``) and ``timeline.json``: who may open them, what each
side of the firewall sees of every kind of event, paging without JavaScript, errors as JSON, a
bounded number of SQL statements; and HCP names that link to the page."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login import login_user
from markupsafe import Markup

from content.models import EventKind, MaterialEvent
from portal.accounts import hcp_views
from portal.accounts.models import CallNote, InteractionKind
from portal.extensions import db
from portal.models import Role, User
from portal.models.reference import Side
from tests.chat.factories import active_conversation
from tests.conftest import IsolatedClient, login
from tests.factories import make_hcp, make_territory, make_user
from tests.portal.accounts.test_timeline import (
    COMMERCIAL_QUESTION,
    EXPECTED,
    MEDICAL_QUESTION,
    MSL_NOTE,
    MSL_SECRETS,
    OUTSIDERS,
    READERS,
    REP_NOTE,
    Record,
    find,
    seed_record,
)
from tests.portal.questions.factories import ask
from tests.portal.test_page_statements import counting


def signed_in(app: Flask, user: User) -> FlaskClient:
    app.test_client_class = IsolatedClient
    client = app.test_client()
    assert login(client, user.email).status_code == 302
    return client


def all_events(client: FlaskClient, hcp_id: int) -> list[dict[str, Any]]:
    """Every event of ``timeline.json``, following ``next``."""
    events: list[dict[str, Any]] = []
    url = f"/hcps/{hcp_id}/timeline.json"
    for _ in range(100):
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        events.extend(body["events"])
        if body["next"] is None:
            return events
        url = f"/hcps/{hcp_id}/timeline.json?before={body['next']}"
    raise AssertionError("the pages never ended")


# --- who may open it -----------------------------------------------------------------------------
@pytest.mark.parametrize("viewer", READERS)
def test_the_record_opens_for_its_readers(app, viewer):
    record = seed_record()
    client = signed_in(app, record.people[viewer])
    page = client.get(f"/hcps/{record.hcp.id}")
    assert page.status_code == 200
    assert "Dr. Avery Cole" in page.get_data(as_text=True)
    assert client.get(f"/hcps/{record.hcp.id}/timeline.json").status_code == 200


@pytest.mark.parametrize("viewer", OUTSIDERS)
def test_an_hcp_and_another_territorys_rep_get_404(app, viewer):
    record = seed_record()
    client = signed_in(app, record.people[viewer])
    assert client.get(f"/hcps/{record.hcp.id}").status_code == 404
    response = client.get(f"/hcps/{record.hcp.id}/timeline.json")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert "Avery" not in response.get_data(as_text=True)


def test_an_hcp_cannot_open_their_own_record_here(app):
    record = seed_record()
    client = signed_in(app, record.hcp)
    assert client.get(f"/hcps/{record.hcp.id}").status_code == 404


def test_a_staff_member_is_not_an_hcp_record(app):
    record = seed_record()
    client = signed_in(app, record.people["compliance"])
    assert client.get(f"/hcps/{record.people['rep'].id}").status_code == 404
    assert client.get(f"/hcps/{2**31 - 1}/timeline.json").status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(app, client):
    record = seed_record()
    for url in (f"/hcps/{record.hcp.id}", f"/hcps/{record.hcp.id}/timeline.json"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- the firewall table --------------------------------------------------------------------------
@pytest.mark.parametrize("viewer", READERS)
def test_timeline_json_shows_every_kind_with_content_or_null(app, viewer):
    record = seed_record()
    events = all_events(signed_in(app, record.people[viewer]), record.hcp.id)
    wrong = []
    for label, (kind, readers) in EXPECTED.items():
        event = find(events, kind, record.at[label])
        if event is None:
            wrong.append(f"{label}: missing")
        elif (event["detail"] is not None) != (viewer in readers):
            wrong.append(f"{label}: detail {'present' if event['detail'] else 'null'}")
    assert not wrong, wrong
    assert len(events) == len(EXPECTED)


def _page_events(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-kind="([a-z_]+)" data-restricted="(true|false)"', html)


@pytest.mark.parametrize("viewer", READERS)
def test_the_page_shows_the_same_events_as_the_json(app, viewer):
    record = seed_record()
    client = signed_in(app, record.people[viewer])
    html = client.get(f"/hcps/{record.hcp.id}").get_data(as_text=True)
    on_page = _page_events(html)
    expected = sorted(
        (kind, "false" if viewer in readers else "true") for kind, readers in EXPECTED.values()
    )
    assert sorted(on_page) == expected


@pytest.mark.parametrize("viewer", ["rep", "market_access"])
def test_the_medical_side_never_reaches_a_commercial_viewer(app, viewer):
    record = seed_record()
    client = signed_in(app, record.people[viewer])
    html = client.get(f"/hcps/{record.hcp.id}").get_data(as_text=True)
    body = client.get(f"/hcps/{record.hcp.id}/timeline.json").get_data(as_text=True)
    for secret in MSL_SECRETS:
        assert secret not in html, secret
        assert secret not in body, secret
    assert "renal impairment" not in html + body
    assert "A question to Medical Information" in html
    assert COMMERCIAL_QUESTION in html
    assert REP_NOTE in html


@pytest.mark.parametrize("viewer", ["msl", "compliance"])
def test_medical_roles_and_compliance_read_both_sides(app, viewer):
    record = seed_record()
    html = (
        signed_in(app, record.people[viewer]).get(f"/hcps/{record.hcp.id}").get_data(as_text=True)
    )
    for text in (MEDICAL_QUESTION, MSL_NOTE, COMMERCIAL_QUESTION, REP_NOTE):
        assert text in html


def test_compliance_reads_and_is_told_it_is_read_only(app):
    record = seed_record()
    html = signed_in(app, record.people["compliance"]).get(f"/hcps/{record.hcp.id}")
    assert 'data-testid="read-only"' in html.get_data(as_text=True)


# --- the page's other parts ----------------------------------------------------------------------
def test_the_page_shows_chats_preferences_touches_and_the_cap(app):
    record = seed_record()
    html = signed_in(app, record.people["rep"]).get(f"/hcps/{record.hcp.id}").get_data(as_text=True)
    consent = html[html.index('data-testid="consent"') :]
    consent = consent[: consent.index("</section>")]
    # The rep's own chat, with a link to it; the MSL's as the team, dates only.
    assert "Jordan Lee" in consent and "MSL team" in consent and "Sam Medic" not in consent
    assert "Open the chat" in consent
    assert consent.count('data-testid="chat"') == 2
    assert "Portal message, E-mail, Chat invitation, Visit or video call" in html
    assert 'data-testid="touch"' in html
    assert re.search(r'data-testid="cap-used">\s*1 of 4', html)
    assert 'data-testid="cap-next"' in html


def test_a_viewer_who_may_not_contact_sees_the_cap_but_no_next_time(app):
    record = seed_record()
    html = signed_in(app, record.people["mi"]).get(f"/hcps/{record.hcp.id}").get_data(as_text=True)
    assert re.search(r'data-testid="cap-used">\s*1 of 4', html)
    assert 'data-testid="cap-next"' not in html


def test_the_coordination_warning_names_the_colleague_who_touched_the_hcp(app):
    record = seed_record()
    html = signed_in(app, record.people["msl"]).get(f"/hcps/{record.hcp.id}").get_data(as_text=True)
    assert 'data-testid="coordination-warning"' in html
    warning = html[html.index('data-testid="coordination-warning"') :][:400]
    assert "Jordan Lee" in warning


# --- paging --------------------------------------------------------------------------------------
def _views(record: Record, count: int, moment: dt.datetime) -> None:
    material = record.materials["public"]
    db.session.add_all(
        MaterialEvent(material_id=material.id, family_id=material.family_id,
                      user_id=record.hcp.id, kind=EventKind.VIEW, at=moment)
        for _ in range(count)
    )  # fmt: skip
    db.session.commit()


def test_older_pages_follow_the_link_without_javascript(app):
    record = seed_record()
    _views(record, 70, record.at["rep_call_note"])  # 70 ties with the newest events
    client = signed_in(app, record.people["msl"])
    url: str | None = f"/hcps/{record.hcp.id}"
    seen: list[tuple[str, str]] = []
    pages = 0
    while url:
        html = client.get(url).get_data(as_text=True)
        seen.extend(_page_events(html))
        pages += 1
        older = re.search(r'href="([^"]+)" rel="next" data-testid="older"', html)
        url = older.group(1).replace("&amp;", "&") if older else None
        if pages > 1:
            assert 'data-testid="newest"' in html
    total = len(EXPECTED) + 70
    assert pages == -(-total // hcp_views.PAGE_EVENTS)
    assert len(seen) == total


def test_json_pages_are_exact_with_ties(app):
    record = seed_record()
    _views(record, 60, record.at["viewed"])
    events = all_events(signed_in(app, record.people["rep"]), record.hcp.id)
    assert len(events) == len(EXPECTED) + 60
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)


@pytest.mark.parametrize("cursor", ["garbage", "bm90IGEgY3Vyc29y", "%FF%FE", "1" * 300])
def test_a_bad_cursor_is_a_400_with_a_json_error(app, cursor):
    record = seed_record()
    client = signed_in(app, record.people["rep"])
    response = client.get(f"/hcps/{record.hcp.id}/timeline.json?before={cursor}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid"
    assert client.get(f"/hcps/{record.hcp.id}?before={cursor}").status_code == 400


def test_a_bad_cursor_on_someone_elses_record_is_still_404(app):
    record = seed_record()
    client = signed_in(app, record.people["other_rep"])
    assert client.get(f"/hcps/{record.hcp.id}/timeline.json?before=garbage").status_code == 404


# --- statements ----------------------------------------------------------------------------------
def _more(record: Record, times: int) -> None:
    """More of every source the rep's side writes, and engagement."""
    _views(record, times, record.at["viewed"])
    db.session.add_all(
        CallNote(hcp_id=record.hcp.id, author_id=record.people[who].id, side=side,
                 kind=InteractionKind.PHONE, occurred_at=record.at["rep_call_note"], summary="x")
        for who, side in (("rep", Side.COMMERCIAL), ("msl", Side.MEDICAL))
        for _ in range(times)
    )  # fmt: skip
    db.session.commit()
    for _ in range(times):
        ask(record.hcp, text="Another dosing question about titration", category="dosing")


def _statements(app: Flask, client: FlaskClient, url: str) -> int:
    client.get(url)
    with counting(app) as seen:
        assert client.get(url).status_code == 200
    return len(seen)


def test_statements_do_not_grow_with_the_record(app):
    record = seed_record()
    client = signed_in(app, record.people["msl"])
    json_url, page_url = f"/hcps/{record.hcp.id}/timeline.json", f"/hcps/{record.hcp.id}"
    small_json, small_page = _statements(app, client, json_url), _statements(app, client, page_url)
    _more(record, 30)
    assert _statements(app, client, json_url) == small_json
    # The page shows its first events only: fewer kinds among them may need fewer reads.
    assert _statements(app, client, page_url) <= small_page
    # One per source of events, the team names, and the signed-in user.
    assert small_json <= 22


# --- names that link to the page -----------------------------------------------------------------
def test_hcp_link_links_only_for_viewers_of_the_record(app):
    territory, elsewhere = make_territory(), make_territory()
    hcp = make_hcp(territory=territory, name="Dr. <b>Bold</b>")
    rep = make_user(Role.REP, territories=[territory])
    other = make_user(Role.REP, territories=[elsewhere])
    staff_payload = {"id": rep.id, "name": rep.name}
    for viewer, linked in ((rep, True), (other, False), (hcp, False)):
        with app.test_request_context():
            login_user(viewer)
            html = hcp_views.hcp_link(hcp)
            assert isinstance(html, Markup)
            assert (f"/hcps/{hcp.id}" in html) is linked
            assert "Dr. &lt;b&gt;Bold&lt;/b&gt;" in html and "<b>" not in html
            assert hcp_views.hcp_link({"id": hcp.id, "name": hcp.name}) == html
            assert "href" not in hcp_views.hcp_link(staff_payload)
            assert hcp_views.hcp_link(None) == ""


def test_names_in_the_question_queue_lead_to_the_hcp_page(app):
    territory = make_territory()
    hcp = make_hcp(territory=territory)
    question = ask(hcp, text="What is the dose for children?", category="dosing")
    mi = make_user(Role.MEDICAL_INFORMATION)
    client = signed_in(app, mi)
    queue = client.get("/questions/queue?view=all").get_data(as_text=True)
    assert f'href="/hcps/{hcp.id}"' in queue
    detail = client.get(f"/questions/{question.id}").get_data(as_text=True)
    assert f'href="/hcps/{hcp.id}"' in detail


def test_the_chat_page_links_the_hcp_for_staff_not_for_the_hcp(app):
    territory = make_territory()
    hcp = make_hcp(territory=territory)
    msl = make_user(Role.MSL, territories=[territory])
    conversation = active_conversation(hcp, msl)
    url = f"/chat/?conversation={conversation.id}"
    assert f'href="/hcps/{hcp.id}"' in signed_in(app, msl).get(url).get_data(as_text=True)
    assert "/hcps/" not in signed_in(app, hcp).get(url).get_data(as_text=True)
    review = signed_in(app, make_user(Role.COMPLIANCE))
    assert f'href="/hcps/{hcp.id}"' in review.get("/compliance/chats/").get_data(as_text=True)
    transcript = review.get(f"/compliance/chats/{conversation.id}").get_data(as_text=True)
    assert f'href="/hcps/{hcp.id}"' in transcript
