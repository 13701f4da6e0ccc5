"""The Adoption and return dashboard's figures, from HCPs who register, read, ask, chat and meet
at known times: registered, verified and active HCPs by specialty and territory, the funnel per
product, and the share of questions served within their SLA per specialty; and the firewall (a
commercial lead's figures count commercial questions and chats only)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import time_machine

from chat import consent, messages
from content import services as content
from portal.accounts.models import Meeting, MeetingMode, MeetingState
from portal.extensions import db
from portal.insights import adoption
from portal.insights.panels import Filters, Panel, Viewer
from portal.models import Role, Side, TeamKey, User, Verification
from portal.questions import work
from portal.questions.models import COMMERCIAL_TEAMS, Question
from tests.content.factories import make_material
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import NOTHING, ask

MARCH = Filters(since=dt.date(2025, 3, 3), until=dt.date(2025, 3, 23))  # three whole weeks
ADMIN = Viewer(sides=frozenset({Side.COMMERCIAL, Side.MEDICAL}))
MEDICAL = Viewer(sides=frozenset({Side.MEDICAL}))
COMMERCIAL = Viewer(sides=frozenset({Side.COMMERCIAL}))
REGISTERED = dt.datetime(2025, 1, 6, 12, tzinfo=dt.UTC)
FUTURE = dt.datetime(2999, 1, 1, tzinfo=dt.UTC)


def at(day: int, hour: int = 15, month: int = 3) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, 0, tzinfo=dt.UTC)


def hcp(specialty: str, territory, **overrides) -> User:
    found = make_hcp(specialty=specialty, territory=territory, **overrides)
    found.created_at = REGISTERED
    db.session.commit()
    return found


ANSWERERS = {
    TeamKey.SALES: Role.REP,
    TeamKey.MARKET_ACCESS: Role.MARKET_ACCESS,
    TeamKey.MSL: Role.MSL,
    TeamKey.MEDICAL_INFORMATION: Role.MEDICAL_INFORMATION,
}


def question(
    asker: User, when: dt.datetime, due: dt.datetime, *, answered: dt.datetime | None = None,
    **overrides,
) -> Question:  # fmt: skip
    """A question asked through intake at ``when``, its clock set to ``due``, answered by a
    member of the owning team at ``answered`` and again a week later (the first answer is what
    counts)."""
    found = ask(asker, now=when, **overrides)
    found.due_at = due
    db.session.commit()
    if answered is not None:
        answerer = make_user(ANSWERERS[found.owner_team])
        for reply in (answered, answered + dt.timedelta(days=7)):
            with time_machine.travel(reply, tick=False):
                work.reply_to_question(answerer, found.id, body="Answer.", attestation=NOTHING)
    return found


def hcp_says(asker: User, staff: User, when: dt.datetime) -> None:
    with time_machine.travel(when, tick=False):
        conversation = consent.start_chat(asker, staff.id, wording_id=consent.consent_wording().id)
        messages.send_message(asker, conversation.id, client_id=str(uuid.uuid4()), body="Hello")


@pytest.fixture
def seeded(app):
    north, south, east = (make_territory(name=name) for name in ("North", "South", "East"))
    pill, drop = make_product(name="Pill"), make_product(name="Drop")
    pill_leaflet = make_material(product=pill, direct=True)
    drop_leaflet = make_material(product=drop, direct=True)
    rep = make_user(Role.REP, territories=[north, south, east])
    msl = make_user(Role.MSL, territories=[north, south, east])

    one = hcp("Cardiology", north)  # reads, asks (commercial), chats with the rep
    two = hcp("Cardiology", north)  # reads, asks (medical), meets the MSL
    three = hcp("Oncology", south)  # reads the other product, asks about it (commercial)
    hcp("Oncology", None, verification=Verification.PENDING)  # registered only
    five = hcp("Oncology", east)  # chats with the MSL and asks a medical question
    seven = hcp("Cardiology", north)  # read before the range only
    make_hcp(specialty="Cardiology", territory=north)  # registered after the range

    content.record_view(one, pill_leaflet, at=at(4, 12))
    content.record_view(two, pill_leaflet, at=at(10))
    content.record_view(three, drop_leaflet, at=at(18))
    content.record_view(seven, pill_leaflet, at=at(20, month=2))
    content.record_view(rep, pill_leaflet, at=at(6))  # staff: not an HCP

    asked = {
        "one": question(one, at(4), at(6), answered=at(5), category="samples", product=pill),
        "two": question(two, at(11), at(12), answered=at(13), category="dosing", product=pill),
        "three": question(three, at(18), at(19), category="access", product=drop),
        "five": question(five, at(19), FUTURE, category="dosing"),
    }
    hcp_says(one, rep, at(5))
    hcp_says(five, msl, at(19))
    db.session.add(
        Meeting(
            hcp_id=two.id, staff_id=msl.id, side=Side.MEDICAL, requested_by_id=two.id,
            mode=MeetingMode.VIDEO, slots=[], state=MeetingState.ACCEPTED, starts_at=at(12),
            created_at=at(11), decided_at=at(11),
        )
    )  # fmt: skip
    db.session.commit()
    return {"pill": pill, "drop": drop, "asked": asked}


def panels(viewer: Viewer, filters: Filters = MARCH) -> dict[str, Panel]:
    with time_machine.travel(dt.datetime(2025, 4, 1, tzinfo=dt.UTC), tick=False):
        return {panel.key: panel for panel in adoption.build(viewer, filters)}


def test_the_questions_fall_on_both_sides_of_the_firewall(app, seeded):
    # The figures below rely on routing: samples and access questions go to commercial teams.
    commercial = {k for k, q in seeded["asked"].items() if q.owner_team in COMMERCIAL_TEAMS}
    assert commercial == {"one", "three"}


def test_registered_verified_and_active_hcps_by_specialty_and_territory(app, seeded):
    with app.test_request_context():
        found = panels(ADMIN)

    assert found["hcps-by-specialty"].rows == [
        {"specialty": "Cardiology", "registered": 3, "verified": 3, "active": 2},
        {"specialty": "Oncology", "registered": 3, "verified": 2, "active": 2},
    ]
    assert found["hcps-by-territory"].rows == [
        {"territory": "North", "registered": 3, "verified": 3, "active": 2},
        {"territory": "East", "registered": 1, "verified": 1, "active": 1},
        {"territory": "No territory", "registered": 1, "verified": 0, "active": 0},
        {"territory": "South", "registered": 1, "verified": 1, "active": 1},
    ]


def test_the_funnel_per_product(app, seeded):
    with app.test_request_context():
        rows = panels(ADMIN)["product-funnel"].rows

    assert rows == [
        {"product": "Drop", "viewed": 1, "asked": 1, "engaged": 0},
        {"product": "Pill", "viewed": 2, "asked": 2, "engaged": 2},
    ]


def test_the_share_served_within_sla_per_specialty(app, seeded):
    with app.test_request_context():
        rows = panels(ADMIN)["sla-by-segment"].rows

    # Cardiology: one answered in time, one late; Oncology: one unanswered past its due time,
    # one whose clock still runs.
    assert rows == [
        {"specialty": "Cardiology", "questions": 2, "in_time": 1, "late": 1, "share": 50.0},
        {"specialty": "Oncology", "questions": 2, "in_time": 0, "late": 1, "share": 0.0},
    ]


def test_a_commercial_lead_counts_commercial_questions_and_chats_only(app, seeded):
    with app.test_request_context():
        found = panels(COMMERCIAL)

    # HCP five's only activity was medical (a chat with the MSL, a dosing question).
    assert found["hcps-by-specialty"].rows == [
        {"specialty": "Cardiology", "registered": 3, "verified": 3, "active": 2},
        {"specialty": "Oncology", "registered": 3, "verified": 2, "active": 1},
    ]
    assert [(r["territory"], r["active"]) for r in found["hcps-by-territory"].rows] == [
        ("North", 2), ("East", 0), ("No territory", 0), ("South", 1)
    ]  # fmt: skip
    assert found["product-funnel"].rows == [
        {"product": "Drop", "viewed": 1, "asked": 1, "engaged": 0},
        {"product": "Pill", "viewed": 2, "asked": 1, "engaged": 1},
    ]
    assert found["sla-by-segment"].rows == [
        {"specialty": "Cardiology", "questions": 1, "in_time": 1, "late": 0, "share": 100.0},
        {"specialty": "Oncology", "questions": 1, "in_time": 0, "late": 1, "share": 0.0},
    ]


def test_a_medical_lead_sees_the_administrators_figures(app, seeded):
    with app.test_request_context():
        medical, admin = panels(MEDICAL), panels(ADMIN)

    assert {k: p.rows for k, p in medical.items()} == {k: p.rows for k, p in admin.items()}


def test_the_product_filter_counts_that_products_activity(app, seeded):
    only_pill = Filters(since=MARCH.since, until=MARCH.until, product_id=seeded["pill"].id)
    with app.test_request_context():
        found = panels(ADMIN, only_pill)

    assert found["hcps-by-specialty"].rows == [
        {"specialty": "Cardiology", "registered": 3, "verified": 3, "active": 2},
        {"specialty": "Oncology", "registered": 3, "verified": 2, "active": 0},
    ]
    assert found["product-funnel"].rows == [
        {"product": "Pill", "viewed": 2, "asked": 2, "engaged": 2}
    ]
    assert found["sla-by-segment"].rows == [
        {"specialty": "Cardiology", "questions": 2, "in_time": 1, "late": 1, "share": 50.0}
    ]
