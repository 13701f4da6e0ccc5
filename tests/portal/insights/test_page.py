"""The /insights pages: who sees which dashboard, the filters, bad input, the CSV, the firewall."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import pytest

from content.models import EventKind, MaterialEvent
from portal.extensions import db
from portal.insights import views
from portal.models import Role
from portal.questions.models import Category, TeamKey
from tests.content.factories import make_material
from tests.factories import make_hcp, make_user
from tests.portal.helpers import signed_in
from tests.portal.questions.factories import ask

NY = ZoneInfo("America/New_York")
APRIL = {"since": "2026-04-06", "until": "2026-04-19"}
DASHBOARD_KEYS = ["content", "questions", "safety", "engagement", "adoption"]


def lead(role: Role):
    user = make_user(role)
    user.memberships[0].is_lead = True
    db.session.commit()
    return user


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 4, day, hour, tzinfo=NY).astimezone(dt.UTC)


def two_questions():
    """A medical and a commercial question received in April's first week."""
    hcp = make_hcp()
    medical = ask(hcp, now=at(6, 10), category="dosing")
    commercial = ask(hcp, now=at(7, 10), category="samples")
    medical.category, medical.owner_team = Category.DOSING, TeamKey.MEDICAL_INFORMATION
    commercial.category, commercial.owner_team = Category.SAMPLES, TeamKey.SALES
    db.session.commit()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE])
def test_administrators_and_compliance_see_every_dashboard_and_the_menu_link(app, role):
    client = signed_in(app, make_user(role))
    page = client.get("/insights/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.findall(r'data-testid="dashboard-(\w+)"', html) == DASHBOARD_KEYS
    assert 'data-testid="nav-insights"' in html


def test_staff_who_lead_no_team_and_hcps_find_nothing(app):
    make_material(direct=True)
    for user in (make_user(Role.REP), make_user(Role.MSL), make_hcp()):
        client = signed_in(app, user)
        for url in ("/insights/", "/insights/content", "/insights/content/weekly.csv"):
            assert client.get(url).status_code == 404, (user.role, url)
        assert 'data-testid="nav-insights"' not in client.get("/").get_data(as_text=True)


def test_a_team_lead_sees_the_dashboards(app):
    client = signed_in(app, lead(Role.REP))
    assert client.get("/insights/").status_code == 200
    assert client.get("/insights/questions").status_code == 200


def test_unknown_dashboard_or_panel_is_not_found(app):
    client = signed_in(app, make_user(Role.ADMIN))
    assert client.get("/insights/nothing").status_code == 404
    assert client.get("/insights/content/nothing.csv").status_code == 404
    assert client.get("/insights/nothing/weekly.csv").status_code == 404


def test_default_range_is_the_last_twelve_weeks_up_to_today(app):
    client = signed_in(app, make_user(Role.ADMIN))
    html = client.get("/insights/content").get_data(as_text=True)
    since, until = views.default_range(views.today())
    assert (until - since).days == 11 * 7 + until.weekday()
    assert since.weekday() == 0
    assert f'name="since" value="{since.isoformat()}"' in html
    assert f'name="until" value="{until.isoformat()}"' in html
    assert len(re.findall(r'data-testid="weekly-row"|<tr><td>\d{4}-\d{2}-\d{2}</td>', html)) == 12


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"since": "2026-13-01"}, "since", "Give a date as YYYY-MM-DD."),
        ({"until": "yesterday"}, "until", "Give a date as YYYY-MM-DD."),
        ({"since": "2026-04-10", "until": "2026-04-09"}, "since", "must not be after"),
        ({"since": "9999-12-20", "until": "9999-12-31"}, "since", "between 2000 and 2100"),
        ({"since": "0001-01-01", "until": "0001-01-02"}, "since", "between 2000 and 2100"),
        ({"product": "\u00b2"}, "product", "Choose a product"),
        ({"since": "2025-01-01", "until": "2026-01-06"}, "since", "at most 370 days"),
        ({"product": "abc"}, "product", "Choose a product from the list."),
        ({"product": str(2**40)}, "product", "Choose a product from the list."),
        ({"product": "2147483646"}, "product", "Choose a product from the list."),
    ],
)
def test_bad_filters_show_the_page_with_the_error(app, args, field, message):
    client = signed_in(app, make_user(Role.ADMIN))
    page = client.get("/insights/questions", query_string=args)
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert f'data-testid="error-{field}"' in html and message in html
    assert 'data-testid="panel-' not in html  # no figures for a range that makes no sense
    csv_answer = client.get("/insights/questions/categories.csv", query_string=args)
    assert csv_answer.status_code == 400 and message in csv_answer.get_data(as_text=True)


def test_a_range_of_370_days_is_accepted(app):
    client = signed_in(app, make_user(Role.ADMIN))
    page = client.get(
        "/insights/content", query_string={"since": "2025-01-01", "until": "2026-01-05"}
    )
    assert page.status_code == 200


def test_each_panel_has_a_chart_its_table_and_a_csv_link_without_inline_script(app):
    hcp = make_hcp()
    material = make_material(direct=True, title="Titration guide")
    db.session.add(MaterialEvent(material_id=material.id, family_id=material.family_id,
                                 user_id=hcp.id, kind=EventKind.VIEW, at=at(7, 12)))  # fmt: skip
    db.session.commit()
    client = signed_in(app, make_user(Role.ADMIN))
    html = client.get("/insights/content", query_string=APRIL).get_data(as_text=True)
    assert 'data-insight-chart="data-weekly"' in html
    assert '<script type="application/json" id="data-weekly">' in html
    assert 'data-testid="table-weekly"' in html
    assert "/insights/content/weekly.csv?since=2026-04-06&amp;until=2026-04-19" in html
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert "vendor/chartjs/chart.umd.min.js" in html and "js/insights.js" in html
    assert " style=" not in html


def test_csv_has_the_labels_and_plain_numbers(app):
    two_questions()
    client = signed_in(app, make_user(Role.ADMIN))
    answer = client.get("/insights/questions/outcomes.csv", query_string=APRIL)
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert rows[0] == ["Week of", "Received", "Past due", "SLA breach rate", "Answers rated",
                       "Found helpful", "Rerouted"]  # fmt: skip
    assert rows[1][:2] == ["2026-04-06", "2"] and rows[1][6] == "0.0"
    assert rows[2] == ["2026-04-13", "0", "0", "", "0", "", ""]


def test_a_commercial_lead_never_sees_medical_figures(app):
    two_questions()
    client = signed_in(app, lead(Role.REP))
    html = client.get("/insights/questions", query_string=APRIL).get_data(as_text=True)
    assert "Dosing and administration" not in html and "Medical Information" not in html
    rows = list(csv.reader(io.StringIO(
        client.get("/insights/questions/categories.csv", query_string=APRIL).get_data(as_text=True)
    )))  # fmt: skip
    assert rows[0] == ["Week of", "Samples and supply",
                       "Coverage, reimbursement, patient support", "Other", "Total"]  # fmt: skip
    assert rows[1] == ["2026-04-06", "1", "0", "0", "1"]
    outcomes = client.get("/insights/questions/outcomes.csv", query_string=APRIL)
    assert "Rerouted" not in outcomes.get_data(as_text=True)


def test_a_medical_lead_counts_both_sides(app):
    two_questions()
    client = signed_in(app, lead(Role.MEDICAL_INFORMATION))
    rows = list(csv.reader(io.StringIO(
        client.get("/insights/questions/categories.csv", query_string=APRIL).get_data(as_text=True)
    )))  # fmt: skip
    assert rows[1][0] == "2026-04-06" and rows[1][-1] == "2"
