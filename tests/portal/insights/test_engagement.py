"""The Chat and contact dashboard's figures, from chats, contacts and refusals made through the
real services at known times (the clock travels): opt-ins, withdrawals, active conversations,
staff response times, cap use and the rule's refusals; and the firewall (a commercial lead's
figures leave the medical side's records out, a medical lead's include the commercial side's)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import time_machine

from chat import consent, messages
from portal.accounts import contact_rule
from portal.accounts.contact_rule import ContactRefused
from portal.accounts.models import ContactChannel, ContactKind, ContactPreferences
from portal.extensions import db
from portal.insights import engagement
from portal.insights.panels import Filters, Panel, Viewer
from portal.models import Role, Side, User, Verification, utcnow
from portal.unit_of_work import unit_of_work
from tests.factories import make_hcp, make_territory, make_user

MARCH = Filters(since=dt.date(2025, 3, 3), until=dt.date(2025, 3, 23))  # three whole weeks
ADMIN = Viewer(sides=frozenset({Side.COMMERCIAL, Side.MEDICAL}))
MEDICAL = Viewer(sides=frozenset({Side.MEDICAL}))
COMMERCIAL = Viewer(sides=frozenset({Side.COMMERCIAL}))
REGISTERED = dt.datetime(2025, 1, 6, 12, tzinfo=dt.UTC)


def at(day: int, hour: int = 15, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, minute, tzinfo=dt.UTC)


def panels(viewer: Viewer, filters: Filters = MARCH) -> dict[str, Panel]:
    return {panel.key: panel for panel in engagement.build(viewer, filters)}


@pytest.fixture
def people(app):
    territory = make_territory()
    hcps = [make_hcp(territory=territory) for _ in range(4)]
    for hcp in hcps:
        hcp.created_at = REGISTERED
    db.session.commit()
    return {
        "rep": make_user(Role.REP, territories=[territory]),
        "msl": make_user(Role.MSL, territories=[territory]),
        "hcps": hcps,
    }


def say(user: User, conversation_id: int, when: dt.datetime, body: str = "Hello") -> None:
    with time_machine.travel(when, tick=False):
        messages.send_message(user, conversation_id, client_id=str(uuid.uuid4()), body=body)


def opt_in(hcp: User, staff: User, when: dt.datetime) -> int:
    with time_machine.travel(when, tick=False):
        return consent.start_chat(hcp, staff.id, wording_id=consent.consent_wording().id).id


@pytest.fixture
def chats(people):
    """A commercial chat (HCP 1 with the rep) and a medical one (HCP 2 with the MSL)."""
    rep, msl = people["rep"], people["msl"]
    one, two = people["hcps"][:2]
    commercial = opt_in(one, rep, at(3, 14))
    say(one, commercial, at(3, 14))
    say(one, commercial, at(3, 14, 30))  # the same wait, timed from the first message
    say(rep, commercial, at(3, 16))  # 2 hours
    say(one, commercial, at(4, 10))
    say(rep, commercial, at(4, 11))  # 1 hour
    medical = opt_in(two, msl, at(5, 14))
    say(two, medical, at(5, 14))
    say(msl, medical, at(5, 20))  # 6 hours
    # The week of 10 March: nothing. The week of 17 March:
    say(one, commercial, at(18, 12))
    say(rep, commercial, at(18, 12, 30))  # half an hour
    say(two, medical, at(18, 13))
    say(msl, medical, at(18, 17))  # 4 hours
    say(one, commercial, at(19, 12))  # never answered: the HCP ends the chat
    with time_machine.travel(at(20, 12), tick=False):
        consent.end_chat(one, commercial)
    # After the range: an answer to nothing in it, and a new wait.
    say(two, medical, at(25))
    return {"commercial": commercial, "medical": medical}


def test_opt_ins_withdrawals_and_active_conversations_per_week(app, chats):
    with app.test_request_context():
        rows = panels(ADMIN)["chat-per-week"].rows

    assert rows == [
        {"week": "2025-03-03", "opt_ins": 2, "withdrawals": 0, "active": 2},
        {"week": "2025-03-10", "opt_ins": 0, "withdrawals": 0, "active": 0},
        {"week": "2025-03-17", "opt_ins": 0, "withdrawals": 1, "active": 2},
    ]


def test_staff_response_time_median_and_90th_percentile(app, chats):
    with app.test_request_context():
        rows = panels(ADMIN)["response-time"].rows

    # Week of 3 March: 1, 2 and 6 hours; week of 17 March: 0.5 and 4 hours, one still waiting.
    assert rows == [
        {"week": "2025-03-03", "answered": 3, "median": 2.0, "p90": 6.0, "waiting": 0},
        {"week": "2025-03-10", "answered": 0, "median": None, "p90": None, "waiting": 0},
        {"week": "2025-03-17", "answered": 2, "median": 0.5, "p90": 4.0, "waiting": 1},
    ]


def test_a_commercial_lead_counts_commercial_chats_only(app, chats):
    with app.test_request_context():
        found = panels(COMMERCIAL)

    assert found["chat-per-week"].rows == [
        {"week": "2025-03-03", "opt_ins": 1, "withdrawals": 0, "active": 1},
        {"week": "2025-03-10", "opt_ins": 0, "withdrawals": 0, "active": 0},
        {"week": "2025-03-17", "opt_ins": 0, "withdrawals": 1, "active": 1},
    ]
    assert found["response-time"].rows == [
        {"week": "2025-03-03", "answered": 2, "median": 1.0, "p90": 2.0, "waiting": 0},
        {"week": "2025-03-10", "answered": 0, "median": None, "p90": None, "waiting": 0},
        {"week": "2025-03-17", "answered": 1, "median": 0.5, "p90": 0.5, "waiting": 1},
    ]


def test_a_medical_lead_counts_medical_and_commercial_chats(app, chats):
    with app.test_request_context():
        medical, admin = panels(MEDICAL), panels(ADMIN)

    for key in ("chat-per-week", "response-time"):
        assert medical[key].rows == admin[key].rows


# --- contacts and caps ---------------------------------------------------------------------------
def claim(staff: User, hcp: User, when: dt.datetime, *, solicited: bool = False) -> None:
    with time_machine.travel(when, tick=False), unit_of_work():
        contact_rule.claim(
            staff, hcp, ContactChannel.PORTAL, kind=ContactKind.MATERIAL_SHARE,
            subject="material_share", subject_id=None, at=when, solicited=solicited,
        )  # fmt: skip


def refuse(staff: User, hcp: User, when: dt.datetime, channel: ContactChannel) -> str:
    with (
        time_machine.travel(when, tick=False),
        pytest.raises(ContactRefused) as refused,
        unit_of_work(),
    ):
        contact_rule.claim(
            staff, hcp, channel, kind=ContactKind.MATERIAL_SHARE, subject="material_share",
            subject_id=None, at=when,
        )  # fmt: skip
    return refused.value.decision.rule


def choose_cap(hcp: User, cap: int) -> None:
    db.session.add(
        ContactPreferences(
            hcp_id=hcp.id, channels=["portal", "chat", "visit"], product_ids=[], areas=[],
            cap=cap, chosen=True, updated_at=utcnow(),
        )
    )  # fmt: skip
    db.session.commit()


@pytest.fixture
def contacts(people):
    """In the 30 days up to the range's end (24 March, 04:00 UTC): HCP 1 (default cap 4) three
    of the rep's; HCP 2 (cap 2) one of the MSL's and one of the rep's, at its cap; HCP 3 none;
    HCP 4 (cap 4) one of the rep's. An unverified HCP, and one registered after the range, are
    not counted."""
    rep, msl = people["rep"], people["msl"]
    one, two, _three, four = people["hcps"]
    choose_cap(two, 2)
    choose_cap(four, 4)
    claim(rep, one, at(10, month=2))  # before the window
    claim(rep, one, at(1))
    claim(rep, one, at(5))
    claim(rep, one, at(10))
    claim(rep, one, at(12), solicited=True)  # the HCP asked: uses no cap
    claim(msl, two, at(2))
    claim(rep, two, at(8))
    claim(rep, four, at(15))
    pending = make_hcp(verification=Verification.PENDING, territory=one.hcp_profile.territory)
    pending.created_at = REGISTERED
    make_hcp(territory=one.hcp_profile.territory)  # registered after the range: not counted
    db.session.add(
        contact_rule.Contact(
            hcp_id=pending.id, staff_id=rep.id, side=Side.COMMERCIAL, team="sales",
            channel=ContactChannel.PORTAL, kind=ContactKind.CALL, counted=True, at=at(11),
            subject="call_note", subject_id=None,
        )
    )  # fmt: skip
    db.session.commit()


def bands(viewer: Viewer) -> dict[str, int]:
    return {row["band"]: row["hcps"] for row in panels(viewer)["contact-caps"].rows}


def test_hcps_by_how_much_of_their_cap_was_used(app, contacts):
    with app.test_request_context():
        assert bands(ADMIN) == {
            "No contact": 1,
            "Under half of the cap": 1,
            "Half of the cap or more": 1,
            "Cap reached": 1,
        }
        # The same figures for a medical lead; a commercial lead counts the commercial side's
        # contacts only (HCP 2: one of two used).
        assert bands(MEDICAL) == bands(ADMIN)
        assert bands(COMMERCIAL) == {
            "No contact": 1,
            "Under half of the cap": 1,
            "Half of the cap or more": 2,
            "Cap reached": 0,
        }


def test_refusals_per_week_by_the_rule_that_refused(app, people, contacts):
    rep, msl = people["rep"], people["msl"]
    one, two = people["hcps"][:2]
    assert refuse(rep, two, at(4), ContactChannel.EMAIL) == contact_rule.CHANNEL
    assert refuse(msl, one, at(6), ContactChannel.PORTAL) == contact_rule.MIN_GAP
    assert refuse(rep, two, at(18), ContactChannel.PORTAL) == contact_rule.CAP
    assert refuse(rep, two, at(25), ContactChannel.PORTAL) == contact_rule.CAP  # after

    with app.test_request_context():
        admin, medical, commercial = (
            panels(v)["contact-refusals"].rows for v in (ADMIN, MEDICAL, COMMERCIAL)
        )

    none = dict.fromkeys(["channel", "paused", "quiet_hours", "min_gap", "cap", "not_yours"], 0)
    assert admin == [
        {"week": "2025-03-03", **none, "channel": 1, "min_gap": 1, "total": 2},
        {"week": "2025-03-10", **none, "total": 0},
        {"week": "2025-03-17", **none, "cap": 1, "total": 1},
    ]
    assert medical == admin
    assert commercial == [
        {"week": "2025-03-03", **none, "channel": 1, "total": 1},
        {"week": "2025-03-10", **none, "total": 0},
        {"week": "2025-03-17", **none, "cap": 1, "total": 1},
    ]


def test_no_sides_no_figures(app, chats):
    with app.test_request_context():
        assert engagement.build(Viewer(sides=frozenset()), MARCH) == []
