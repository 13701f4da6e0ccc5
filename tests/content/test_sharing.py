"""Sharing follows the audience rule: a colleague offers and hands an HCP only material that HCP
may see (audience, country, dates, an approved version) and that the colleague may share (their
products, their side's classification), in an answer to a question and in a chat alike; and the
SQL list agrees with the Python rule that accepts a material."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import pytest
from sqlalchemy import func, select

from chat import messages as chat_messages
from chat.models import Message
from content import services
from content.models import Material
from portal import policy
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import Product, Profession, Role, User, Verification, utcnow
from portal.questions import work
from portal.questions.models import Question, QuestionAttachment, QuestionStatus
from tests.chat.factories import active_conversation
from tests.content.factories import DAY, make_author, make_material
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import NOTHING, ask

MICROSECOND = dt.timedelta(microseconds=1)
EUROPE = ["DE", "FR", "ES", "GB"]


# --- the world of a case: a US cardiologist, a colleague covering one product ---------------------
@dataclasses.dataclass
class World:
    hcp: User
    staff: User
    covered: Product
    other: Product


def world(role: Role) -> World:
    """A verified US cardiologist and a colleague of ``role`` in the HCP's territory who covers
    one product (``covered``) and not another (``other``)."""
    territory = make_territory(country="US")
    hcp = make_hcp(
        profession=Profession.PHYSICIAN, specialty="Cardiology", country="US", territory=territory
    )
    covered, other = make_product(), make_product()
    staff = make_user(role, territories=[territory], products=[covered])
    return World(hcp, staff, covered, other)


# Materials by what sets them apart; each builds on the colleague's covered product unless it says.
MaterialOf = Callable[[World], Material]
MATERIALS: dict[str, MaterialOf] = {
    "promotional": lambda w: make_material(product=w.covered, classification="promotional"),
    "medical": lambda w: make_material(product=w.covered, classification="medical"),
    "promotional-for-us-cardiologists": lambda w: make_material(
        product=w.covered,
        professions=["physician"],
        specialties=["Cardiology"],
        countries=["US"],
    ),
    "promotional-for-europe": lambda w: make_material(product=w.covered, countries=EUROPE),
    "medical-for-europe": lambda w: make_material(
        product=w.covered, classification="medical", countries=EUROPE
    ),
    "promotional-for-oncologists": lambda w: make_material(
        product=w.covered, specialties=["Oncology"]
    ),
    "promotional-for-pharmacists": lambda w: make_material(
        product=w.covered, professions=["pharmacist"]
    ),
    "promotional-uncovered-product": lambda w: make_material(product=w.other),
    "medical-uncovered-product": lambda w: make_material(product=w.other, classification="medical"),
    "promotional-expired": lambda w: make_material(status="expired", product=w.covered),
    "promotional-scheduled": lambda w: make_material(status="approved", product=w.covered),
    "promotional-withdrawn": lambda w: make_material(status="withdrawn", product=w.covered),
    "promotional-retired-version": lambda w: make_material(status="retired", product=w.covered),
    "promotional-draft": lambda w: make_material(status="draft", product=w.covered),
    "promotional-in-review": lambda w: make_material(status="in_review", product=w.covered),
}
FOR_COMMERCIAL = {"promotional", "promotional-for-us-cardiologists"}
FOR_MEDICAL = FOR_COMMERCIAL | {"medical"}


def expected(role: Role, material: str) -> bool:
    return material in (
        FOR_COMMERCIAL if policy.side_of(role).value == "commercial" else FOR_MEDICAL
    )


# --- the two places a colleague hands an HCP material ---------------------------------------------
class Surface(Protocol):
    """Where ``staff`` offers material to ``hcp`` and hands one over."""

    def prepare(self, w: World) -> Any: ...

    def offered(self, w: World, place: Any) -> set[int]: ...

    def accept(self, w: World, place: Any, material: Material) -> None: ...

    def handed(self, place: Any) -> int: ...


class QuestionSurface(Surface):
    """An answer to the HCP's question, with attachments."""

    CATEGORY = {
        Role.REP: "samples",
        Role.MARKET_ACCESS: "access",
        Role.MEDICAL_INFORMATION: "dosing",
    }

    def prepare(self, w: World) -> Question:
        question = ask(w.hcp, category=self.CATEGORY[w.staff.role], text="Could you help me?")
        assert question.assignee_id == w.staff.id
        return question

    def offered(self, w: World, place: Question) -> set[int]:
        return {m.id for m in work.shareable_materials(w.staff, place)}

    def accept(self, w: World, place: Question, material: Material) -> None:
        work.reply_to_question(
            w.staff, place.id, body="Here.", material_ids=[material.id], attestation=NOTHING
        )

    def handed(self, place: Question) -> int:
        db.session.refresh(place)
        return db.session.scalar(select(func.count()).select_from(QuestionAttachment)) or 0


