"""The staff home panel's counts come from one SQL statement and agree with the queue itself."""

from __future__ import annotations

import datetime as dt

from portal.models import Role, utcnow
from portal.questions import work
from tests.factories import make_hcp, make_territory, make_user
from tests.portal.questions.factories import NOTHING, ask


def _from_the_queue(actor):
    # What the panel used to count in Python from the queue's rows.
    now = utcnow()
    mine = work.queue(actor, view="mine")
    team = work.queue(actor, view="team")
    both = {*mine, *team}
    return {
        "open": len(both),
        "mine": len(mine),
        "unassigned": sum(1 for q in team if q.assignee_id is None),
        "overdue": sum(1 for q in both if q.is_overdue(now)),
    }


def _take(actor, question):
    if question.assignee_id != actor.id:
        work.claim_question(actor, question.id)


def test_the_panel_counts_mine_unassigned_and_overdue_of_the_open_queue(app):
    hcp = make_hcp(territory=make_territory())
    mi = make_user(Role.MEDICAL_INFORMATION)
    colleague = make_user(Role.MEDICAL_INFORMATION)
    rep = make_user(Role.REP)
    old = utcnow() - dt.timedelta(days=30)
    asked = [ask(hcp, now=old), ask(hcp), ask(hcp), ask(hcp), ask(hcp, now=old)]
    _take(mi, asked[2])
    _take(colleague, asked[3])
    _take(mi, asked[4])  # overdue and mine
    closed = ask(hcp, now=old)
    _take(mi, closed)
    work.close_question(mi, closed.id, reason="answered", attestation=NOTHING)
    assert asked[0].due_at < utcnow()

    board = work.staff_dashboard(mi)

    assert board == _from_the_queue(mi)
    assert board["open"] == 5 and board["mine"] >= 2 and board["overdue"] == 2
    assert work.staff_dashboard(colleague) == _from_the_queue(colleague)
    # Medical questions are not the rep's to count.
    assert work.staff_dashboard(rep) == {"open": 0, "mine": 0, "unassigned": 0, "overdue": 0}


def test_read_only_roles_count_every_open_question(app):
    hcp = make_hcp(territory=make_territory())
    mi = make_user(Role.MEDICAL_INFORMATION)
    compliance = make_user(Role.COMPLIANCE)
    ask(hcp, now=utcnow() - dt.timedelta(days=30))
    _take(mi, ask(hcp))

    board = work.staff_dashboard(compliance)

    assert (board["open"], board["mine"], board["overdue"]) == (2, 0, 1)
