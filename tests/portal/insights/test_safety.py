"""The Safety dashboard's figures, from PV cases opened through ``open_case`` at known times:
cases per week and source, the share acknowledged within the clock, open cases past it; and who
may see the dashboard at all (the medical side, never a commercial lead)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from portal.extensions import db
from portal.insights import safety
from portal.insights.panels import Filters, Panel, Viewer
from portal.models import Side
from portal.safety.models import PvCaseStatus
from portal.safety.services import CaseSource
from tests.factories import make_hcp, make_product
from tests.portal.safety.factories import open_case

NOW = dt.datetime(2025, 4, 1, 12, 0, tzinfo=dt.UTC)
MARCH = Filters(since=dt.date(2025, 3, 3), until=dt.date(2025, 3, 23))  # three whole weeks
ADMIN = Viewer(sides=frozenset({Side.COMMERCIAL, Side.MEDICAL}))
MEDICAL = Viewer(sides=frozenset({Side.MEDICAL}))
COMMERCIAL = Viewer(sides=frozenset({Side.COMMERCIAL}))
FUTURE = dt.datetime(2999, 1, 1, tzinfo=dt.UTC)


def at(day: int, hour: int = 15, month: int = 3) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, 0, tzinfo=dt.UTC)


@pytest.fixture
def seeded(app):
    """Seven cases around March 2025 (a week without any in the middle), two products."""
    hcp = make_hcp()
    pill, drop = make_product(), make_product()

    def case(source, received, due, *, acknowledged=None, status=None, product=None):
        found = open_case(
            source=source,
            reporter=hcp,
            received_at=received,
            due_at=due,
            product_id=product.id if product else None,
        )
        found.acknowledged_at = acknowledged
        found.status = status or (PvCaseStatus.ACKNOWLEDGED if acknowledged else PvCaseStatus.OPEN)
        db.session.commit()
        return found

    # Week of 3 March: one acknowledged in time, one late, one never (open past its clock).
    case(CaseSource.QUESTION, at(3), at(4), acknowledged=at(4, 10), product=pill)
    case(CaseSource.CHAT, at(5), at(6), acknowledged=at(7), product=pill)
    case(CaseSource.CALL_NOTE, at(6), at(7), product=drop)
    # Week of 17 March: acknowledged exactly at its due time (in time) and closed since; one
    # open past its clock; one whose clock still runs (in neither count).
    case(
        CaseSource.FOLLOW_UP, at(18), at(19), acknowledged=at(19), status=PvCaseStatus.CLOSED,
        product=pill,
    )  # fmt: skip
    case(CaseSource.MEETING, at(20), at(21))
    case(CaseSource.CHAT, at(21), FUTURE)
    # Outside the range: received before it (still open past its clock: counted there), and
    # on the Monday after it (11:00 in New York).
    case(CaseSource.QUESTION, at(28, month=2), at(3), product=pill)
    case(CaseSource.QUESTION, at(24), at(25), acknowledged=at(24, 18))
    return {"pill": pill, "drop": drop}


def panels(viewer: Viewer, filters: Filters) -> dict[str, Panel]:
    with time_machine.travel(NOW, tick=False):
        return {panel.key: panel for panel in safety.build(viewer, filters)}


def test_cases_per_week_by_source_with_an_empty_week(app, seeded):
    with app.test_request_context():
        rows = panels(ADMIN, MARCH)["cases-per-week"].rows

    assert rows == [
        {"week": "2025-03-03", "question": 1, "follow_up": 0, "chat": 1, "call_note": 1,
         "meeting": 0, "total": 3},
        {"week": "2025-03-10", "question": 0, "follow_up": 0, "chat": 0, "call_note": 0,
         "meeting": 0, "total": 0},
        {"week": "2025-03-17", "question": 0, "follow_up": 1, "chat": 1, "call_note": 0,
         "meeting": 1, "total": 3},
    ]  # fmt: skip


def test_share_acknowledged_within_one_business_day(app, seeded):
    with app.test_request_context():
        rows = panels(ADMIN, MARCH)["acknowledged-in-time"].rows

    assert rows == [
        {"week": "2025-03-03", "received": 3, "on_time": 1, "late": 2, "share": 33.3},
        {"week": "2025-03-10", "received": 0, "on_time": 0, "late": 0, "share": None},
        {"week": "2025-03-17", "received": 3, "on_time": 1, "late": 1, "share": 50.0},
    ]


def test_open_cases_past_their_clock_by_source_whatever_the_range(app, seeded):
    with app.test_request_context():
        rows = panels(ADMIN, MARCH)["open-past-clock"].rows

    by_source = {row["source"]: row for row in rows}
    assert [row["source"] for row in rows] == [
        "Question", "Follow-up", "Chat", "Call note", "Meeting"
    ]  # fmt: skip
    # The question received in February is open since its due time, 3 March 15:00 UTC.
    assert by_source["Question"] == {
        "source": "Question", "open": 1, "oldest_due": "2025-03-03", "hours_overdue": 693.0
    }  # fmt: skip
    assert by_source["Call note"]["open"] == 1
    assert by_source["Call note"]["oldest_due"] == "2025-03-07"
    assert by_source["Meeting"]["open"] == 1
    assert by_source["Chat"] == {
        "source": "Chat", "open": 0, "oldest_due": None, "hours_overdue": None
    }  # fmt: skip
    assert by_source["Follow-up"]["open"] == 0


def test_the_product_filter_keeps_that_products_cases(app, seeded):
    only_pill = Filters(since=MARCH.since, until=MARCH.until, product_id=seeded["pill"].id)
    with app.test_request_context():
        found = panels(ADMIN, only_pill)

    per_week = found["cases-per-week"].rows
    assert [row["total"] for row in per_week] == [2, 0, 1]
    assert (per_week[0]["question"], per_week[0]["chat"], per_week[0]["call_note"]) == (1, 1, 0)
    assert [row["share"] for row in found["acknowledged-in-time"].rows] == [50.0, None, 100.0]
    assert [row["open"] for row in found["open-past-clock"].rows] == [1, 0, 0, 0, 0]


def test_a_medical_lead_sees_the_same_figures_as_an_administrator(app, seeded):
    with app.test_request_context():
        medical, admin = panels(MEDICAL, MARCH), panels(ADMIN, MARCH)

    assert safety.DASHBOARD.visible(MEDICAL) and safety.DASHBOARD.visible(ADMIN)
    assert {k: p.rows for k, p in medical.items()} == {k: p.rows for k, p in admin.items()}


def test_a_commercial_lead_neither_sees_nor_builds_the_safety_dashboard(app, seeded):
    with app.test_request_context():
        assert safety.DASHBOARD.visible(COMMERCIAL) is False
        assert safety.build(COMMERCIAL, MARCH) == []
