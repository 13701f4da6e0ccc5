"""The author hears of the MLR decision on their material: in the portal and by e-mail, in the
same unit of work as the decision, and nobody else does."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from content import services
from content.models import Material
from portal.errors import PermissionDenied
from portal.extensions import db
from portal.models import Notification, OutboxMail, Role, User
from tests.conftest import login
from tests.content.factories import make_author, make_material, make_reviewer
from tests.factories import make_user

REASON = "Reference 3 is missing from the efficacy claim."


def notified() -> list[tuple[int, str]]:
    return [(n.user_id, n.kind) for n in db.session.scalars(select(Notification))]


def mailed() -> list[OutboxMail]:
    return list(db.session.scalars(select(OutboxMail)))


@pytest.fixture
def in_review(app: object) -> tuple[User, User, Material]:
    author = make_author(name="Carla Content")
    reviewer = make_reviewer(name="Rita Reviewer")
    material = make_material(author, status="in_review")
    # Bystanders who must hear nothing: another content manager and another reviewer.
    make_author()
    make_reviewer()
    db.session.execute(Notification.__table__.delete())
    db.session.execute(OutboxMail.__table__.delete())
    db.session.commit()
    return author, reviewer, material


def test_approval_notifies_the_author_only_naming_the_version_and_the_reviewer(in_review):
    author, reviewer, material = in_review

    services.approve_material(reviewer, material)

    assert notified() == [(author.id, "material_approved")]
    [notice] = db.session.scalars(select(Notification))
    assert material.code_label in notice.title
    assert "approved by Rita Reviewer" in notice.title
    assert notice.url == f"/library/manage/{material.id}"
    [mail] = mailed()
    assert mail.to == author.email
    assert mail.subject == notice.title
    assert f"/library/manage/{material.id}" in mail.body


def test_rejection_notifies_the_author_only_and_points_to_the_reasons(in_review):
    author, reviewer, material = in_review

    services.reject_material(reviewer, material, comments=REASON)

    assert notified() == [(author.id, "material_rejected")]
    [notice] = db.session.scalars(select(Notification))
    assert material.code_label in notice.title
    assert "returned to draft by Rita Reviewer" in notice.title
    assert "reviewer's reasons" in notice.title
    [mail] = mailed()
    assert mail.to == author.email
    # Minimum necessary: the reasons are on the page the notice links to, not in the notice.
    assert REASON not in notice.title and REASON not in mail.body


def test_the_author_reads_the_reasons_where_the_rejection_notice_points(client, in_review):
    author, reviewer, material = in_review
    services.reject_material(reviewer, material, comments=REASON)
    [notice] = db.session.scalars(select(Notification))
    login(client, author.email)

    opened = client.post(f"/notifications/{notice.id}")
    page = client.get(opened.headers["Location"])

    assert page.status_code == 200
    assert REASON in page.get_data(as_text=True)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_refused_decision_notifies_nobody(in_review, decision):
    _author, _reviewer, material = in_review
    outsider = make_user(Role.REP)

    with pytest.raises(PermissionDenied):
        if decision == "approve":
            services.approve_material(outsider, material)
        else:
            services.reject_material(outsider, material, comments=REASON)

    db.session.rollback()
    assert notified() == []
    assert mailed() == []
