"""The content workspace at a real library's size: states counted in SQL (agreeing with what each
material shows), one page at a time, and the review queue and expiring list kept short."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from content import services
from content.models import Material, MaterialState
from portal.extensions import db
from portal.models import Role, utcnow
from tests.content.factories import make_author, make_material
from tests.factories import make_user


def test_the_sql_state_agrees_with_each_materials_own_state(app):
    author = make_author()
    {
        state: make_material(
            author, state, direct=state not in (MaterialState.WITHDRAWN, MaterialState.RETIRED)
        )
        for state in MaterialState
    }
    now = utcnow()
    for state in MaterialState:
        shown = {m.id for m, _s in services.dashboard(author, state=state).items}
        everything = db.session.scalars(select(Material)).all()  # a retired one has a successor
        expected = {m.id for m in everything if m.state_at(now) is state}
        assert shown == expected, state
        assert shown, state  # every state has one: the agreement is not "nothing anywhere"


def test_counts_and_pages_cover_every_material_once(app, monkeypatch):
    monkeypatch.setattr(services, "WORKSPACE_PAGE_SIZE", 3)
    author = make_author()
    drafts = [make_material(author, MaterialState.DRAFT, direct=True) for _ in range(7)]
    make_material(author, MaterialState.PUBLISHED, direct=True)

    board = services.dashboard(author, state=MaterialState.DRAFT)

    assert board.counts[MaterialState.DRAFT] == 7
    assert board.counts[MaterialState.PUBLISHED] == 1
    assert board.pages == 3
    seen = [
        m.id
        for page in (1, 2, 3)
        for m, _s in services.dashboard(author, state=MaterialState.DRAFT, page=page).items
    ]
    assert sorted(seen) == sorted(d.id for d in drafts)
    # A page past the end shows the last one.
    assert services.dashboard(author, state=MaterialState.DRAFT, page=99).page == 3


def test_past_the_cap_counts_say_more_and_every_page_stays_reachable(app, monkeypatch):
    monkeypatch.setattr(services, "WORKSPACE_PAGE_SIZE", 2)
    monkeypatch.setattr(services, "WORKSPACE_COUNT_CAP", 3)
    author = make_author()
    drafts = [make_material(author, MaterialState.DRAFT, direct=True) for _ in range(7)]
    expired = [make_material(author, MaterialState.EXPIRED, direct=True) for _ in range(5)]
    make_material(author, MaterialState.IN_REVIEW, direct=True)

    board = services.dashboard(author, state=MaterialState.DRAFT)

    assert board.count_label(MaterialState.DRAFT) == "3+"
    assert board.count_label(MaterialState.EXPIRED) == "3+"  # counted by expiry date
    assert board.count_label(MaterialState.IN_REVIEW) == "1"
    assert board.pages == 2  # the page shown is full: one more is linked
    seen: list[int] = []
    page = 1
    while True:  # follow "next" as a person would, until a page says it is the last
        board = services.dashboard(author, state=MaterialState.DRAFT, page=page)
        seen += [m.id for m, _s in board.items]
        if board.pages == page:
            break
        page += 1
    assert sorted(seen) == sorted(d.id for d in drafts)
    assert page == 4
    expired_shown = services.dashboard(author, state=MaterialState.EXPIRED, page=3).items
    assert [m.id for m, _s in expired_shown] == [expired[0].id]


def test_mine_counts_only_the_authors_materials(app):
    author, colleague = make_author(), make_author()
    make_material(author, MaterialState.DRAFT, direct=True)
    make_material(colleague, MaterialState.DRAFT, direct=True)

    assert services.dashboard(author, mine=True).counts[MaterialState.DRAFT] == 1
    assert services.dashboard(author).counts[MaterialState.DRAFT] == 2


def test_the_review_queue_leaves_out_the_reviewers_own_versions(app):
    reviewer = make_user(Role.MLR_REVIEWER)
    theirs = make_material(make_author(), MaterialState.IN_REVIEW, direct=True)
    make_material(reviewer, MaterialState.IN_REVIEW, direct=True)

    assert [m.id for m in services.dashboard(reviewer).review_queue] == [theirs.id]


@pytest.mark.parametrize("role", [Role.HCP, Role.REP])
def test_people_outside_content_have_no_workspace(app, role):
    from portal.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.dashboard(make_user(role))