class ChatSurface(Surface):
    """A material card in the HCP's chat with the colleague."""

    def prepare(self, w: World) -> Any:
        return active_conversation(w.hcp, w.staff)

    def offered(self, w: World, place: Any) -> set[int]:
        return {m["id"] for m in chat_messages.shareable_materials(w.staff, place.id)}

    def accept(self, w: World, place: Any, material: Material) -> None:
        chat_messages.send_message(
            w.staff, place.id, client_id=str(uuid.uuid4()), material_id=material.id
        )

    def handed(self, place: Any) -> int:
        return db.session.scalar(select(func.count()).select_from(Message)) or 0


SURFACES = {
    "question": (QuestionSurface(), [Role.REP, Role.MARKET_ACCESS, Role.MEDICAL_INFORMATION]),
    "chat": (ChatSurface(), [Role.REP, Role.MSL]),
}
CASES = [
    pytest.param(surface, role, name, id=f"{surface}-{role.value}-{name}")
    for surface, (_, roles) in SURFACES.items()
    for role in roles
    for name in MATERIALS
]


@pytest.mark.parametrize(("surface", "role", "name"), CASES)
def test_a_colleague_offers_and_hands_only_material_the_hcp_may_see_and_they_may_share(
    app, surface, role, name
):
    target, _roles = SURFACES[surface]
    w = world(role)
    material = MATERIALS[name](w)
    place = target.prepare(w)
    may = expected(role, name)

    assert (material.id in target.offered(w, place)) is may
    assert policy.can_share_material_with(w.staff, material, w.hcp, utcnow()) is may
    if may:
        target.accept(w, place, material)
        assert target.handed(place) == 1
        # What reached the HCP is what the library shows them.
        assert services.get_material(w.hcp, material.id).id == material.id
    else:
        with pytest.raises(InvalidInput) as refused:
            target.accept(w, place, material)
        message = refused.value.message
        assert "cannot share" in message or message == "That material is not available."
        assert target.handed(place) == 0


# --- the finding, as reported ---------------------------------------------------------------------
def test_rep_answering_a_us_samples_question_cannot_attach_europe_pieces_or_an_uncovered_product(
    app,
):
    w = world(Role.REP)
    for_europe = [make_material(product=w.covered, countries=EUROPE) for _ in range(2)]
    uncovered = make_material(product=w.other)
    meant_for_them = make_material(product=w.covered, countries=["US"])
    question = ask(w.hcp, category="samples", text="Could I get starter samples please?")

    offered = {m.id for m in work.shareable_materials(w.staff, question)}
    assert offered == {meant_for_them.id}

    for material in for_europe:
        with pytest.raises(InvalidInput, match="not meant for their profession, specialty or"):
            work.reply_to_question(
                w.staff, question.id, body="See these", material_ids=[meant_for_them.id,
                material.id], attestation=NOTHING,
            )  # fmt: skip
    with pytest.raises(InvalidInput, match="a product you do not cover"):
        work.reply_to_question(
            w.staff, question.id, body="See this", material_ids=[uncovered.id],
            attestation=NOTHING,
        )  # fmt: skip
    db.session.refresh(question)
    assert question.status is not QuestionStatus.ANSWERED
    assert db.session.scalar(select(func.count()).select_from(QuestionAttachment)) == 0


def test_msl_chat_share_list_offers_only_material_for_this_hcp(app):
    w = world(Role.MSL)
    mine = make_material(product=w.covered, classification="medical")
    for_europe = make_material(product=w.covered, classification="medical", countries=EUROPE)
    uncovered = make_material(product=w.other, classification="medical")
    conversation = active_conversation(w.hcp, w.staff)

    offered = {m["id"] for m in chat_messages.shareable_materials(w.staff, conversation.id)}

    assert mine.id in offered
    assert for_europe.id not in offered and uncovered.id not in offered
    with pytest.raises(InvalidInput, match="not meant for their"):
        chat_messages.send_message(
            w.staff, conversation.id, client_id=str(uuid.uuid4()), material_id=for_europe.id
        )


def test_medical_information_attachment_list_offers_only_material_for_this_hcp(app):
    w = world(Role.MEDICAL_INFORMATION)
    mine = make_material(product=w.covered, classification="medical")
    for_oncologists = make_material(
        product=w.covered, classification="medical", specialties=["Oncology"]
    )
    uncovered = make_material(product=w.other, classification="medical")
    question = ask(w.hcp)

    offered = {m.id for m in work.shareable_materials(w.staff, question)}

    assert offered == {mine.id}
    assert for_oncologists.id not in offered and uncovered.id not in offered


