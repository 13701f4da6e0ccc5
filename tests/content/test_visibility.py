"""Who sees which material, when: dates to the microsecond, audiences, verification, the
commercial/medical firewall, withdrawal and retirement, on every surface of the library; and the
SQL rule agreeing with the Python one."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from content import services
from content.models import Material
from content.services import Filters, Upload
from portal import policy
from portal.errors import NotFound, PermissionDenied
from portal.extensions import db
from portal.models import Profession, Role, User, Verification, utcnow
from tests.content.factories import DAY, make_author, make_material, make_reviewer
from tests.factories import make_hcp, make_user

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
MICROSECOND = dt.timedelta(microseconds=1)

COMMERCIAL = [Role.REP, Role.MARKET_ACCESS]
MEDICAL = [Role.MSL, Role.MEDICAL_INFORMATION, Role.PHARMACOVIGILANCE, Role.QUALITY]
MANAGERS = [Role.CONTENT_MANAGER, Role.MLR_REVIEWER, Role.COMPLIANCE]
STATES = ["draft", "in_review", "approved", "published", "expired", "withdrawn", "retired"]


def with_file() -> Upload:
    return Upload(io.BytesIO(PDF), "guide.pdf")


# --- the surfaces of the library: does ``actor`` meet ``material`` there? -----------------------


def in_browse(actor: User, material: Material) -> bool:
    page = services.browse(actor, Filters())
    return material.id in {item.material.id for item in page.items}


def in_search(actor: User, material: Material) -> bool:
    page = services.search(actor, "material", Filters(), limit=200)
    return material.id in {item.material.id for item in page.items}


def in_recommendations(actor: User, material: Material) -> bool:
    return material.id in {m.id for m in services.recommendations(actor, limit=200)}


def opens(actor: User, material: Material) -> bool:
    try:
        services.get_material(actor, material.id)
    except NotFound:
        return False
    return True


def in_bookmarks(actor: User, material: Material) -> bool:
    return material.id in {m.id for m in services.my_library(actor).bookmarks}


Surface = Callable[[User, Material], bool]
SURFACES: dict[str, Surface] = {
    "browse": in_browse,
    "search": in_search,
    "get_material": opens,
}
HCP_SURFACES: dict[str, Surface] = {**SURFACES, "recommendations": in_recommendations}


def seen_on(surfaces: dict[str, Surface], actor: User, material: Material) -> dict[str, bool]:
    return {name: surface(actor, material) for name, surface in surfaces.items()}


def everywhere(surfaces: dict[str, Surface], value: bool) -> dict[str, bool]:
    return dict.fromkeys(surfaces, value)


def downloads(actor: User, material: Material) -> bool:
    try:
        services.open_download(actor, material)
    except (NotFound, PermissionDenied):
        return False
    return True


# --- dates --------------------------------------------------------------------------------------


def test_material_appears_at_its_effective_instant_and_not_a_microsecond_before(app):
    start = utcnow()
    effective = start + 3 * DAY + dt.timedelta(microseconds=123_457)
    material = make_material(status="approved", effective_at=effective, upload=with_file())
    hcp = make_hcp()

    with time_machine.travel(effective - MICROSECOND, tick=False):
        assert seen_on(HCP_SURFACES, hcp, material) == everywhere(HCP_SURFACES, False)
        assert not policy.can_view_material(hcp, material, utcnow())
    with time_machine.travel(effective, tick=False):
        assert seen_on(HCP_SURFACES, hcp, material) == everywhere(HCP_SURFACES, True)
        assert policy.can_view_material(hcp, material, utcnow())


def test_material_disappears_at_its_expiry_instant(app):
    start = utcnow()
    expires = start + 3 * DAY + dt.timedelta(microseconds=654_321)
    material = make_material(expires_at=expires)
    hcp = make_hcp()

    with time_machine.travel(expires - MICROSECOND, tick=False):
        assert seen_on(HCP_SURFACES, hcp, material) == everywhere(HCP_SURFACES, True)
    with time_machine.travel(expires, tick=False):
        assert seen_on(HCP_SURFACES, hcp, material) == everywhere(HCP_SURFACES, False)
        assert not policy.can_view_material(hcp, material, utcnow())


def test_expired_material_leaves_my_library_but_the_bookmark_is_kept(app):
    start = utcnow()
    material = make_material(expires_at=start + 2 * DAY)
    hcp = make_hcp()
    services.set_bookmark(hcp, material, on=True)
    services.record_view(hcp, material)

    with time_machine.travel(start + 3 * DAY, tick=False):
        library = services.my_library(hcp)
        assert library.bookmarks == [] and library.history == []

    assert services.is_bookmarked(hcp, material)


# --- audience -----------------------------------------------------------------------------------

# The HCP is a US physician in cardiology; an empty audience list means everyone.
AUDIENCES = [
    pytest.param({}, True, id="everyone"),
    pytest.param({"professions": ["physician", "pharmacist"]}, True, id="profession-listed"),
    pytest.param({"specialties": ["Oncology", "Cardiology"]}, True, id="specialty-listed"),
    pytest.param({"countries": ["CA", "US"]}, True, id="country-listed"),
    pytest.param(
        {"professions": ["physician"], "specialties": ["Cardiology"], "countries": ["US"]},
        True,
        id="all-three-listed",
    ),
    pytest.param({"professions": ["pharmacist"]}, False, id="other-profession"),
    pytest.param({"professions": ["physician_assistant"]}, False, id="profession-prefix"),
    pytest.param({"specialties": ["Oncology"]}, False, id="other-specialty"),
    pytest.param({"countries": ["CA"]}, False, id="other-country"),
    pytest.param(
        {"professions": ["physician"], "specialties": ["Cardiology"], "countries": ["GB"]},
        False,
        id="only-the-country-differs",
    ),
    pytest.param(
        {"professions": ["nurse"], "specialties": ["Cardiology"], "countries": ["US"]},
        False,
        id="only-the-profession-differs",
    ),
]


@pytest.mark.parametrize(("audience", "meant_for_them"), AUDIENCES)
def test_audience_decides_what_an_hcp_meets_everywhere(app, audience, meant_for_them):
    material = make_material(**audience)
    hcp = make_hcp(profession=Profession.PHYSICIAN, specialty="Cardiology", country="US")

    assert seen_on(HCP_SURFACES, hcp, material) == everywhere(HCP_SURFACES, meant_for_them)
    assert policy.can_view_material(hcp, material, utcnow()) is meant_for_them


@pytest.mark.parametrize(("audience", "meant_for_them"), AUDIENCES)
def test_hcp_downloads_only_material_meant_for_them(app, audience, meant_for_them):
    material = make_material(upload=with_file(), **audience)
    hcp = make_hcp(profession=Profession.PHYSICIAN, specialty="Cardiology", country="US")

    assert downloads(hcp, material) is meant_for_them


def _withdrawn() -> Material:
    material = make_material(upload=with_file())
    return services.withdraw_material(make_author(), material, reason="Safety update.")


@pytest.mark.parametrize(
    ("actor_of", "material_of"),
    [
        pytest.param(
            lambda: make_hcp(verification=Verification.PENDING),
            lambda: make_material(upload=with_file()),
            id="pending-hcp",
        ),
        pytest.param(
            lambda: make_hcp(suspended=True),
            lambda: make_material(upload=with_file()),
            id="suspended-hcp",
        ),
        pytest.param(make_hcp, _withdrawn, id="withdrawn"),
        pytest.param(
            make_hcp, lambda: make_material(status="expired", upload=with_file()), id="expired"
        ),
        pytest.param(
            make_hcp, lambda: make_material(status="approved", upload=with_file()), id="scheduled"
        ),
        pytest.param(
            lambda: make_user(Role.REP),
            lambda: make_material(classification="medical", upload=with_file()),
            id="rep-and-medical-material",
        ),
    ],
)
def test_nobody_downloads_material_they_may_not_open(app, actor_of, material_of):
    material = material_of()
    actor = actor_of()
    assert not opens(actor, material)

    assert not downloads(actor, material)


def test_hcp_bookmarks_only_material_meant_for_them(app):
    mine = make_material(specialties=["Cardiology"])
    not_mine = make_material(specialties=["Oncology"])
    hcp = make_hcp(specialty="Cardiology")

    services.set_bookmark(hcp, mine, on=True)
    with pytest.raises((NotFound, PermissionDenied)):
        services.set_bookmark(hcp, not_mine, on=True)

    assert services.is_bookmarked(hcp, mine)
    assert not services.is_bookmarked(hcp, not_mine)


def test_specialty_with_spaces_is_matched_whole(app):
    material = make_material(specialties=["Hospital pharmacy"])
    pharmacist = make_hcp(profession=Profession.PHARMACIST, specialty="Hospital pharmacy")
    other = make_hcp(profession=Profession.PHARMACIST, specialty="Other")

    assert opens(pharmacist, material) and in_browse(pharmacist, material)
    assert not opens(other, material) and not in_browse(other, material)


@pytest.mark.parametrize(
    "hcp_of",
    [
        pytest.param(lambda: make_hcp(verification=Verification.PENDING), id="pending"),
        pytest.param(lambda: make_hcp(verification=Verification.REJECTED), id="rejected"),
        pytest.param(lambda: make_hcp(suspended=True), id="suspended"),
    ],
)
def test_unverified_or_suspended_hcp_sees_nothing(app, hcp_of):
    material = make_material(upload=with_file())
    hcp = hcp_of()

    assert seen_on(HCP_SURFACES, hcp, material) == everywhere(HCP_SURFACES, False)
    assert services.recommendations(hcp) == []
    assert services.facets(hcp) == {"products": [], "areas": [], "kinds": []}


# --- staff --------------------------------------------------------------------------------------


def staff_expectation(role: Role, state: str, classification: str) -> bool:
    if role in MANAGERS:
        return True
    if state != "published":
        return False
    if role in COMMERCIAL:
        return classification == "promotional"
    return role in MEDICAL


STAFF_CASES = [
    pytest.param(role, state, classification, id=f"{role.value}-{state}-{classification}")
    for role in Role
    if role is not Role.HCP
    for state in STATES
    for classification in ("promotional", "medical")
]


@pytest.mark.parametrize(("role", "state", "classification"), STAFF_CASES)
def test_staff_open_material_by_role_state_and_classification(app, role, state, classification):
    material = make_material(status=state, classification=classification)
    actor = make_user(role)
    expected = staff_expectation(role, state, classification)

    assert opens(actor, material) is expected
    # The library lists the published shelf only, whoever reads it.
    listed = expected and state == "published"
    assert in_browse(actor, material) is listed
    assert in_search(actor, material) is listed


@pytest.mark.parametrize("role", [*COMMERCIAL, *MEDICAL, *MANAGERS])
def test_suspended_staff_see_nothing(app, role):
    material = make_material(classification="promotional")
    actor = make_user(role, suspended=True)

    assert seen_on(SURFACES, actor, material) == everywhere(SURFACES, False)


SHARING = [
    (Role.REP, "promotional", True),
    (Role.REP, "medical", False),
    (Role.MARKET_ACCESS, "promotional", True),
    (Role.MARKET_ACCESS, "medical", False),
    (Role.MSL, "medical", True),
    (Role.MSL, "promotional", True),
    (Role.MEDICAL_INFORMATION, "medical", True),
    (Role.CONTENT_MANAGER, "promotional", False),
    (Role.COMPLIANCE, "promotional", False),
    (Role.HCP, "promotional", False),
]


@pytest.mark.parametrize(("role", "classification", "may_share"), SHARING)
def test_reps_share_promotional_material_and_medical_roles_share_medical(
    app, role, classification, may_share
):
    material = make_material(classification=classification)
    # Each colleague covers the material's product: here only the classification decides.
    actor = make_user(role, products=[material.product])

    assert policy.can_share_material(actor, material, utcnow()) is may_share


@pytest.mark.parametrize("state", ["draft", "in_review", "approved", "expired", "withdrawn"])
@pytest.mark.parametrize("role", [Role.REP, Role.MSL])
def test_nobody_shares_material_that_is_not_published(app, state, role):
    material = make_material(status=state, classification="promotional")

    actor = make_user(role, products=[material.product])
    assert not policy.can_share_material(actor, material, utcnow())


def test_suspended_msl_cannot_share(app):
    material = make_material(classification="medical")
    msl = make_user(Role.MSL, suspended=True, products=[material.product])
    assert not policy.can_share_material(msl, material, utcnow())


# --- withdrawal and versions --------------------------------------------------------------------


def test_withdrawn_material_disappears_at_once_everywhere(app):
    author = make_author()
    material = make_material(author, upload=with_file())
    hcp = make_hcp()
    rep = make_user(Role.REP, products=[material.product])
    assert policy.can_share_material_with(rep, material, hcp, utcnow())
    services.set_bookmark(hcp, material, on=True)
    services.record_view(make_hcp(), material)
    surfaces = {**SURFACES, "bookmarks": in_bookmarks}
    assert seen_on(surfaces, hcp, material) == everywhere(surfaces, True)

    services.withdraw_material(author, material, reason="Safety information changed.")

    assert seen_on(surfaces, hcp, material) == everywhere(surfaces, False)
    assert not in_recommendations(hcp, material)
    assert seen_on(SURFACES, rep, material) == everywhere(SURFACES, False)
    assert not policy.can_share_material(rep, material, utcnow())
    assert services.get_current_version(hcp, material.family_id) is None


def test_withdrawn_material_leaves_the_history_of_those_who_opened_it(app):
    material = make_material()
    hcp = make_hcp()
    services.record_view(hcp, material)
    assert [m.id for m, _ in services.my_library(hcp).history] == [material.id]

    services.withdraw_material(make_author(), material, reason="Safety information changed.")

    assert services.my_library(hcp).history == []


def test_retired_version_is_invisible_while_its_successor_is_visible(app):
    author = make_author()
    v1 = make_material(author)
    v2 = services.new_version(author, v1)
    services.submit_for_review(author, v2)
    services.approve_material(make_reviewer(), v2)
    hcp = make_hcp()

    assert seen_on(HCP_SURFACES, hcp, v1) == everywhere(HCP_SURFACES, False)
    assert seen_on(HCP_SURFACES, hcp, v2) == everywhere(HCP_SURFACES, True)
    current = services.get_current_version(hcp, v1.family_id)
    assert current is not None and current.id == v2.id
    assert opens(make_user(Role.COMPLIANCE), v1)  # kept for the record


def test_draft_of_a_new_version_is_invisible_while_the_approved_one_stays(app):
    author = make_author()
    v1 = make_material(author)
    v2 = services.new_version(author, v1)
    hcp = make_hcp()

    assert seen_on(HCP_SURFACES, hcp, v1) == everywhere(HCP_SURFACES, True)
    assert seen_on(HCP_SURFACES, hcp, v2) == everywhere(HCP_SURFACES, False)


# --- the SQL rule and the Python rule agree -----------------------------------------------------


def _actors() -> dict[str, User]:
    actors: dict[str, User] = {
        f"staff-{role.value}": make_user(role) for role in Role if role is not Role.HCP
    }
    actors["suspended-msl"] = make_user(Role.MSL, suspended=True)
    actors["suspended-content-manager"] = make_user(Role.CONTENT_MANAGER, suspended=True)
    actors["hcp-cardiologist-us"] = make_hcp(specialty="Cardiology", country="US")
    actors["hcp-oncologist-us"] = make_hcp(specialty="Oncology", country="US")
    actors["hcp-cardiologist-de"] = make_hcp(specialty="Cardiology", country="DE")
    actors["hcp-pharmacist"] = make_hcp(profession=Profession.PHARMACIST, specialty="Cardiology")
    actors["hcp-pending"] = make_hcp(verification=Verification.PENDING)
    actors["hcp-rejected"] = make_hcp(verification=Verification.REJECTED)
    actors["hcp-suspended"] = make_hcp(suspended=True)
    return actors


def _materials(at: dt.datetime) -> list[Material]:
    author = make_author()
    audiences: list[dict[str, Any]] = [
        {},
        {"specialties": ["Cardiology"], "countries": ["US"]},
        {"professions": ["pharmacist"]},
        {"specialties": ["Oncology", "Cardiology"], "countries": ["DE", "US"]},
    ]
    materials = [
        make_material(author, status=state, classification=classification, **audience)
        for state in STATES
        for classification in ("promotional", "medical")
        for audience in audiences
    ]
    # At the instant ``at`` one material takes effect and another expires.
    materials.append(make_material(author, status="approved", effective_at=at))
    materials.append(make_material(author, effective_at=at - DAY, expires_at=at))
    return materials


def test_visible_clause_and_can_view_material_agree(app):
    at = (utcnow() + 5 * DAY).replace(microsecond=250_000)
    materials = _materials(at)
    actors = _actors()
    ids = [m.id for m in materials]

    disagreements: dict[str, Any] = {}
    for when in (utcnow(), at - MICROSECOND, at):
        for name, actor in actors.items():
            in_sql = set(
                db.session.scalars(
                    select(Material.id).where(
                        Material.id.in_(ids), services.visible_clause(actor, when)
                    )
                )
            )
            in_python = {m.id for m in materials if policy.can_view_material(actor, m, when)}
            if in_sql != in_python:
                disagreements[f"{name}@{when.isoformat()}"] = in_sql ^ in_python
    assert disagreements == {}


def test_the_agreement_table_is_not_trivial(app):
    # The table above would agree on "nothing visible to anyone": check it covers both answers.
    at = (utcnow() + 5 * DAY).replace(microsecond=250_000)
    materials = _materials(at)
    actors = _actors()
    now = utcnow()

    answers = {
        (name, policy.can_view_material(actor, m, now))
        for name, actor in actors.items()
        for m in materials
    }
    for name in ("staff-rep", "staff-msl", "hcp-cardiologist-us", "hcp-oncologist-us"):
        assert (name, True) in answers and (name, False) in answers
    assert ("hcp-pending", True) not in answers
    assert ("staff-admin", True) not in answers
