"""The Questions dashboard's figures, from questions seeded with known times (exact figures)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.insights import questions as board
from portal.insights.panels import Filters, Viewer
from portal.models import Role, Side, TeamKey
from portal.questions import work
from portal.questions.models import Category, Question, QuestionEvent, QuestionEventKind
from portal.questions.models import QuestionStatus as S
from tests.factories import make_hcp, make_product, make_user
from tests.portal.questions.factories import NOTHING, ask

NY = ZoneInfo("America/New_York")
EVERYONE = Viewer(frozenset({Side.COMMERCIAL, Side.MEDICAL}))
COMMERCIAL = Viewer(frozenset({Side.COMMERCIAL}))
MEDICAL = Viewer(frozenset({Side.MEDICAL}))
# Two weeks away from any daylight-saving change: Monday 6 to Sunday 19 April 2026.
RANGE = Filters(since=dt.date(2026, 4, 6), until=dt.date(2026, 4, 19))


def at(day: int, hour: int, month: int = 4) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=NY).astimezone(dt.UTC)


def seed(
    hcp, received, category, team, *, first=None, close=None, helpful=None, late=False,
    status=S.ANSWERED, product=None, off_label=False, rerouted=False,
) -> Question:  # fmt: skip
    """A question received at ``received`` with the given outcome written into its columns."""
    q = ask(hcp, now=received, product=product)
    q.category, q.owner_team, q.off_label_flag, q.status = category, team, off_label, status
    q.due_at = received + dt.timedelta(hours=1 if late else 24)
    if first is not None:
        q.first_response_at = received + dt.timedelta(hours=2)
        q.first_response_business_minutes = first
    if close is not None:
        q.closed_at = received + dt.timedelta(hours=3)
        q.close_business_minutes = close
    q.helpful = helpful
    if rerouted:
        db.session.add(QuestionEvent(question=q, kind=QuestionEventKind.REROUTED, at=received))
    db.session.commit()
    return q


def world():
    hcp, product = make_hcp(), make_product(name="Cardiozan")
    mi, sales, access = TeamKey.MEDICAL_INFORMATION, TeamKey.SALES, TeamKey.MARKET_ACCESS
    seed(hcp, at(6, 10), Category.DOSING, mi, first=60, close=480, helpful=True,
         status=S.CLOSED, product=product)  # fmt: skip
    seed(hcp, at(7, 11), Category.CLINICAL, mi, first=120, helpful=False, late=True)
    seed(hcp, at(8, 12), Category.SAMPLES, sales, first=30, close=90, helpful=True,
         status=S.CLOSED, product=product)  # fmt: skip
    seed(hcp, at(13, 10), Category.ACCESS, access, late=True, status=S.RECEIVED)  # still waiting
    seed(hcp, at(14, 10), Category.SAMPLES, mi, first=240, off_label=True, rerouted=True)
    seed(hcp, at(20, 10), Category.SAMPLES, sales, first=1000, late=True)  # after the range
    return product


def panel(viewer, key, filters=RANGE):
    return next(p for p in board.build(viewer, filters) if p.key == key)


def test_volume_per_week_by_category_team_and_product(app):
    world()
    categories = panel(EVERYONE, "categories").rows
    keys = ("week", "dosing", "clinical", "samples", "access", "total")
    assert [tuple(r[k] for k in keys) for r in categories] == [
        ("2026-04-06", 1, 1, 1, 0, 3),
        ("2026-04-13", 0, 0, 1, 1, 2),
    ]
    teams = panel(EVERYONE, "teams").rows
    assert [(r["medical_information"], r["sales"], r["market_access"]) for r in teams] == [
        (2, 1, 0),
        (1, 0, 1),
    ]
    assert panel(EVERYONE, "products").rows == [
        {"product": "No product", "questions": 3},
        {"product": "Cardiozan", "questions": 2},
    ]


def test_response_and_close_times_median_and_90th_percentile_in_business_hours(app):
    world()
    assert panel(EVERYONE, "times").rows == [
        # 30, 60, 120, 240 minutes: nearest rank 2 of 4 and 4 of 4.
        {"measure": "First response", "questions": 4, "median": 1.0, "p90": 4.0},
        {"measure": "Close", "questions": 2, "median": 1.5, "p90": 8.0},
    ]


def test_sla_breaches_reroutes_and_helpfulness_per_week(app):
    world()
    assert panel(EVERYONE, "outcomes").rows == [
        {"week": "2026-04-06", "received": 3, "breached": 1, "breach_pct": 33.3,
         "rated": 3, "helpful_pct": 66.7, "rerouted_pct": 0.0},
        {"week": "2026-04-13", "received": 2, "breached": 1, "breach_pct": 50.0,
         "rated": 0, "helpful_pct": None, "rerouted_pct": 50.0},
    ]  # fmt: skip


def test_product_filter_counts_that_products_questions_only(app):
    product = world()
    filters = Filters(since=RANGE.since, until=RANGE.until, product_id=product.id)
    assert [r["total"] for r in panel(EVERYONE, "categories", filters).rows] == [2, 0]
    assert panel(EVERYONE, "times", filters).rows[0] == {
        "measure": "First response", "questions": 2, "median": 0.5, "p90": 1.0,
    }  # fmt: skip


def test_commercial_viewer_counts_commercial_questions_only_and_never_lists_medical(app):
    world()
    categories = panel(COMMERCIAL, "categories")
    assert [c.key for c in categories.columns] == ["week", "samples", "access", "other", "total"]
    assert [r["total"] for r in categories.rows] == [1, 1]
    assert [c.key for c in panel(COMMERCIAL, "teams").columns] == [
        "week", "sales", "market_access", "total",
    ]  # fmt: skip
    assert panel(COMMERCIAL, "products").rows == [
        {"product": "Cardiozan", "questions": 1},
        {"product": "No product", "questions": 1},
    ]
    assert panel(COMMERCIAL, "times").rows == [
        {"measure": "First response", "questions": 1, "median": 0.5, "p90": 0.5},
        {"measure": "Close", "questions": 1, "median": 1.5, "p90": 1.5},
    ]
    assert panel(COMMERCIAL, "outcomes").rows == [
        {"week": "2026-04-06", "received": 1, "breached": 0, "breach_pct": 0.0,
         "rated": 1, "helpful_pct": 100.0},
        {"week": "2026-04-13", "received": 1, "breached": 1, "breach_pct": 100.0,
         "rated": 0, "helpful_pct": None},
    ]  # fmt: skip


def test_medical_viewer_counts_every_question(app):
    # PRODUCT.md: medical roles may see commercial interactions.
    world()
    assert board.build(MEDICAL, RANGE) == board.build(EVERYONE, RANGE)


def test_first_reply_and_close_store_business_minutes_on_the_owning_teams_calendar(app):
    hcp = make_hcp()
    mi = make_user(Role.MEDICAL_INFORMATION)
    question = ask(hcp, now=at(6, 10), category="dosing")  # Monday 10:00 in New York
    assert question.owner_team is TeamKey.MEDICAL_INFORMATION
    with time_machine.travel(at(6, 14), tick=False):  # four business hours later
        work.reply_to_question(mi, question.id, body="The dose is…", attestation=NOTHING)
    with time_machine.travel(at(8, 9), tick=False):  # a second reply changes nothing
        work.reply_to_question(mi, question.id, body="And also…", attestation=NOTHING)
    with time_machine.travel(at(10, 20), tick=False):  # Friday evening, after closing time
        work.close_question(mi, question.id, attestation=NOTHING)
    q = db.session.scalar(select(Question).where(Question.id == question.id))
    assert q.first_response_at == at(6, 14)
    assert q.first_response_business_minutes == 4 * 60
    # Monday 10-17 (7 h), Tuesday to Thursday (3 x 8 h), Friday 9-17 (8 h).
    assert q.close_business_minutes == (7 + 3 * 8 + 8) * 60
