"""Long lists link the first and last pages and a few around the current one, never every page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import audit
from portal.extensions import db
from portal.models import AuditRecord, Role
from portal.pagination import page_window, paginate
from portal.services import audit_trail
from tests.conftest import login
from tests.factories import make_user


@pytest.mark.parametrize(
    ("page", "pages", "expected"),
    [
        (1, 1, [1]),
        (1, 4, [1, 2, 3, 4]),
        (50, 100, [1, None, 48, 49, 50, 51, 52, None, 100]),
        (1, 100, [1, 2, 3, None, 100]),
        (100, 100, [1, None, 98, 99, 100]),
        (4, 8, [1, 2, 3, 4, 5, 6, None, 8]),
    ],
)
def test_the_window_keeps_the_ends_and_the_neighbours(page, pages, expected):
    assert page_window(page, pages) == expected


def test_a_year_of_pages_links_a_handful():
    window = page_window(25_000, 50_000, edge=3)
    assert window == [
        1,
        2,
        3,
        None,
        24_998,
        24_999,
        25_000,
        25_001,
        25_002,
        None,
        49_998,
        49_999,
        50_000,
    ]


def test_a_capped_count_says_more_and_every_record_stays_reachable(app):
    """The audit trail counts no further than its cap (a year is 586,000 records, and
    PostgreSQL's COUNT reads each one): the total says "more than", and following "next" from
    page to page still reaches every record once."""
    actor = make_user(Role.ADMIN)
    for n in range(7):
        audit.record(actor, "test.paged", actor, n=n)
    db.session.commit()
    query = select(AuditRecord).where(AuditRecord.action == "test.paged")
    query = query.order_by(AuditRecord.id.desc())

    first = paginate(query, page=1, page_size=2, count_cap=3)
    assert (first.capped, first.total, first.pages) == (True, 3, 2)
    seen, page = [], 1
    while True:
        shown = paginate(query, page=page, page_size=2, count_cap=3)
        seen += [r.id for r in shown.items]
        if shown.pages == page:
            break
        page += 1
    assert page == 4 and len(seen) == 7 == len(set(seen))
    # Under the cap nothing changes: the exact total, and a page past the end shows the last.
    exact = paginate(query, page=99, page_size=2, count_cap=100)
    assert (exact.capped, exact.total, exact.pages, exact.page) == (False, 7, 4, 4)


def test_the_audit_page_says_more_than_past_its_cap(app, client, monkeypatch):
    monkeypatch.setattr(audit_trail, "COUNT_CAP", 2)
    auditor = make_user(Role.COMPLIANCE)
    for n in range(3):
        audit.record(auditor, "test.paged", auditor, n=n)
    db.session.commit()
    login(client, auditor.email)
    page = client.get("/audit")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "more than 2 records" in body, body[body.find('data-testid="audit-count"') :][:200]