def test_a_european_hcp_is_offered_the_europe_piece_a_us_hcp_is_not(app):
    w = world(Role.MSL)
    for_europe = make_material(product=w.covered, classification="medical", countries=EUROPE)
    german = make_hcp(country="DE", specialty="Cardiology")
    now = utcnow()

    assert policy.can_share_material_with(w.staff, for_europe, german, now)
    assert not policy.can_share_material_with(w.staff, for_europe, w.hcp, now)
    assert [m.id for m in services.shareable_materials(w.staff, german)] == [for_europe.id]
    assert services.shareable_materials(w.staff, w.hcp) == []


def test_a_pending_hcp_is_offered_nothing(app):
    w = world(Role.MSL)
    make_material(product=w.covered, classification="medical")
    pending = make_hcp(verification=Verification.PENDING)

    assert services.shareable_materials(w.staff, pending) == []


def test_nothing_is_shared_with_a_colleague_instead_of_an_hcp(app):
    w = world(Role.MSL)
    material = make_material(product=w.covered, classification="medical")
    colleague = make_user(Role.REP, products=[w.covered])

    assert not policy.can_share_material_with(w.staff, material, colleague, utcnow())
    assert services.shareable_materials(w.staff, colleague) == []


def test_a_material_expiring_after_it_was_listed_is_refused_at_the_instant_it_expires(app):
    import time_machine

    w = world(Role.REP)
    expires = utcnow() + 2 * DAY
    material = make_material(product=w.covered, expires_at=expires)
    question = ask(w.hcp, category="samples", text="Could I get starter samples please?")
    assert {m.id for m in work.shareable_materials(w.staff, question)} == {material.id}

    with time_machine.travel(expires, tick=False):
        assert work.shareable_materials(w.staff, question) == []
        with pytest.raises(InvalidInput, match="not available"):
            work.reply_to_question(
                w.staff, question.id, body="Here", material_ids=[material.id],
                attestation=NOTHING,
            )  # fmt: skip


# --- which products a colleague covers ------------------------------------------------------------
def test_a_rep_with_no_products_shares_nothing(app):
    material = make_material(classification="promotional")
    rep = make_user(Role.REP)

    assert policy.covered_product_ids(rep) == frozenset()
    assert not policy.can_share_material(rep, material, utcnow())


def test_a_rep_does_not_borrow_a_teammates_products(app):
    material = make_material(classification="promotional")
    make_user(Role.REP, products=[material.product])
    rep = make_user(Role.REP, products=[make_product()])

    assert not policy.can_share_material(rep, material, utcnow())


def test_an_msl_shares_material_of_a_teammates_product(app):
    material = make_material(classification="medical")
    make_user(Role.MSL, products=[material.product])
    msl = make_user(Role.MSL, products=[make_product()])

    assert policy.can_share_material(msl, material, utcnow())


def test_an_msl_with_no_products_on_their_team_shares_nothing(app):
    material = make_material(classification="medical")
    msl = make_user(Role.MSL)

    assert policy.covered_product_ids(msl) == frozenset()
    assert not policy.can_share_material(msl, material, utcnow())


def test_medical_information_without_assigned_products_answers_for_every_product(app):
    material = make_material(classification="medical")
    mi = make_user(Role.MEDICAL_INFORMATION)

    assert policy.covered_product_ids(mi) is None
    assert policy.can_share_material(mi, material, utcnow())


def test_medical_information_with_products_on_the_team_shares_only_those(app):
    covered = make_material(classification="medical")
    uncovered = make_material(classification="medical")
    make_user(Role.MEDICAL_INFORMATION, products=[covered.product])
    mi = make_user(Role.MEDICAL_INFORMATION)

    assert policy.covered_product_ids(mi) == frozenset({covered.product_id})
    assert policy.can_share_material(mi, covered, utcnow())
    assert not policy.can_share_material(mi, uncovered, utcnow())


@pytest.mark.parametrize(
    "role", [Role.CONTENT_MANAGER, Role.MLR_REVIEWER, Role.COMPLIANCE, Role.ADMIN]
)
def test_roles_that_do_not_talk_to_hcps_share_nothing(app, role):
    material = make_material(classification="promotional")
    actor = make_user(role, products=[material.product])
    hcp = make_hcp()

    assert policy.covered_product_ids(actor) == frozenset()
    assert not policy.can_share_material_with(actor, material, hcp, utcnow())
    assert services.shareable_materials(actor, hcp) == []


