""" "For you" recommendations, and "My library": bookmarks that follow a material across versions,
and the history of what the HCP opened."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from sqlalchemy import func, select

from content import services
from content.models import Bookmark, Material
from content.services import Upload
from portal.errors import NotFound, PermissionDenied
from portal.extensions import db
from portal.models import Profession, Role, User, Verification, utcnow
from tests.content.factories import DAY, make_author, make_material, make_reviewer, material_input
from tests.factories import make_hcp, make_user


def recommended(hcp: User, limit: int = 50) -> list[int]:
    return [m.id for m in services.recommendations(hcp, limit=limit)]


def approve_new_version(author: User, material: Material, **changes: object) -> Material:
    successor = services.new_version(author, material)
    if changes:
        services.update_material(
            author,
            successor,
            material_input(approval_code=material.approval_code, **changes),
        )
    services.submit_for_review(author, successor)
    return services.approve_material(make_reviewer(), successor)


def hours(count: int) -> dt.timedelta:
    return dt.timedelta(hours=count)


def cardiologist() -> User:
    return make_hcp(specialty="Cardiology", country="US", profession=Profession.PHYSICIAN)


# --- who gets recommendations -------------------------------------------------------------------


def test_verified_hcp_gets_published_material_meant_for_them(app):
    material = make_material()

    assert recommended(cardiologist()) == [material.id]


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.HCP])
def test_staff_get_no_recommendations(app, role):
    make_material()

    assert services.recommendations(make_user(role)) == []


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"verification": Verification.PENDING}, id="pending"),
        pytest.param({"verification": Verification.REJECTED}, id="rejected"),
        pytest.param({"suspended": True}, id="suspended"),
    ],
)
def test_unverified_or_suspended_hcp_gets_no_recommendations(app, overrides):
    make_material()

    assert services.recommendations(make_hcp(**overrides)) == []


@pytest.mark.parametrize(
    ("status", "overrides"),
    [
        pytest.param("draft", {}, id="draft"),
        pytest.param("in_review", {}, id="in-review"),
        pytest.param("approved", {}, id="scheduled"),
        pytest.param("expired", {}, id="expired"),
        pytest.param("withdrawn", {}, id="withdrawn"),
        pytest.param("retired", {}, id="retired"),
        pytest.param("published", {"specialties": ["Oncology"]}, id="other-specialty"),
        pytest.param("published", {"countries": ["DE"]}, id="other-country"),
        pytest.param("published", {"professions": ["nurse"]}, id="other-profession"),
    ],
)
def test_material_the_hcp_may_not_see_is_never_recommended(app, status, overrides):
    hidden = make_material(status=status, **overrides)
    shown = make_material()

    result = recommended(cardiologist())

    assert hidden.id not in result
    assert shown.id in result


def test_material_already_viewed_is_not_recommended(app):
    seen = make_material()
    unseen = make_material()
    hcp = cardiologist()

    services.record_view(hcp, seen)

    assert recommended(hcp) == [unseen.id]


def test_material_already_downloaded_is_not_recommended(app):
    downloaded = make_material(upload=Upload(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "guide.pdf"))
    hcp = cardiologist()

    services.open_download(hcp, downloaded)

    assert downloaded.id not in recommended(hcp)


def test_new_version_of_material_already_viewed_is_not_recommended(app):
    author = make_author()
    v1 = make_material(author)
    hcp = cardiologist()
    services.record_view(hcp, v1)

    v2 = approve_new_version(author, v1)

    assert v2.id not in recommended(hcp)


def test_what_another_hcp_viewed_is_still_recommended_to_me(app):
    material = make_material()
    services.record_view(cardiologist(), material)

    assert recommended(cardiologist()) == [material.id]


def test_recommendations_respect_the_limit(app):
    for _ in range(5):
        make_material()

    assert len(recommended(cardiologist(), limit=3)) == 3


# --- ranking ------------------------------------------------------------------------------------


def test_material_for_the_hcps_specialty_comes_first(app):
    now = utcnow()
    targeted = make_material(specialties=["Cardiology"], effective_at=now - 60 * DAY)
    for_everyone = make_material(effective_at=now - DAY)

    assert recommended(cardiologist()) == [targeted.id, for_everyone.id]


def test_material_in_the_hcps_therapeutic_area_comes_before_others(app):
    now = utcnow()
    in_area = make_material(therapeutic_area="Cardiology", effective_at=now - 30 * DAY)
    elsewhere = make_material(therapeutic_area="Oncology", effective_at=now - DAY)

    assert recommended(cardiologist()) == [in_area.id, elsewhere.id]


def test_audience_specialty_weighs_more_than_therapeutic_area(app):
    now = utcnow()
    area_only = make_material(therapeutic_area="Cardiology", effective_at=now - DAY)
    targeted = make_material(
        therapeutic_area="Nephrology", specialties=["Cardiology"], effective_at=now - DAY
    )

    assert recommended(cardiologist()) == [targeted.id, area_only.id]


def test_views_by_peers_of_the_same_specialty_lift_a_material(app):
    now = utcnow()
    popular = make_material(therapeutic_area="General", effective_at=now - 2 * DAY)
    quiet = make_material(therapeutic_area="General", effective_at=now - 2 * DAY)
    assert recommended(cardiologist()) == [quiet.id, popular.id]  # newest id wins a tie

    for _ in range(2):
        services.record_view(cardiologist(), popular)

    assert recommended(cardiologist()) == [popular.id, quiet.id]


def test_views_by_hcps_of_another_specialty_do_not_lift_a_material(app):
    now = utcnow()
    viewed_elsewhere = make_material(therapeutic_area="General", effective_at=now - 2 * DAY)
    quiet = make_material(therapeutic_area="General", effective_at=now - 2 * DAY)

    for _ in range(3):
        services.record_view(make_hcp(specialty="Oncology"), viewed_elsewhere)

    assert recommended(cardiologist()) == [quiet.id, viewed_elsewhere.id]


def test_one_peer_viewing_many_times_counts_once(app):
    now = utcnow()
    by_one = make_material(therapeutic_area="General", effective_at=now - 2 * DAY)
    by_two = make_material(therapeutic_area="General", effective_at=now - 2 * DAY)
    keen = cardiologist()
    for _ in range(5):
        services.record_view(keen, by_one)
    for _ in range(2):
        services.record_view(cardiologist(), by_two)

    assert recommended(cardiologist()) == [by_two.id, by_one.id]


def test_old_peer_views_no_longer_lift_a_material(app):
    start = utcnow()
    popular_long_ago = make_material(therapeutic_area="General", effective_at=start - 2 * DAY)
    quiet = make_material(therapeutic_area="General", effective_at=start - 2 * DAY)
    with time_machine.travel(start - 100 * DAY, tick=False):
        peers = [cardiologist() for _ in range(3)]
    for peer in peers:
        with time_machine.travel(start - 95 * DAY, tick=False):
            services.record_view(peer, popular_long_ago)

    assert recommended(cardiologist()) == [quiet.id, popular_long_ago.id]


def test_recency_breaks_ties(app):
    now = utcnow()
    newer = make_material(therapeutic_area="General", effective_at=now - DAY)
    older = make_material(therapeutic_area="General", effective_at=now - 40 * DAY)

    assert recommended(cardiologist()) == [newer.id, older.id]


# --- bookmarks ----------------------------------------------------------------------------------


def bookmarks(hcp: User) -> list[int]:
    return [m.id for m in services.my_library(hcp).bookmarks]


def bookmark_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(Bookmark)) or 0


def test_hcp_bookmarks_and_unbookmarks_a_material(app):
    material = make_material()
    hcp = cardiologist()

    services.set_bookmark(hcp, material, on=True)
    services.set_bookmark(hcp, material, on=True)
    assert services.is_bookmarked(hcp, material)
    assert bookmarks(hcp) == [material.id]
    assert bookmark_rows() == 1

    services.set_bookmark(hcp, material, on=False)
    services.set_bookmark(hcp, material, on=False)
    assert not services.is_bookmarked(hcp, material)
    assert bookmarks(hcp) == []
    assert bookmark_rows() == 0


def test_bookmarks_are_personal(app):
    material = make_material()
    mine = cardiologist()
    colleague = cardiologist()

    services.set_bookmark(mine, material, on=True)

    assert bookmarks(colleague) == []
    assert not services.is_bookmarked(colleague, material)


@pytest.mark.parametrize("status", ["draft", "in_review", "approved", "expired", "withdrawn"])
def test_material_the_hcp_may_not_see_cannot_be_bookmarked(app, status):
    material = make_material(status=status)
    hcp = cardiologist()

    with pytest.raises((PermissionDenied, NotFound)):
        services.set_bookmark(hcp, material, on=True)

    assert bookmark_rows() == 0


def test_my_library_lists_bookmarks_by_title(app):
    zebra = make_material(title="Zebra guide")
    alpha = make_material(title="Alpha guide")
    make_material(title="Not bookmarked")
    hcp = cardiologist()
    services.set_bookmark(hcp, zebra, on=True)
    services.set_bookmark(hcp, alpha, on=True)

    assert bookmarks(hcp) == [alpha.id, zebra.id]


def test_bookmark_follows_the_family_to_the_new_version_once_approved(app):
    author = make_author()
    v1 = make_material(author, title="Guide")
    hcp = cardiologist()
    services.set_bookmark(hcp, v1, on=True)

    v2 = services.new_version(author, v1)
    services.submit_for_review(author, v2)
    assert bookmarks(hcp) == [v1.id]

    services.approve_material(make_reviewer(), v2)

    assert bookmarks(hcp) == [v2.id]
    assert services.is_bookmarked(hcp, v2)


def test_bookmark_disappears_when_the_material_is_withdrawn(app):
    author = make_author()
    material = make_material(author)
    hcp = cardiologist()
    services.set_bookmark(hcp, material, on=True)

    services.withdraw_material(author, material, reason="Safety information changed.")

    assert bookmarks(hcp) == []


def test_bookmark_disappears_when_the_new_version_is_no_longer_meant_for_the_hcp(app):
    author = make_author()
    v1 = make_material(author)
    hcp = cardiologist()
    services.set_bookmark(hcp, v1, on=True)

    approve_new_version(author, v1, specialties=["Oncology"])

    assert bookmarks(hcp) == []


# --- history ------------------------------------------------------------------------------------


def test_history_lists_what_the_hcp_opened_most_recent_first(app):
    start = utcnow()
    first = make_material()
    second = make_material()
    make_material()
    hcp = cardiologist()
    with time_machine.travel(start + hours(1), tick=False):
        services.record_view(hcp, first)
    with time_machine.travel(start + hours(2), tick=False):
        services.record_view(hcp, second)
    with time_machine.travel(start + hours(3), tick=False):
        services.record_view(hcp, first)

    history = services.my_library(hcp).history

    assert [(m.id, at) for m, at in history] == [
        (first.id, start + hours(3)),
        (second.id, start + hours(2)),
    ]


def test_history_is_limited(app):
    hcp = cardiologist()
    for _ in range(4):
        services.record_view(hcp, make_material())

    assert len(services.my_library(hcp, history_limit=3).history) == 3


def test_history_shows_the_current_version_of_what_was_opened(app):
    author = make_author()
    v1 = make_material(author)
    hcp = cardiologist()
    services.record_view(hcp, v1)

    v2 = approve_new_version(author, v1)

    assert [m.id for m, _ in services.my_library(hcp).history] == [v2.id]
