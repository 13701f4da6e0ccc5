"""Computed dashboards are kept and served while fresh, per sides and language, and the worker
keeps the default views warm (portal/insights/results.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import time_machine

from portal import jobs
from portal.extensions import db
from portal.insights import results
from portal.insights.models import InsightResult
from portal.models import Role
from tests.factories import make_hcp, make_user
from tests.portal.helpers import signed_in
from tests.portal.insights.test_page import APRIL, at, lead, two_questions
from tests.portal.questions.factories import ask

NOON = dt.datetime(2026, 4, 20, 16, tzinfo=dt.UTC)  # a Monday, after APRIL's range


def _categories(client, **args):
    answer = client.get("/insights/questions/categories.csv", query_string={**APRIL, **args})
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    return rows[1:]


def _total(rows):
    return sum(int(row[-1]) for row in rows)  # the weeks' "Total" column


def test_a_computed_dashboard_is_served_until_it_is_older_than_its_age(app):
    two_questions()
    with time_machine.travel(NOON, tick=False):
        client = signed_in(app, make_user(Role.ADMIN))
        assert _total(_categories(client)) == 2
        ask(make_hcp(), now=at(8, 10), category="dosing")
        db.session.commit()
        # Within INSIGHTS_MAX_AGE_MINUTES the kept figures are served (the page says when).
        assert _total(_categories(client)) == 2
        page = client.get("/insights/questions", query_string=APRIL).get_data(as_text=True)
        assert 'data-testid="computed-at"' in page
    minutes = app.config["INSIGHTS_MAX_AGE_MINUTES"]
    with time_machine.travel(NOON + dt.timedelta(minutes=minutes, seconds=1), tick=False):
        assert _total(_categories(client)) == 3


def test_figures_are_kept_per_side_of_the_firewall(app):
    two_questions()
    with time_machine.travel(NOON, tick=False):
        admin = signed_in(app, make_user(Role.ADMIN))
        rep_lead = signed_in(app, lead(Role.REP))
        assert _total(_categories(admin)) == 2
        # The commercial lead's request right after is not served the administrator's figures.
        assert _total(_categories(rep_lead)) == 1
        assert _total(_categories(admin)) == 2
    assert db.session.query(InsightResult).count() == 2


def test_figures_are_kept_per_language(app):
    two_questions()
    german_user = make_user(Role.ADMIN)
    german_user.locale = "de"
    db.session.commit()
    with time_machine.travel(NOON, tick=False):
        english = signed_in(app, make_user(Role.ADMIN))
        german = signed_in(app, german_user)
        english_page = english.get("/insights/questions", query_string=APRIL)
        german_page = german.get("/insights/questions", query_string=APRIL)
    assert "Questions per week, by category" in english_page.get_data(as_text=True)
    assert "Questions per week, by category" not in german_page.get_data(as_text=True)
    assert db.session.query(InsightResult).count() == 2


def test_the_worker_keeps_every_viewers_default_dashboards_warm(app):
    make_user(Role.ADMIN)
    lead(Role.REP)
    lead(Role.MSL)
    make_user(Role.MSL)  # not a lead: no dashboards of their own
    with time_machine.travel(NOON, tick=False):
        computed = results.refresh()
        # Administrators (every side: five dashboards), a commercial lead (four: no safety), a
        # medical lead (five).
        assert computed == 5 + 4 + 5
        assert db.session.query(InsightResult).count() == 14
        # Fresh results are left alone by the next round, unless forced.
        assert results.refresh() == 0
        assert results.refresh(force=True) == 14
    later = NOON + dt.timedelta(minutes=app.config["INSIGHTS_REFRESH_MINUTES"])
    with time_machine.travel(later, tick=False):
        assert results.refresh() == 14
    # Results older than a day are dropped.
    with time_machine.travel(later + dt.timedelta(days=2), tick=False):
        db.session.add(
            InsightResult(key="old", dashboard="content", computed_at=later, seconds=0.0, panels=[])
        )
        db.session.commit()
        results.refresh()
        assert db.session.get(InsightResult, "old") is None


def test_the_refresh_is_a_periodic_job_and_a_command(app):
    kind = jobs._kinds(app)["insights.refresh"]
    assert kind.every == dt.timedelta(minutes=app.config["INSIGHTS_REFRESH_MINUTES"])
    make_user(Role.ADMIN)
    with time_machine.travel(NOON, tick=False):
        answer = app.test_cli_runner().invoke(args=["insights", "refresh"])
    assert answer.exit_code == 0, answer.output
    printed = json.loads(answer.output)
    assert printed["computed"] == 5 and set(printed) == {"computed", "seconds"}