# --- the SQL list and the Python rule agree -------------------------------------------------------
def _staff() -> dict[str, User]:
    covered = make_product(code="COVERED")
    mate = make_product(code="MATE")
    make_user(Role.MSL, products=[mate])  # an MSL teammate covering another product
    return {
        "rep-covering": make_user(Role.REP, products=[covered]),
        "rep-covering-nothing": make_user(Role.REP),
        "market-access-covering": make_user(Role.MARKET_ACCESS, products=[covered]),
        "msl-covering": make_user(Role.MSL, products=[covered]),
        "msl-suspended": make_user(Role.MSL, products=[covered], suspended=True),
        "mi-company-wide": make_user(Role.MEDICAL_INFORMATION),
        "pv": make_user(Role.PHARMACOVIGILANCE),
        "content-manager": make_user(Role.CONTENT_MANAGER, products=[covered]),
        "compliance": make_user(Role.COMPLIANCE),
    }


def _hcps() -> dict[str, User]:
    return {
        "us-cardiologist": make_hcp(specialty="Cardiology", country="US"),
        "de-cardiologist": make_hcp(specialty="Cardiology", country="DE"),
        "us-oncologist": make_hcp(specialty="Oncology", country="US"),
        "us-pharmacist": make_hcp(profession=Profession.PHARMACIST, specialty="Cardiology"),
        "pending": make_hcp(verification=Verification.PENDING),
        "suspended": make_hcp(suspended=True),
    }


def _materials(at: dt.datetime) -> list[Material]:
    author = make_author()
    products = [
        db.session.scalar(select(Product).where(Product.code == code))
        for code in ("COVERED", "MATE")
    ] + [make_product()]
    audiences: list[dict[str, Any]] = [
        {},
        {"specialties": ["Cardiology"], "countries": ["US"]},
        {"countries": EUROPE},
        {"professions": ["pharmacist"]},
    ]
    materials = [
        make_material(
            author, status=state, product=product, classification=classification, direct=True,
            **audience,
        )
        for state in ("published", "expired", "approved", "draft")
        for product in products
        for classification in ("promotional", "medical")
        for audience in audiences
    ]  # fmt: skip
    # At ``at`` one material takes effect and another expires.
    materials.append(make_material(author, "approved", product=products[0], effective_at=at))
    materials.append(
        make_material(author, product=products[0], effective_at=at - DAY, expires_at=at)
    )
    materials.append(make_material(author, "withdrawn", product=products[0]))
    return materials


def test_shareable_clause_and_can_share_material_with_agree(app):
    at = (utcnow() + 5 * DAY).replace(microsecond=250_000)
    staff, hcps = _staff(), _hcps()
    materials = _materials(at)
    ids = [m.id for m in materials]

    disagreements: dict[str, Any] = {}
    offered_somewhere = refused_somewhere = 0
    for when in (utcnow(), at - MICROSECOND, at):
        for staff_name, colleague in staff.items():
            for hcp_name, hcp in hcps.items():
                in_sql = set(
                    db.session.scalars(
                        select(Material.id).where(
                            Material.id.in_(ids), services.shareable_clause(colleague, hcp, when)
                        )
                    )
                )
                in_python = {
                    m.id
                    for m in materials
                    if policy.can_share_material_with(colleague, m, hcp, when)
                }
                if in_sql != in_python:
                    disagreements[f"{staff_name}->{hcp_name}@{when.isoformat()}"] = (
                        in_sql ^ in_python
                    )
                offered_somewhere += len(in_python)
                refused_somewhere += len(materials) - len(in_python)
    assert disagreements == {}
    # Agreement on "nothing may be shared" would be worthless: both answers occur.
    assert offered_somewhere and refused_somewhere


def test_the_sharing_agreement_table_is_not_trivial(app):
    at = (utcnow() + 5 * DAY).replace(microsecond=250_000)
    staff, hcps = _staff(), _hcps()
    materials = _materials(at)
    now = utcnow()

    def answers(staff_name: str, hcp_name: str) -> set[bool]:
        return {
            policy.can_share_material_with(staff[staff_name], m, hcps[hcp_name], now)
            for m in materials
        }

    for staff_name in ("rep-covering", "msl-covering", "mi-company-wide"):
        for hcp_name in ("us-cardiologist", "de-cardiologist", "us-pharmacist"):
            assert answers(staff_name, hcp_name) == {True, False}, (staff_name, hcp_name)
    for staff_name in ("rep-covering-nothing", "msl-suspended", "content-manager", "compliance"):
        assert answers(staff_name, "us-cardiologist") == {False}
    for hcp_name in ("pending", "suspended"):
        assert answers("mi-company-wide", hcp_name) == {False}
    # The MSL shares a teammate's product; the rep never a product nobody gave them.
    mate = [m for m in materials if m.product.code == "MATE" and m.is_live_at(now)]
    assert any(
        policy.can_share_material_with(staff["msl-covering"], m, hcps["us-cardiologist"], now)
        for m in mate
    )
    assert not any(
        policy.can_share_material_with(staff["rep-covering"], m, hcps["us-cardiologist"], now)
        for m in mate
    )
