"""The territory roster (``/hcps/``): only the viewer's territories, each filter, search by NPI
and by name, the sorts, paging, the firewall on the last contact, and a page that costs the same
few statements however many HCPs the territory holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from content.models import EventKind, MaterialEvent
from portal.accounts import contact_rule, preferences, roster
from portal.accounts.models import Contact, ContactChannel, ContactKind
from portal.accounts.roster import RosterFilters, RosterSort
from portal.extensions import db
from portal.models import Role, User, Verification, utcnow
from portal.questions import settings as routing_settings
from tests.chat.factories import active_conversation
from tests.conftest import login
from tests.content.factories import make_material
from tests.factories import make_hcp, make_territory, make_user, valid_npi
from tests.portal.questions.factories import ask
from tests.portal.test_page_statements import BUDGET

NOW = utcnow()
DAY = dt.timedelta(days=1)


@pytest.fixture
def world(app: Flask) -> dict[str, Any]:
    """A territory with three HCPs and its account team; another territory with its own HCP
    and rep."""
    routing_settings.ensure_default_rules()
    territory, elsewhere = make_territory(), make_territory()
    cole = make_hcp(
        territory=territory, name="Dr. Avery Cole", npi=valid_npi(), specialty="Cardiology"
    )
    adams = make_hcp(territory=territory, name="Dr. Blake Adams", specialty="Oncology")
    baker = make_hcp(
        territory=territory, name="Dr. Casey Baker", specialty="Cardiology",
        verification=Verification.PENDING,
    )  # fmt: skip
    far = make_hcp(territory=elsewhere, name="Dr. Far Away", specialty="Cardiology")
    return {
        "territory": territory,
        "cole": cole,
        "adams": adams,
        "baker": baker,
        "far": far,
        "rep": make_user(Role.REP, territories=[territory], name="Jordan Lee"),
        "market_access": make_user(Role.MARKET_ACCESS, territories=[territory]),
        "msl": make_user(Role.MSL, territories=[territory], name="Morgan Reyes"),
        "outsider": make_user(Role.REP, territories=[elsewhere]),
    }


def names(page: Any) -> list[str]:
    return [row.hcp.name for row in page.items]


def row_of(page: Any, hcp: User) -> roster.RosterRow:
    [row] = [row for row in page.items if row.hcp.id == hcp.id]
    return row


def touch(staff: User, hcp: User, at: dt.datetime, **kwargs: Any) -> Contact:
    """A contact in the ledger (the HCP asked for it: nothing in the rule blocks it)."""
    contact = contact_rule.claim(
        staff, hcp, kwargs.pop("channel", ContactChannel.VISIT), kind=ContactKind.CALL,
        subject="test", subject_id=None, at=at, solicited=True,
    )  # fmt: skip
    db.session.commit()
    return contact


def opened(hcp: User, at: dt.datetime, times: int = 1) -> None:
    material = make_material(direct=True)
    for _ in range(times):
        db.session.add(
            MaterialEvent(
                material_id=material.id, family_id=material.family_id, user_id=hcp.id,
                kind=EventKind.VIEW, at=at,
            )
        )  # fmt: skip
    db.session.commit()


# --- who sees what -------------------------------------------------------------------------------
def test_roster_lists_the_hcps_of_the_viewers_territories_only(world):
    page = roster.roster_page(world["rep"])
    assert names(page) == ["Dr. Avery Cole", "Dr. Blake Adams", "Dr. Casey Baker"]
    assert "Dr. Far Away" not in names(page)
    assert names(roster.roster_page(world["outsider"])) == ["Dr. Far Away"]


def test_another_territorys_hcp_never_appears_whatever_the_filter(world):
    rep, far = world["rep"], world["far"]
    for filters in (
        RosterFilters(search="Far"),
        RosterFilters(search=far.hcp_profile.npi),
        RosterFilters(specialty="Cardiology"),
        RosterFilters(chat=False),
        RosterFilters(contacted=False),
    ):
        assert far.id not in {row.hcp.id for row in roster.roster_page(rep, filters).items}


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.REP, 200),
        (Role.MARKET_ACCESS, 200),
        (Role.MSL, 200),
        (Role.MEDICAL_INFORMATION, 404),
        (Role.PHARMACOVIGILANCE, 404),
        (Role.COMPLIANCE, 404),
        (Role.ADMIN, 404),
        (Role.HCP, 404),
    ],
)
def test_who_may_open_the_roster(client, world, role, status):
    person = (
        make_user(role, territories=[world["territory"]]) if role is not Role.HCP else world["cole"]
    )
    login(client, person.email)
    assert client.get("/hcps/").status_code == status


def test_staff_without_roster_get_an_empty_page_from_the_service(world):
    mi = make_user(Role.MEDICAL_INFORMATION, territories=[world["territory"]])
    assert roster.roster_page(mi).items == []
    assert roster.specialties(mi) == []


def test_the_roster_page_shows_the_territorys_hcps_and_links_them(client, world):
    login(client, world["rep"].email)
    response = client.get("/hcps/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Dr. Avery Cole" in html and "Dr. Far Away" not in html
    assert f'href="/hcps/{world["cole"].id}"' in html
    assert 'data-testid="nav-hcps"' in html


# --- the columns ---------------------------------------------------------------------------------
def test_opt_ins_count_chats_with_anyone_and_say_whether_with_me(world):
    cole, msl, rep = world["cole"], world["msl"], world["rep"]
    active_conversation(cole, msl)
    as_msl = row_of(roster.roster_page(msl), cole)
    as_rep = row_of(roster.roster_page(rep), cole)
    assert (as_msl.chat_consents, as_msl.chat_with_me) == (1, True)
    assert (as_rep.chat_consents, as_rep.chat_with_me) == (1, False)
    assert row_of(roster.roster_page(rep), world["adams"]).chat_consents == 0


def test_channels_are_the_hcps_choice_or_the_company_defaults(app, world):
    cole = world["cole"]
    preferences.save(cole, preferences.PreferencesInput(channels=["email", "phone"]))
    preferences.save(
        world["adams"], preferences.PreferencesInput(channels=["portal"], pause_weeks=2)
    )
    page = roster.roster_page(world["rep"])
    assert row_of(page, cole).channels == [ContactChannel.EMAIL, ContactChannel.PHONE]
    assert row_of(page, cole).paused_until is None
    assert row_of(page, world["adams"]).paused_until is not None
    defaults = app.config["CONTACT_DEFAULT_CHANNELS"].split()
    assert [c.value for c in row_of(page, world["baker"]).channels] == [
        c.value for c in ContactChannel if c.value in defaults
    ]


def test_last_contact_names_a_colleague_of_my_side_and_only_the_team_across_the_firewall(world):
    cole, adams, rep, msl = world["cole"], world["adams"], world["rep"], world["msl"]
    touch(rep, cole, NOW - 5 * DAY)
    touch(msl, cole, NOW - 2 * DAY)  # the latest: the MSL's
    touch(rep, adams, NOW - 1 * DAY)
    as_rep = roster.roster_page(world["market_access"])
    last = row_of(as_rep, cole).last_contact
    assert last is not None and last.staff_name is None and last.team == "MSL team"
    assert abs(last.at - (NOW - 2 * DAY)) < dt.timedelta(seconds=1)
    assert row_of(as_rep, adams).last_contact.staff_name == "Jordan Lee"
    # Medical roles may read the commercial side.
    as_msl = roster.roster_page(msl)
    assert row_of(as_msl, adams).last_contact.staff_name == "Jordan Lee"
    assert row_of(as_msl, world["baker"]).last_contact is None


def test_the_page_shows_the_other_sides_contact_as_team_and_date_only(client, world):
    touch(world["msl"], world["cole"], NOW - 2 * DAY)
    login(client, world["rep"].email)
    html = client.get("/hcps/").get_data(as_text=True)
    assert "Morgan Reyes" not in html
    assert "MSL team" in html


def test_open_questions_count_medical_ones_for_a_rep_too(world):
    cole = world["cole"]
    ask(cole, category="dosing", text="Is the dose different in renal impairment?")
    ask(cole, category="samples", text="Could I get samples for my clinic?")
    row = row_of(roster.roster_page(world["rep"]), cole)
    assert row.open_questions == 2
    assert row_of(roster.roster_page(world["rep"]), world["adams"]).open_questions == 0


def test_engagement_counts_views_and_downloads_of_the_last_30_days(world):
    cole = world["cole"]
    opened(cole, NOW - 3 * DAY, times=3)
    opened(cole, NOW - 45 * DAY, times=5)  # too old
    assert row_of(roster.roster_page(world["rep"]), cole).engagement == 3


# --- filters and search --------------------------------------------------------------------------
def test_filter_by_specialty(world):
    page = roster.roster_page(world["rep"], RosterFilters(specialty="Oncology"))
    assert names(page) == ["Dr. Blake Adams"]
    assert roster.specialties(world["rep"]) == ["Cardiology", "Oncology"]


@pytest.mark.parametrize(
    ("chat", "expected"),
    [(True, ["Dr. Avery Cole"]), (False, ["Dr. Blake Adams", "Dr. Casey Baker"])],
)
def test_filter_opted_in_to_chat(world, chat, expected):
    active_conversation(world["cole"], world["msl"])
    assert names(roster.roster_page(world["rep"], RosterFilters(chat=chat))) == expected


def test_a_withdrawn_chat_consent_no_longer_counts_as_opted_in(world):
    from chat import consent

    conversation = active_conversation(world["cole"], world["msl"])
    consent.end_chat(world["cole"], conversation.id)
    assert names(roster.roster_page(world["rep"], RosterFilters(chat=True))) == []


@pytest.mark.parametrize(
    ("contacted", "expected"),
    [(True, ["Dr. Avery Cole"]), (False, ["Dr. Blake Adams", "Dr. Casey Baker"])],
)
def test_filter_contacted_in_the_last_30_days(world, contacted, expected):
    touch(world["msl"], world["cole"], NOW - 3 * DAY)
    touch(world["rep"], world["baker"], NOW - 31 * DAY)  # before the window
    page = roster.roster_page(world["rep"], RosterFilters(contacted=contacted))
    assert names(page) == expected


def test_search_by_exact_npi(world):
    npi = world["adams"].hcp_profile.npi
    assert names(roster.roster_page(world["rep"], RosterFilters(search=npi))) == ["Dr. Blake Adams"]
    # Part of an NPI is not an NPI.
    assert names(roster.roster_page(world["rep"], RosterFilters(search=npi[:6]))) == []


@pytest.mark.parametrize("term", ["baker", "BAKER", "Casey B", "  asey  "])
def test_search_by_part_of_the_name_in_any_case(world, term):
    assert names(roster.roster_page(world["rep"], RosterFilters(search=term))) == [
        "Dr. Casey Baker"
    ]


def test_search_treats_wildcards_as_text(world):
    assert names(roster.roster_page(world["rep"], RosterFilters(search="%"))) == []
    assert names(roster.roster_page(world["rep"], RosterFilters(search="_"))) == []


def test_filters_combine_and_reach_the_page(client, world):
    active_conversation(world["cole"], world["msl"])
    login(client, world["rep"].email)
    html = client.get("/hcps/?specialty=Cardiology&chat=no").get_data(as_text=True)
    assert "Dr. Casey Baker" in html
    assert "Dr. Avery Cole" not in html and "Dr. Blake Adams" not in html
    npi = world["cole"].hcp_profile.npi
    html = client.get(f"/hcps/?q={npi}").get_data(as_text=True)
    assert "Dr. Avery Cole" in html and "Dr. Casey Baker" not in html


@pytest.mark.parametrize(
    "query", ["?sort=nonsense", "?chat=maybe", "?contacted=1", "?dir=sideways", "?q=" + "x" * 500]
)
def test_odd_query_strings_fall_back_to_defaults(client, world, query):
    login(client, world["rep"].email)
    assert client.get("/hcps/" + query).status_code == 200


# --- sorting and paging --------------------------------------------------------------------------
def test_sort_by_name_both_ways(world):
    rep = world["rep"]
    down = roster.roster_page(rep, RosterFilters(sort=RosterSort.NAME, descending=True))
    assert names(down) == ["Dr. Casey Baker", "Dr. Blake Adams", "Dr. Avery Cole"]


def test_sort_by_last_contact_never_contacted_counts_as_longest_ago(world):
    rep = world["rep"]
    touch(rep, world["cole"], NOW - 10 * DAY)
    touch(rep, world["adams"], NOW - 1 * DAY)
    oldest_first = roster.roster_page(rep, RosterFilters(sort=RosterSort.LAST_CONTACT))
    assert names(oldest_first) == ["Dr. Casey Baker", "Dr. Avery Cole", "Dr. Blake Adams"]
    newest_first = roster.roster_page(
        rep, RosterFilters(sort=RosterSort.LAST_CONTACT, descending=True)
    )
    assert names(newest_first) == ["Dr. Blake Adams", "Dr. Avery Cole", "Dr. Casey Baker"]


def test_sort_by_engagement(world):
    rep = world["rep"]
    opened(world["adams"], NOW - DAY, times=4)
    opened(world["baker"], NOW - DAY, times=2)
    most = roster.roster_page(rep, RosterFilters(sort=RosterSort.ENGAGEMENT, descending=True))
    assert names(most) == ["Dr. Blake Adams", "Dr. Casey Baker", "Dr. Avery Cole"]
    least = roster.roster_page(rep, RosterFilters(sort=RosterSort.ENGAGEMENT))
    assert names(least) == ["Dr. Avery Cole", "Dr. Casey Baker", "Dr. Blake Adams"]


def test_paging_reads_one_page_at_a_time(world):
    rep = world["rep"]
    first = roster.roster_page(rep, page=1, page_size=2)
    second = roster.roster_page(rep, page=2, page_size=2)
    assert (first.total, first.pages) == (3, 2)
    assert names(first) == ["Dr. Avery Cole", "Dr. Blake Adams"]
    assert names(second) == ["Dr. Casey Baker"]


def test_page_links_keep_the_filters(client, world):
    for n in range(roster.PAGE_SIZE + 1):
        make_hcp(territory=world["territory"], name=f"Dr. Zed {n:02d}", specialty="Oncology")
    login(client, world["rep"].email)
    html = client.get("/hcps/?specialty=Oncology&sort=engagement&dir=desc").get_data(as_text=True)
    assert 'data-testid="roster-pages"' in html
    assert "page=2" in html and "specialty=Oncology" in html and "sort=engagement" in html
    second = client.get("/hcps/?specialty=Oncology&page=2").get_data(as_text=True)
    assert second.count('data-testid="roster-row"') == roster.PAGE_SIZE + 2 - roster.PAGE_SIZE


# --- cost ----------------------------------------------------------------------------------------
@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _busy_territory(world: dict[str, Any], hcps: int) -> None:
    """``hcps`` more HCPs, each contacted, reading, asking and chatting."""
    rep, msl = world["rep"], world["msl"]
    for n in range(hcps):
        hcp = make_hcp(territory=world["territory"], name=f"Dr. Busy {n:03d}")
        touch(rep if n % 2 else msl, hcp, NOW - (n % 40) * DAY)
        opened(hcp, NOW - DAY, times=n % 3 + 1)
        if n % 4 == 0:
            active_conversation(hcp, msl)
        if n % 5 == 0:
            ask(hcp, category="dosing")


@pytest.mark.parametrize("sort", list(RosterSort))
def test_a_roster_page_costs_the_same_statements_with_few_or_many_hcps(app, world, sort):
    rep = world["rep"]
    filters = RosterFilters(sort=sort, descending=True)
    touch(world["msl"], world["cole"], NOW - DAY)
    db.session.expire_all()
    with statements(app) as few:
        small = roster.roster_page(rep, filters, page_size=10)
    _busy_territory(world, 30)
    db.session.expire_all()
    with statements(app) as many:
        big = roster.roster_page(rep, filters, page_size=10)
    assert len(big.items) == 10 and big.total == 33 and small.total == 3
    # The viewer and their territories (read afresh), then the count, the page, the page's
    # figures and its last contacts.
    assert len(many) == len(few) <= 6, "\n".join(s[:120] for s in many)


def test_the_roster_page_stays_within_a_statement_budget(app, client, world):
    _busy_territory(world, 30)
    login(client, world["rep"].email)
    client.get("/hcps/?sort=last_contact")
    with statements(app) as seen:
        response = client.get("/hcps/?sort=last_contact&dir=desc")
    assert response.status_code == 200
    # Eight today (session, territories, count, page, figures, last contacts, specialties,
    # badges); the budget every main page keeps (tests/portal/test_page_statements.py).
    assert len(seen) <= BUDGET, "\n".join(s[:100] for s in seen)


def test_the_count_of_rows_matches_the_database(world):
    _busy_territory(world, 12)
    total = db.session.scalar(select(func.count()).select_from(User).where(User.role == Role.HCP))
    assert roster.roster_page(world["rep"]).total == total - 1  # all but the far HCP
