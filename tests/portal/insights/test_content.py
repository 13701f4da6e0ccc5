"""The Content dashboard's figures, from reading and search events seeded at known times."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from content import services
from content.models import EventKind, MaterialEvent, SearchTerm
from content.services import Filters as LibraryFilters
from portal.extensions import db
from portal.insights import content as board
from portal.insights.panels import Filters, Viewer
from portal.models import Role, Side, utcnow
from tests.content.factories import make_material
from tests.factories import make_hcp, make_product, make_user

NY = ZoneInfo("America/New_York")
EVERYONE = Viewer(frozenset({Side.COMMERCIAL, Side.MEDICAL}))
RANGE = Filters(since=dt.date(2026, 4, 6), until=dt.date(2026, 4, 19))


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 4, day, hour, tzinfo=NY).astimezone(dt.UTC)


def event(user, material, kind, when):
    db.session.add(
        MaterialEvent(
            material_id=material.id, family_id=material.family_id, user_id=user.id,
            kind=kind, at=when,
        )
    )  # fmt: skip


def reading_world():
    cardio, onco = make_hcp(specialty="Cardiology"), make_hcp(specialty="Oncology")
    rep = make_user(Role.REP)
    product_a, product_b = make_product(), make_product()
    first = make_material(direct=True, product=product_a, title="Titration guide")
    second = make_material(direct=True, product=product_b, title="Study summary")
    view, download = EventKind.VIEW, EventKind.DOWNLOAD
    event(cardio, first, view, at(6, 12))
    event(cardio, first, view, at(7, 12))
    event(rep, first, view, at(7, 13))  # staff: not demand
    event(onco, second, view, at(8, 12))
    event(onco, second, download, at(8, 13))
    event(onco, first, view, at(14, 12))
    event(cardio, first, download, at(14, 13))
    event(cardio, first, view, at(20, 12))  # after the range
    db.session.commit()
    return first, product_a


def panel(key, filters=RANGE):
    return next(p for p in board.build(EVERYONE, filters) if p.key == key)


def test_views_downloads_and_unique_hcps_per_material_week_and_specialty(app):
    first, _product = reading_world()
    assert panel("top-materials").rows == [
        {"material": "Titration guide", "code": first.approval_code, "views": 3,
         "downloads": 1, "hcps": 2},
        {"material": "Study summary", "code": panel("top-materials").rows[1]["code"],
         "views": 1, "downloads": 1, "hcps": 1},
    ]  # fmt: skip
    assert panel("weekly").rows == [
        {"week": "2026-04-06", "views": 3, "downloads": 1, "hcps": 2},
        {"week": "2026-04-13", "views": 1, "downloads": 1, "hcps": 2},
    ]
    assert panel("specialties").rows == [
        {"specialty": "Cardiology", "views": 2, "downloads": 1, "hcps": 1},
        {"specialty": "Oncology", "views": 2, "downloads": 1, "hcps": 1},
    ]


def test_product_filter_counts_that_products_materials_only(app):
    _first, product = reading_world()
    filters = Filters(since=RANGE.since, until=RANGE.until, product_id=product.id)
    assert [r["material"] for r in panel("top-materials", filters).rows] == ["Titration guide"]
    assert panel("weekly", filters).rows == [
        {"week": "2026-04-06", "views": 2, "downloads": 0, "hcps": 1},
        {"week": "2026-04-13", "views": 1, "downloads": 1, "hcps": 2},
    ]


def test_top_searches_and_searches_with_no_result(app):
    for _ in range(3):
        services.record_search(["heparin"], found=True, at=at(7, 12))
    services.record_search(["heparin"], found=False, at=at(9, 12))
    services.record_search(["zebra"], found=False, at=at(8, 12))
    services.record_search(["zebra"], found=False, at=at(8, 15))
    services.record_search(["outside"], found=False, at=at(25, 12))
    assert panel("searches").rows == [
        {"query": "heparin", "searches": 4, "no_result": 1},
        {"query": "zebra", "searches": 2, "no_result": 2},
    ]
    assert panel("no-result").rows == [
        {"query": "zebra", "no_result": 2, "searches": 2},
        {"query": "heparin", "no_result": 1, "searches": 4},
    ]


def test_an_hcps_first_page_of_search_is_logged_by_its_words_never_by_who(app):
    hcp, rep = make_hcp(), make_user(Role.REP)
    services.search(hcp, "The ZEBRA", LibraryFilters())  # a stop word dropped, folded
    services.search(hcp, "zebra", LibraryFilters(), page=2)  # paging is not another search
    services.search(rep, "zebra", LibraryFilters())  # staff: not the library's demand
    services.search(hcp, "   ", LibraryFilters())  # no words: browsing
    rows = db.session.execute(select(SearchTerm)).scalars().all()
    today = utcnow().astimezone(NY).date()
    assert [(r.day, r.query, r.searches, r.no_result) for r in rows] == [(today, "zebra", 1, 1)]
    assert {c.name for c in SearchTerm.__table__.columns} == {
        "day", "query", "searches", "no_result",
    }  # fmt: skip


def test_expiring_materials_still_in_demand(app):
    hcp, rep = make_hcp(), make_user(Role.REP)
    now = utcnow()
    soon = make_material(direct=True, title="Renew me")
    quiet = make_material(direct=True, title="Nobody reads me")
    later = make_material(direct=True, title="Not yet")
    staff_only = make_material(direct=True, title="Only staff read me")
    soon.expires_at = quiet.expires_at = staff_only.expires_at = now + dt.timedelta(days=30)
    later.expires_at = now + dt.timedelta(days=90)
    event(hcp, soon, EventKind.VIEW, now - dt.timedelta(days=5))
    event(hcp, soon, EventKind.VIEW, now - dt.timedelta(days=40))  # before the 30 days
    event(hcp, later, EventKind.VIEW, now - dt.timedelta(days=5))
    event(rep, staff_only, EventKind.VIEW, now - dt.timedelta(days=5))
    db.session.commit()
    expires = soon.expires_at.astimezone(NY).date().isoformat()
    assert panel("expiring").rows == [
        {"material": "Renew me", "code": soon.approval_code, "expires": expires, "views": 1}
    ]


def test_expiring_lists_the_most_viewed_and_says_how_many_in_all(app, monkeypatch):
    monkeypatch.setattr(board, "EXPIRING_SHOWN", 2)
    hcp = make_hcp()
    now = utcnow()
    for views, title in ((1, "One view"), (3, "Three views"), (2, "Two views")):
        material = make_material(direct=True, title=title)
        material.expires_at = now + dt.timedelta(days=20)
        for _ in range(views):
            event(hcp, material, EventKind.VIEW, now - dt.timedelta(days=1))
    db.session.commit()
    found = panel("expiring")
    assert [row["material"] for row in found.rows] == ["Three views", "Two views"]
    assert "2 most viewed of 3" in str(found.note)
