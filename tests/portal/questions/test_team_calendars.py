"""Team calendars: a question's due time skips the public holidays of the country of the team that
owns it (from the ``holidays`` package), plus the company days administrators list."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import func, select

from portal.errors import InvalidInput, PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Role, TeamKey
from portal.questions import settings
from portal.questions.calendar import BusinessCalendar, public_holiday_names
from portal.questions.models import QUEUE_TEAMS, Holiday
from portal.safety import services as safety
from portal.services import demo
from tests.conftest import login
from tests.factories import make_hcp, make_territory, make_user, team
from tests.portal.questions.factories import ask, pv_cases_of

MI = TeamKey.MEDICAL_INFORMATION
PV = TeamKey.PHARMACOVIGILANCE
# Wednesday 25 November 2026, 15:00 in New York: the day before Thanksgiving.
BEFORE_THANKSGIVING = dt.datetime(2026, 11, 25, 20, 0, tzinfo=dt.UTC)
# Thursday 24 December 2026, 10:00 in Berlin: the day before Christmas Day (25 and 26 December
# are public holidays in Germany).
CHRISTMAS_EVE_BERLIN = dt.datetime(2026, 12, 24, 9, 0, tzinfo=dt.UTC)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def set_calendar(key: TeamKey, country: str | None, timezone: str | None = None) -> None:
    found = team(key)
    found.country, found.timezone = country, timezone
    db.session.commit()


@pytest.fixture
def hcp(app):
    return make_hcp(territory=make_territory(code="US-NE"))


@pytest.fixture
def mi(app):
    return make_user(Role.MEDICAL_INFORMATION, name="Mina Information")


@pytest.fixture
def admin(app):
    return make_user(Role.ADMIN, name="Alex Admin")


# --- the calendar --------------------------------------------------------------------------------
def test_a_country_calendar_knows_its_public_holidays_in_any_year():
    us = BusinessCalendar(country="US")
    assert not us.is_business_day(dt.date(2026, 11, 26))  # Thanksgiving
    assert not us.is_business_day(dt.date(2031, 11, 27))  # Thanksgiving, years ahead
    assert us.is_business_day(dt.date(2026, 11, 25))
    assert BusinessCalendar().is_business_day(dt.date(2026, 11, 26))  # no country, no holiday


def test_company_days_count_on_a_country_calendar():
    us = BusinessCalendar(country="US", holidays={dt.date(2026, 11, 27)})
    assert not us.is_business_day(dt.date(2026, 11, 27))


def test_an_unknown_country_is_refused():
    with pytest.raises(ValueError, match="no public holiday calendar"):
        BusinessCalendar(country="XX")


def test_public_holiday_names_are_listed_in_date_order():
    assert public_holiday_names("DE", dt.date(2026, 12, 1), dt.date(2026, 12, 31)) == [
        (dt.date(2026, 12, 25), "Christmas Day"),
        (dt.date(2026, 12, 26), "Second Day of Christmas"),
    ]


# --- due times -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("country", "due"),
    [
        # Two business days (16 h) from Wednesday 15:00: 2 h Wednesday, Thursday is Thanksgiving,
        # 8 h Friday, 6 h Monday: Monday 15:00 New York.
        ("US", utc(2026, 11, 30, 20, 0)),
        # A team without a country runs on the company calendar: Friday 15:00.
        (None, utc(2026, 11, 27, 20, 0)),
    ],
)
def test_a_us_team_question_asked_before_thanksgiving_is_due_after_it(hcp, mi, country, due):
    set_calendar(MI, country)
    question = ask(hcp, now=BEFORE_THANKSGIVING)
    assert question.owner_team is MI
    assert question.due_at == due


@pytest.mark.parametrize(
    ("country", "due"),
    [
        # 16 h from Thursday 10:00 Berlin: 7 h Thursday, Christmas on Friday, the weekend, 8 h
        # Monday, 1 h Tuesday: Tuesday 29 December 10:00 Berlin.
        ("DE", utc(2026, 12, 29, 9, 0)),
        # Without the country: 7 h Thursday, 8 h Friday, 1 h Monday.
        (None, utc(2026, 12, 28, 9, 0)),
    ],
)
def test_a_german_team_question_skips_german_public_holidays(app, mi, country, due):
    set_calendar(MI, country, "Europe/Berlin")
    hcp = make_hcp(territory=make_territory(code="DE", country="DE"))
    question = ask(hcp, now=CHRISTMAS_EVE_BERLIN)
    assert question.due_at == due


def test_a_company_day_still_counts_for_a_team_with_a_country(hcp, mi):
    set_calendar(MI, "US")
    db.session.add(Holiday(day=dt.date(2026, 11, 27), name="Company day"))
    db.session.commit()
    question = ask(hcp, now=BEFORE_THANKSGIVING)
    # Thanksgiving and the company day after it: 2 h Wednesday, 8 h Monday, 6 h Tuesday.
    assert question.due_at == utc(2026, 12, 1, 20, 0)


def test_the_pv_case_runs_on_pharmacovigilances_calendar(hcp, mi):
    set_calendar(PV, "US")  # Medical Information keeps the company calendar
    make_user(Role.PHARMACOVIGILANCE)
    question = ask(hcp, now=BEFORE_THANKSGIVING, text="My patient was hospitalised after a dose.")
    [case] = pv_cases_of(question)
    assert question.due_at == utc(2026, 11, 27, 20, 0)  # two days, company calendar
    assert case.due_at == utc(2026, 11, 27, 20, 0)  # one day, Thanksgiving skipped
    assert safety.adverse_event_due_at(BEFORE_THANKSGIVING) == case.due_at
    set_calendar(PV, None)
    assert safety.adverse_event_due_at(BEFORE_THANKSGIVING) == utc(2026, 11, 26, 20, 0)


def test_the_demo_teams_skip_us_public_holidays(app):
    demo.seed_demo()
    assert {team(key).country for key in TeamKey} == {"US"}
    with time_machine.travel(BEFORE_THANKSGIVING, tick=False):
        hcp = make_hcp(territory=make_territory(code="US-T1"))
        make_user(Role.MEDICAL_INFORMATION)
        question = ask(hcp)
    assert question.due_at == utc(2026, 11, 30, 20, 0)


# --- administration ------------------------------------------------------------------------------
def audit_count(action: str) -> int:
    query = select(func.count()).select_from(AuditRecord).where(AuditRecord.action == action)
    return db.session.scalar(query) or 0


def test_team_calendars_list_each_answering_team_with_its_coming_public_holidays(admin):
    set_calendar(MI, "US")
    rows = {row.key: row for row in settings.list_team_calendars(admin, today=dt.date(2026, 11, 2))}
    assert set(rows) == set(QUEUE_TEAMS)
    assert rows[MI].country_name == "United States"
    assert (dt.date(2026, 11, 26), "Thanksgiving Day") in rows[MI].upcoming
    assert rows[TeamKey.MSL].country is None
    assert rows[TeamKey.MSL].upcoming == []


def test_admin_sets_a_teams_calendar_and_it_is_audited(admin):
    row = settings.set_team_calendar(admin, "msl", country="de", timezone=" Europe/Berlin ")
    assert (row.country, row.timezone, row.country_name) == ("DE", "Europe/Berlin", "Germany")
    assert (team(TeamKey.MSL).country, team(TeamKey.MSL).timezone) == ("DE", "Europe/Berlin")
    assert audit_count("team.calendar_changed") == 1

    settings.set_team_calendar(admin, "msl", country="DE", timezone="Europe/Berlin")
    assert audit_count("team.calendar_changed") == 1  # nothing changed, nothing recorded

    settings.set_team_calendar(admin, "msl", country="", timezone="")
    assert (team(TeamKey.MSL).country, team(TeamKey.MSL).timezone) == (None, None)
    assert audit_count("team.calendar_changed") == 2


@pytest.mark.parametrize(
    ("team_key", "country", "timezone", "fields"),
    [
        ("msl", "XX", None, {"country"}),
        ("msl", "US", "Mars/Olympus", {"timezone"}),
        ("content", "US", None, {"team"}),  # not an answering team
        ("nobody", "ZZ", "nowhere", {"team", "country", "timezone"}),
    ],
)
def test_a_bad_team_calendar_is_refused_and_changes_nothing(
    admin, team_key, country, timezone, fields
):
    with pytest.raises(InvalidInput) as refused:
        settings.set_team_calendar(admin, team_key, country=country, timezone=timezone)
    assert set(refused.value.errors) == fields
    assert team(TeamKey.MSL).country is None
    assert audit_count("team.calendar_changed") == 0


def test_compliance_cannot_set_a_teams_calendar(app):
    with pytest.raises(PermissionDenied):
        settings.set_team_calendar(make_user(Role.COMPLIANCE), "msl", country="US", timezone=None)
    assert team(TeamKey.MSL).country is None


def test_holidays_page_lists_team_calendars_and_admin_changes_one(client, app):
    user = make_user(Role.ADMIN)
    login(client, user.email)
    set_calendar(MI, "US")
    text = client.get("/admin/routing/holidays").get_data(as_text=True)
    assert "Public holidays come from each team" in text
    assert "United States" in text
    assert 'action="/admin/routing/holidays/team"' in text

    response = client.post(
        "/admin/routing/holidays/team",
        data={"team": "msl", "country": "FR", "timezone": "Europe/Paris"},
        follow_redirects=True,
    )
    assert "MSL team: due times skip the public holidays of France." in response.get_data(
        as_text=True
    )
    assert (team(TeamKey.MSL).country, team(TeamKey.MSL).timezone) == ("FR", "Europe/Paris")


def test_a_bad_time_zone_is_shown_on_the_teams_form(client, app):
    user = make_user(Role.ADMIN)
    login(client, user.email)
    response = client.post(
        "/admin/routing/holidays/team",
        data={"team": "msl", "country": "FR", "timezone": "Paris"},
    )
    assert response.status_code == 200
    assert "Give an IANA time zone such as Europe/Berlin" in response.get_data(as_text=True)
    assert team(TeamKey.MSL).country is None


def test_compliance_sees_team_calendars_without_a_form(client, app):
    user = make_user(Role.COMPLIANCE)
    login(client, user.email)
    set_calendar(MI, "DE")
    text = client.get("/admin/routing/holidays").get_data(as_text=True)
    assert "Germany" in text
    assert "/admin/routing/holidays/team" not in text
