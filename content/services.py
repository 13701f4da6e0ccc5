"""The content library's state changes and queries.

Every public function that changes state is one unit of work (:func:`portal.unit_of_work.
transactional`): it checks policy, validates, changes state, writes the audit record and keeps the
search index in step, and none of it is kept if any step fails. Reads apply the same visibility
rule as :func:`portal.policy.can_view_material`, expressed in SQL by :func:`visible_clause` so
lists, search and recommendations never show what a direct URL would refuse.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, url_for
from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from content import Interests, extension, files, thumbnails
from content.models import (
    Bookmark,
    Classification,
    EventKind,
    Material,
    MaterialEvent,
    MaterialKind,
    MaterialReview,
    MaterialState,
    MaterialStatus,
    ReviewDecision,
    SearchTerm,
    audience_text,
)
from content.rendering import plain_text, render_markdown
from content.search import index_for, parse_query, suggest
from portal import audit, policy, webhooks
from portal.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.models import HcpProfile, Product, Role, User, utcnow
from portal.models.reference import COUNTRIES, SPECIALTIES, Profession
from portal.pagination import Page, read_page
from portal.services import coverage, notifications
from portal.unit_of_work import transactional

PAGE_SIZE = 20
EXPIRING_WITHIN = dt.timedelta(days=30)


# --- input ------------------------------------------------------------------------------------
@dataclasses.dataclass
class MaterialInput:
    """What a content manager enters for a material."""

    title: str
    summary: str
    body_markdown: str
    product_id: int | None
    kind: str
    classification: str
    approval_code: str
    effective_at: dt.datetime | None
    expires_at: dt.datetime | None
    professions: Sequence[str] = ()
    specialties: Sequence[str] = ()
    countries: Sequence[str] = ()
    therapeutic_area: str = ""


@dataclasses.dataclass(frozen=True)
class Upload:
    stream: BinaryIO
    filename: str


def attach_file(material: Material, stored: files.StoredFile) -> None:
    """Give ``material`` the stored upload ``stored`` and draw its thumbnail now, once, rather
    than for the first HCP to open the library. Part of the caller's unit of work."""
    material.file_key = stored.key
    material.file_name = stored.name
    material.file_mime = stored.mime
    material.file_size = stored.size
    material.file_sha256 = stored.sha256
    thumbnails.make_for_file(stored.key, stored.mime)


def _problems(data: MaterialInput) -> dict[str, str]:
    problems: dict[str, str] = {}
    if not data.title.strip():
        problems["title"] = "Give the material a title."
    elif len(data.title) > 200:
        problems["title"] = "Keep the title under 200 characters."
    if not data.summary.strip():
        problems["summary"] = "Write a short summary: it is what HCPs see in lists."
    if data.product_id is None or db.session.get(Product, data.product_id) is None:
        problems["product_id"] = "Choose a product."
    if data.kind not in set(MaterialKind):
        problems["kind"] = "Choose a kind from the list."
    if data.classification not in set(Classification):
        problems["classification"] = "Choose promotional or medical/scientific."
    code = data.approval_code.strip().upper()
    if not code or len(code) > 40 or not all(c.isalnum() or c in "-_/." for c in code):
        problems["approval_code"] = "Enter the approval code, e.g. PRT-US-0042."
    if data.effective_at is None:
        problems["effective_at"] = "Enter the date the material takes effect."
    if data.expires_at is None:
        problems["expires_at"] = "Enter the expiry date."
    elif data.effective_at is not None and data.expires_at <= data.effective_at:
        problems["expires_at"] = "The expiry date must come after the effective date."
    if set(data.professions) - set(Profession):
        problems["professions"] = "Unknown profession in the audience."
    if set(data.specialties) - set(SPECIALTIES):
        problems["specialties"] = "Unknown specialty in the audience."
    if set(data.countries) - set(COUNTRIES):
        problems["countries"] = "Unknown country in the audience."
    return problems


def _check(data: MaterialInput) -> None:
    problems = _problems(data)
    if problems:
        field, message = next(iter(problems.items()))
        raise InvalidInput(message, field=field, errors=problems)


def _code_taken_by_other_family(code: str, family_id: int | None) -> bool:
    query = select(Material.id).where(Material.approval_code == code)
    if family_id is not None:
        query = query.where(Material.family_id != family_id)
    return db.session.scalar(query.limit(1)) is not None


def _apply(material: Material, data: MaterialInput, upload: Upload | None) -> None:
    product = db.session.get(Product, data.product_id)
    assert product is not None  # validated
    code = data.approval_code.strip().upper()
    if _code_taken_by_other_family(code, material.family_id):
        raise InvalidInput(
            "Another material already uses this approval code.", field="approval_code"
        )
    material.title = data.title.strip()
    material.summary = data.summary.strip()
    material.body_markdown = data.body_markdown
    material.body_html = render_markdown(data.body_markdown)
    material.body_text = plain_text(material.body_html)
    material.product = product
    material.therapeutic_area = data.therapeutic_area.strip() or product.therapeutic_area
    material.kind = MaterialKind(data.kind)
    material.classification = Classification(data.classification)
    material.approval_code = code
    assert data.effective_at is not None and data.expires_at is not None
    material.effective_at = data.effective_at
    material.expires_at = data.expires_at
    material.audience_professions = audience_text(list(data.professions))
    material.audience_specialties = audience_text(list(data.specialties))
    material.audience_countries = audience_text(list(data.countries))
    if upload is not None:
        attach_file(material, files.store_upload(upload.stream, upload.filename))


def _flush() -> None:
    """Write the material now, in the caller's unit of work, so that two managers racing past
    :func:`_code_taken_by_other_family` learn of it as a :class:`Conflict` (the unique constraint
    on approval code and version decides); the unit of work then rolls the action back."""
    try:
        db.session.flush()
    except IntegrityError as exc:
        raise Conflict("Another material already uses this approval code and version.") from exc


# --- workflow -----------------------------------------------------------------------------------
@transactional
def create_material(actor: User, data: MaterialInput, upload: Upload | None = None) -> Material:
    """A content manager creates a draft (version 1). Audits ``material.created``."""
    policy.require(policy.can_author_material(actor), "Only content managers create materials.")
    _check(data)
    material = Material(author=actor, status=MaterialStatus.DRAFT, version=1)
    _apply(material, data, upload)
    db.session.add(material)
    _flush()
    material.family_id = material.id
    audit.record(
        actor, "material.created", material, code=material.code_label, title=material.title
    )
    return material


@transactional
def update_material(
    actor: User, material: Material, data: MaterialInput, upload: Upload | None = None
) -> Material:
    """Change a draft. Approved, published or retired versions cannot change: make a new version.
    Audits ``material.updated``."""
    policy.require(
        policy.can_edit_material(actor, material),
        "Only drafts can be edited. Create a new version of an approved material instead.",
    )
    _check(data)
    _apply(material, data, upload)
    _flush()
    audit.record(
        actor, "material.updated", material, code=material.code_label, title=material.title
    )
    return material


@transactional
def submit_for_review(actor: User, material: Material) -> Material:
    """Send a draft to MLR review. Audits ``material.submitted``."""
    policy.require(
        policy.can_submit_material(actor, material), "Only drafts can be sent to review."
    )
    if material.expires_at <= utcnow():
        raise InvalidInput(
            "This material's expiry date has passed: change it before review.", field="expires_at"
        )
    material.status = MaterialStatus.IN_REVIEW
    material.submitted_at = utcnow()
    audit.record(actor, "material.submitted", material, code=material.code_label)
    return material


def _tell_author(actor: User, material: Material, decision: ReviewDecision) -> None:
    """Notify the author of a review decision (bell and e-mail), in the caller's unit of work.

    The notice names the version and who decided; a rejection points to the material's page for
    the reviewer's reasons rather than quoting them: notifications and their e-mails never carry
    what a colleague wrote (minimum necessary)."""
    if decision is ReviewDecision.APPROVED:
        title = f"Your material {material.code_label} was approved by {actor.name}"
    else:
        title = (
            f"Your material {material.code_label} was returned to draft by {actor.name}: "
            "see the reviewer's reasons"
        )
    notifications.notify(
        [material.author],
        kind=f"material_{decision.value}",
        title=title[:200],
        endpoint="content.manage_material",
        material_id=material.id,
    )


def _previous_approved(material: Material) -> Material | None:
    if material.supersedes_id is None:
        return None
    return db.session.scalar(
        select(Material).where(
            Material.family_id == material.family_id,
            Material.status == MaterialStatus.APPROVED,
            Material.id != material.id,
        )
    )


@transactional
def approve_material(actor: User, material: Material, *, comments: str = "") -> Material:
    """An MLR reviewer approves exactly this version; it is published at its effective date.

    Refused for the author, for anything not in review and for an expired version. A newer
    version replaces the one it was made from, which is retired (kept for the record). Audits
    ``material.approved`` (and ``material.retired``); indexes the version for search; notifies
    the author (bell and e-mail).
    """
    now = utcnow()
    if material.author_id == actor.id:
        raise PermissionDenied("Nobody approves their own material.")
    policy.require(
        policy.can_review_material(actor, material), "This material is not awaiting your review."
    )
    if not policy.can_approve_material(actor, material, now):
        raise InvalidInput("This version has already expired and cannot be approved.")
    index = index_for(db.session)
    previous = _previous_approved(material)
    if previous is not None:
        previous.status = MaterialStatus.RETIRED
        previous.retired_at = now
        index.remove(db.session, previous.id)
        audit.record(
            actor,
            "material.retired",
            previous,
            code=previous.code_label,
            by_version=material.version,
        )
    material.status = MaterialStatus.APPROVED
    material.approved_at = now
    material.approved_by = actor
    material.review_comments = comments.strip() or None
    db.session.add(
        MaterialReview(
            material=material,
            reviewer=actor,
            decision=ReviewDecision.APPROVED,
            comments=comments.strip(),
        )
    )
    index.add(db.session, material)
    audit.record(
        actor, "material.approved", material, code=material.code_label, comments=comments.strip()
    )
    _tell_author(actor, material, ReviewDecision.APPROVED)
    return material


@transactional
def reject_material(actor: User, material: Material, *, comments: str) -> Material:
    """Return a version in review to draft with the reviewer's comments. Audits
    ``material.rejected``; notifies the author (bell and e-mail), pointing to the comments."""
    policy.require(
        policy.can_review_material(actor, material),
        "This material is not awaiting your review.",
    )
    comments = comments.strip()
    if len(comments) < 5:
        raise InvalidInput(
            "Tell the author what to change (at least 5 characters).", field="comments"
        )
    material.status = MaterialStatus.DRAFT
    material.review_comments = comments
    db.session.add(
        MaterialReview(
            material=material, reviewer=actor, decision=ReviewDecision.REJECTED, comments=comments
        )
    )
    audit.record(actor, "material.rejected", material, code=material.code_label, comments=comments)
    _tell_author(actor, material, ReviewDecision.REJECTED)
    return material


@transactional
def withdraw_material(actor: User, material: Material, *, reason: str) -> Material:
    """Take an approved material out of circulation at once, everywhere (links already shared
    show it as withdrawn). Audits ``material.withdrawn``; removes it from search."""
    policy.require(
        policy.can_withdraw_material(actor, material), "Only approved materials can be withdrawn."
    )
    reason = reason.strip()
    if len(reason) < 5:
        raise InvalidInput(
            "Give the reason for the withdrawal (at least 5 characters).", field="reason"
        )
    material.status = MaterialStatus.WITHDRAWN
    material.withdrawn_at = utcnow()
    material.withdrawn_reason = reason
    material.withdrawn_by = actor
    index_for(db.session).remove(db.session, material.id)
    audit.record(actor, "material.withdrawn", material, code=material.code_label, reason=reason)
    webhooks.publish(
        webhooks.WebhookEvent.MATERIAL_WITHDRAWN,
        {
            "material_id": material.id,
            "family_id": material.family_id,
            "withdrawn_at": material.withdrawn_at,
        },
    )
    return material


COPIED_ON_NEW_VERSION = (
    "title", "summary", "body_markdown", "body_html", "body_text", "product_id",
    "therapeutic_area", "kind", "classification", "audience_professions", "audience_specialties",
    "audience_countries", "approval_code", "effective_at", "expires_at", "file_name", "file_key",
    "file_mime", "file_size", "file_sha256",
)  # fmt: skip


@transactional
def new_version(actor: User, material: Material) -> Material:
    """Copy an approved version into a draft v+1. The approved version stays live until v+1 is
    approved. Refused while the family already has an open draft or review. Audits
    ``material.versioned``."""
    policy.require(
        policy.can_version_material(actor, material), "Only approved materials get new versions."
    )
    open_version = db.session.scalar(
        select(Material.id).where(
            Material.family_id == material.family_id,
            Material.status.in_([MaterialStatus.DRAFT, MaterialStatus.IN_REVIEW]),
        )
    )
    if open_version is not None:
        raise Conflict("A newer version of this material is already being prepared.")
    latest = (
        db.session.scalar(
            select(func.max(Material.version)).where(Material.family_id == material.family_id)
        )
        or 1
    )
    copy = Material(
        family_id=material.family_id,
        version=latest + 1,
        supersedes_id=material.id,
        status=MaterialStatus.DRAFT,
        author=actor,
    )
    for name in COPIED_ON_NEW_VERSION:
        setattr(copy, name, getattr(material, name))
    db.session.add(copy)
    _flush()
    audit.record(
        actor, "material.versioned", copy, code=copy.code_label, from_version=material.version
    )
    return copy


# --- reading ----------------------------------------------------------------------------------
def live_clause(now: dt.datetime) -> ColumnElement[bool]:
    return and_(
        Material.status == MaterialStatus.APPROVED,
        Material.effective_at <= now,
        Material.expires_at > now,
    )


def audience_clause(profile: Any) -> ColumnElement[bool]:
    return and_(
        *[
            or_(column == "", column.contains(f"|{value}|", autoescape=True))
            for column, value in (
                (Material.audience_professions, profile.profession.value),
                (Material.audience_specialties, profile.specialty),
                (Material.audience_countries, profile.country),
            )
        ]
    )


def visible_clause(actor: User, now: dt.datetime) -> ColumnElement[bool]:
    """:func:`portal.policy.can_view_material` as a SQL condition over ``Material``."""
    if not actor.is_active:
        return false()
    if policy.can_manage_library(actor):
        return true()
    if actor.role is Role.HCP:
        if not policy.can_see_professional_content(actor):
            return false()
        return and_(live_clause(now), audience_clause(actor.hcp_profile))
    if policy.is_commercial(actor):
        return and_(live_clause(now), Material.classification == Classification.PROMOTIONAL)
    if policy.is_medical(actor):
        return live_clause(now)
    return false()


def library_clause(actor: User, now: dt.datetime) -> ColumnElement[bool]:
    """What the library lists for ``actor``: published material they may see (managers included:
    the library is the published shelf; their dashboards show the rest)."""
    return and_(visible_clause(actor, now), live_clause(now))


def get_material(actor: User, material_id: int) -> Material:
    """The material if ``actor`` may see it now, else :class:`NotFound` (never 403)."""
    material = db.session.get(Material, material_id)
    if material is None or not policy.can_view_material(actor, material, utcnow()):
        raise NotFound("That material was not found.")
    return material


# --- sharing with an HCP --------------------------------------------------------------------------
SHAREABLE_LIMIT = 300


def shareable_clause(staff: User, hcp: User, now: dt.datetime) -> ColumnElement[bool]:
    """:func:`portal.policy.can_share_material_with` as a SQL condition over ``Material``: what
    ``staff`` may share (their products, their side's classification) that ``hcp`` may see, as
    the library shows it to them."""
    if not policy.is_staff(staff) or not staff.is_active or hcp.role is not Role.HCP:
        return false()
    if not (policy.is_medical(staff) or policy.is_commercial(staff)):
        return false()
    covered = policy.covered_product_ids(staff)
    products = true() if covered is None else Material.product_id.in_(sorted(covered))
    return and_(live_clause(now), visible_clause(staff, now), visible_clause(hcp, now), products)


def shareable_materials(
    staff: User, hcp: User, *, first_product_id: int | None = None
) -> list[Material]:
    """What ``staff`` may share with ``hcp`` now (the chat's share list, an answer's attachment
    list): titles in order, material of ``first_product_id`` (the question's product) first."""
    coverage.load_teammates(staff)
    return list(
        db.session.scalars(
            select(Material)
            .where(shareable_clause(staff, hcp, utcnow()))
            .order_by((Material.product_id == first_product_id).desc(), Material.title)
            .limit(SHAREABLE_LIMIT)
        )
    )


def _sharing_refusal(staff: User, material: Material, hcp: User, now: dt.datetime) -> str:
    """Why :func:`portal.policy.can_share_material_with` said no, in words the colleague can act
    on (never more than they may know: a material they may not open is just "not available")."""
    if not policy.can_view_material(staff, material, now) or not material.is_live_at(now):
        return "That material is not available."
    if not policy.can_share_material(staff, material, now):
        covered = policy.covered_product_ids(staff)
        if covered is not None and material.product_id not in covered:
            return (
                f"You cannot share '{material.title}': it is about {material.product.name}, "
                "a product you do not cover."
            )
        return (
            f"You cannot share '{material.title}': your role shares only approved "
            "promotional material."
        )
    profile = hcp.hcp_profile
    if profile is not None and not policy.audience_matches(profile, material):
        return (
            f"You cannot share '{material.title}' with this HCP: it is not meant for their "
            "profession, specialty or country."
        )
    return f"You cannot share '{material.title}' with this HCP."


def get_shareable_material(
    staff: User, material_id: Any, hcp: User, *, field: str = "material_id"
) -> Material:
    """The material ``staff`` may share with ``hcp`` now (:func:`portal.policy.
    can_share_material_with`), for services that accept one (a chat card, an attachment).

    Raises :class:`InvalidInput` on ``field`` saying why not: not available to the colleague,
    a product they do not cover, a classification their side may not share, or not meant for
    this HCP's audience, country or dates."""
    is_id = isinstance(material_id, int) and not isinstance(material_id, bool)
    material = db.session.get(Material, material_id) if is_id and 0 < material_id < 2**63 else None
    if material is None:
        raise InvalidInput("That material is not available.", field=field)
    now = utcnow()
    if not policy.can_share_material_with(staff, material, hcp, now):
        raise InvalidInput(_sharing_refusal(staff, material, hcp, now), field=field)
    return material


def material_card(material_id: int, now: dt.datetime) -> dict[str, Any]:
    """The card of a material shared into a chat, as every participant sees it:
    ``{"id", "family_id", "title", "summary", "classification", "available": true, "url"}``,
    ``url`` the family's stable link (its current version, for whoever opens it). Once the
    material is withdrawn or expired (or gone), ``{"id", "title", "available": false}`` with no
    link. Reads only; no permission is asked: the card was shared under
    :func:`portal.policy.can_share_material_with`, and the link checks the reader's own."""
    material = db.session.get(Material, material_id)
    if material is None or not material.is_live_at(now):
        return {"id": material_id, "title": material.title if material else "", "available": False}
    return {
        "id": material.id,
        "family_id": material.family_id,
        "title": material.title,
        "summary": material.summary,
        "classification": str(material.classification),
        "available": True,
        "url": _path_for("content.family", family_id=material.family_id),
    }


def products_of(material_ids: Collection[int]) -> dict[int, int]:
    """The product of each of ``material_ids`` (``{material id: product id}``), for features
    that keep a material's id (a chat card) and need its product (the PV workspace's guess of
    what a conversation is about). Reads only; no permission is asked: ids are the caller's."""
    if not material_ids:
        return {}
    rows = db.session.execute(
        select(Material.id, Material.product_id).where(Material.id.in_(sorted(material_ids)))
    ).all()
    return {material_id: product_id for material_id, product_id in rows}


def _path_for(endpoint: str, **values: Any) -> str:
    """``url_for``'s path for ``endpoint``, also where there is no request (a Socket.IO event
    runs with an application context only)."""
    if has_request_context():
        return url_for(endpoint, **values)
    adapter = current_app.url_map.bind("", script_name=current_app.config["APPLICATION_ROOT"])
    return adapter.build(endpoint, values)


def get_current_version(actor: User, family_id: int) -> Material | None:
    """The version of a family ``actor`` may see now, if any (bookmarks and shared links)."""
    return db.session.scalar(
        select(Material)
        .where(Material.family_id == family_id, library_clause(actor, utcnow()))
        .order_by(Material.version.desc())
        .limit(1)
    )


def versions_of(actor: User, material: Material) -> Sequence[Material]:
    """Every version of the material's family, for library managers."""
    policy.require(policy.can_manage_library(actor))
    return db.session.scalars(
        select(Material).where(Material.family_id == material.family_id).order_by(Material.version)
    ).all()


def _record(
    actor: User, material: Material, kind: EventKind, at: dt.datetime | None = None
) -> None:
    db.session.add(
        MaterialEvent(
            material_id=material.id,
            family_id=material.family_id or material.id,
            user_id=actor.id,
            kind=kind,
            at=at or utcnow(),
        )
    )


@transactional
def record_view(actor: User, material: Material, *, at: dt.datetime | None = None) -> None:
    """Note that ``actor`` opened ``material`` (analytics and the HCP's history), now or at
    ``at`` (the demo's history). The caller has already checked that they may see it
    (:func:`get_material`). No audit record: the event is the record."""
    _record(actor, material, EventKind.VIEW, at)


@transactional
def open_download(actor: User, material: Material) -> tuple[Any, str, str]:
    """The file of a material ``actor`` may see: ``(path, mime, download name)``; records the
    download (the event is the record: no audit record). :class:`NotFound` when they may not see
    it (audience, dates, state, role) or there is no file."""
    if not policy.can_view_material(actor, material, utcnow()):
        raise NotFound("That material was not found.")
    if not material.file_key or not material.file_mime:
        raise NotFound("This material has no file.")
    path = files.path_of(material.file_key)
    if not path.exists():
        raise NotFound("The file of this material is missing.")
    _record(actor, material, EventKind.DOWNLOAD)
    return (
        path,
        material.file_mime,
        material.file_name or files.safe_download_name("material", material.file_mime),
    )


# Files a material page plays or shows in place; others are offered for download only.
INLINE_MIMES = frozenset({"application/pdf", "video/mp4"})


def open_stream(actor: User, material: Material) -> tuple[Path, str]:
    """The file of a material ``actor`` may see, to play or show in the page: ``(path, mime)``.
    Records nothing: the player and viewer fetch it in many range requests, and opening the
    material page already recorded the view. :class:`NotFound` when they may not see it, or it
    has no file shown in place (PDF or MP4)."""
    if not policy.can_view_material(actor, material, utcnow()):
        raise NotFound("That material was not found.")
    if not material.file_key or material.file_mime not in INLINE_MIMES:
        raise NotFound("This material has no file to show in the page.")
    path = files.path_of(material.file_key)
    if not path.exists():
        raise NotFound("The file of this material is missing.")
    return path, material.file_mime


def open_thumbnail(actor: User, material: Material) -> Path:
    """The path of ``material``'s thumbnail (made on first use, see :mod:`content.thumbnails`)
    if ``actor`` may see the material, else :class:`NotFound`. Records nothing."""
    if not policy.can_view_material(actor, material, utcnow()):
        raise NotFound("That material was not found.")
    return thumbnails.ensure(material)


@dataclasses.dataclass(frozen=True)
class Filters:
    product_id: int | None = None
    therapeutic_area: str = ""
    kind: str = ""

    def clause(self) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = []
        if self.product_id:
            conditions.append(Material.product_id == self.product_id)
        if self.therapeutic_area:
            conditions.append(Material.therapeutic_area == self.therapeutic_area)
        if self.kind and self.kind in set(MaterialKind):
            conditions.append(Material.kind == MaterialKind(self.kind))
        return and_(true(), *conditions)

    @property
    def active(self) -> bool:
        """Whether any filter is set (as asked for, even one matching nothing)."""
        return bool(self.product_id or self.therapeutic_area or self.kind)


@dataclasses.dataclass(frozen=True)
class LibraryItem:
    material: Material
    title_html: str = ""
    snippet_html: str = ""


@dataclasses.dataclass(frozen=True)
class LibraryPage:
    items: list[LibraryItem]
    page: int
    has_more: bool
    query: str = ""
    capped: bool = False
    total: int = 0  # materials listed over all pages (with ``capped``: those ranked)
    page_size: int = PAGE_SIZE
    set_aside: int = 0  # materials left out of the list because they are shown above it

    @property
    def pages(self) -> int:
        """The number of pages (at least 1, even when nothing matches)."""
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def past_end(self) -> bool:
        """A page number beyond the last page of a list that is not empty."""
        return self.total > 0 and self.page > self.pages


def _listing_clause(actor: User, filters: Filters, exclude: Collection[int]) -> ColumnElement[bool]:
    where = and_(library_clause(actor, utcnow()), filters.clause())
    if exclude:
        where = and_(where, Material.id.not_in(sorted(exclude)))
    return where


BROWSE_COUNT_CAP = 1000


def browse(
    actor: User, filters: Filters, *, page: int = 1, exclude: Collection[int] = ()
) -> LibraryPage:
    """Published materials ``actor`` may see, newest first, filtered, without the materials
    ``exclude`` (ids: those shown above the list already, in "For you"). ``total`` is a COUNT
    in SQL; a page past the end loads no rows."""
    page = max(1, page)
    where = _listing_clause(actor, filters, exclude)
    # Counted up to a cap: past it the page says "more than" (a COUNT of a year of versions
    # would read them all for a number nobody pages through).
    counted = select(Material.id).where(where).limit(BROWSE_COUNT_CAP + 1).subquery()
    total = db.session.scalar(select(func.count()).select_from(counted)) or 0
    capped = total > BROWSE_COUNT_CAP
    total = min(total, BROWSE_COUNT_CAP)
    if (page - 1) * PAGE_SIZE >= total:
        return LibraryPage(
            [],
            page,
            False,
            capped=capped,
            total=total,
            page_size=PAGE_SIZE,
            set_aside=len(exclude),
        )
    rows = db.session.scalars(
        select(Material)
        .where(where)
        .order_by(Material.effective_at.desc(), Material.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return LibraryPage(
        [LibraryItem(m) for m in rows],
        page,
        page * PAGE_SIZE < total,
        capped=capped,
        total=total,
        page_size=PAGE_SIZE,
        set_aside=len(exclude),
    )


def search(
    actor: User,
    query: str,
    filters: Filters,
    *,
    page: int = 1,
    limit: int | None = None,
    exclude: Collection[int] = (),
) -> LibraryPage:
    """Full-text search ranked by relevance, with highlighted snippets, over what ``actor`` may
    see, without the materials ``exclude``. A query with no searchable word browses instead.
    ``total`` counts the matches ranked (all of them unless ``capped``)."""
    terms = parse_query(query)
    if not terms:
        return browse(actor, filters, page=page, exclude=exclude)
    page = max(1, page)
    limit = limit or PAGE_SIZE
    result = index_for(db.session).search(
        db.session,
        terms,
        where=_listing_clause(actor, filters, exclude),
        limit=limit,
        offset=(page - 1) * limit,
    )
    if page == 1 and actor.is_hcp:
        # Counted once per search (its first page), and only HCPs' (the library's demand).
        record_search(terms, found=result.total > 0)
    by_id = {
        m.id: m
        for m in db.session.scalars(
            select(Material).where(Material.id.in_([h.material_id for h in result.hits]))
        )
    }
    items = [
        LibraryItem(by_id[h.material_id], h.title_html, h.snippet_html)
        for h in result.hits
        if h.material_id in by_id
    ]
    return LibraryPage(
        items,
        page,
        result.has_more,
        query=query,
        capped=result.capped,
        total=result.total,
        page_size=limit,
        set_aside=len(exclude),
    )


SEARCH_TERM_MAX = 200


@transactional
def record_search(terms: Sequence[str], *, found: bool, at: dt.datetime | None = None) -> None:
    """Count one library search for ``terms`` (the normalized words the engine searched for) on
    the business day of ``at`` (default now), and whether it ``found`` nothing. Never who
    searched. One upsert (``INSERT ... ON CONFLICT DO UPDATE``), so concurrent searches of the
    same words add up instead of colliding. No audit record: nothing about a person changes."""
    text = " ".join(terms)[:SEARCH_TERM_MAX].strip()
    if not text:
        return
    zone = ZoneInfo(current_app.config["BUSINESS_TIMEZONE"])
    day = (at or utcnow()).astimezone(zone).date()
    missed = 0 if found else 1
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(SearchTerm).values(day=day, query=text, searches=1, no_result=missed)
    statement = statement.on_conflict_do_update(
        index_elements=[SearchTerm.day, SearchTerm.query],
        set_={
            "searches": SearchTerm.searches + 1,
            "no_result": SearchTerm.no_result + missed,
        },
    )
    db.session.execute(statement)


FEW_RESULTS = 3  # a first page with fewer hits than this offers spelling corrections


def did_you_mean(actor: User, page: LibraryPage, filters: Filters) -> list[str]:
    """Corrected queries to offer when the first page of a search found little ("dosnig":
    "dosing"). The words come only from materials ``actor`` may see under the same filters,
    and each suggestion finds at least one of them, so none reveals what ``actor`` cannot see."""
    if not parse_query(page.query) or page.page > 1 or len(page.items) >= FEW_RESULTS:
        return []
    where = and_(library_clause(actor, utcnow()), filters.clause())
    index = index_for(db.session)
    return [
        corrected
        for corrected in suggest(db.session, parse_query(page.query), where=where)
        if index.search(
            db.session, parse_query(corrected), where=where, limit=1, snippets=False
        ).hits
    ]


def facets(actor: User) -> dict[str, list[Any]]:
    """The products, therapeutic areas and kinds present in what ``actor`` can browse.

    Asked as "is there one?" per candidate (a product, an area, a kind), which an index answers
    at the first visible material, rather than by reading every visible material: the library
    holds a year of versions. The areas are the distinct values of the area index."""
    clause = library_clause(actor, utcnow())
    products = db.session.scalars(
        select(Product)
        .where(exists().where(Material.product_id == Product.id, clause))
        .order_by(Product.name)
    ).all()
    # The distinct areas, one index probe each (a "skip scan"), then those with visible material.
    found = select(func.min(Material.therapeutic_area).label("area")).cte("areas", recursive=True)
    found = found.union_all(
        select(
            select(func.min(Material.therapeutic_area))
            .where(Material.therapeutic_area > found.c.area)
            .scalar_subquery()
        ).where(found.c.area.is_not(None))
    )
    areas = db.session.scalars(
        select(found.c.area)
        .where(
            found.c.area.is_not(None),
            exists().where(Material.therapeutic_area == found.c.area, clause),
        )
        .order_by(found.c.area)
    ).all()
    present = db.session.execute(
        select(
            *(
                exists().where(Material.kind == kind, clause).label(kind.value)
                for kind in MaterialKind
            )
        )
    ).one()
    kinds = sorted((kind for kind in MaterialKind if present._mapping[kind.value]), key=str)
    return {"products": list(products), "areas": list(areas), "kinds": kinds}


# --- recommendations and bookmarks ------------------------------------------------------------
RECOMMENDATION_POOL = 60  # per tier
PEER_WINDOW = dt.timedelta(days=90)


def _interests(actor: User) -> Interests:
    """The topics ``actor`` follows, as the registered provider answers (none without one)."""
    provider = extension(current_app).interests
    return provider(actor) if provider is not None else Interests()


def _follows(interests: Interests) -> ColumnElement[bool] | None:
    """Material of a followed product or therapeutic area (``None``: the HCP follows none)."""
    parts = []
    if interests.product_ids:
        parts.append(Material.product_id.in_(sorted(interests.product_ids)))
    if interests.areas:
        parts.append(Material.therapeutic_area.in_(sorted(interests.areas)))
    return or_(*parts) if parts else None


def recommendations(actor: User, *, limit: int = 6) -> list[Material]:
    """ "For you": published material meant for the HCP that they have not opened yet. What the
    HCP chose to follow (products and therapeutic areas, see :func:`content.register_interests`)
    comes first; then their specialty decides: material whose audience names it, then material
    of the therapeutic area of that name, then the rest (a cardiologist never sees an oncology
    material ahead of a cardiology one, unless they follow oncology); within each of these, what
    peers of the same specialty opened recently and recency. HCPs only; others get an empty
    list."""
    if actor.role is not Role.HCP or not policy.can_see_professional_content(actor):
        return []
    profile = actor.hcp_profile
    assert profile is not None
    now = utcnow()
    seen = select(MaterialEvent.family_id).where(MaterialEvent.user_id == actor.id)
    for_specialty = Material.audience_specialties.contains(
        f"|{profile.specialty}|", autoescape=True
    )
    in_area = func.lower(Material.therapeutic_area) == profile.specialty.lower()
    # Peers of the same specialty who opened a candidate recently, read with the candidate (a
    # handful of index entries each, for the rows a tier returns): a list of every HCP of the
    # specialty first read 50,000 users at a year of data, and a statement of its own would cost
    # the page the round trip that asking for the HCP's topics now takes.
    peers = (
        select(func.count(func.distinct(MaterialEvent.user_id)))
        .join(HcpProfile, HcpProfile.user_id == MaterialEvent.user_id)
        .where(
            MaterialEvent.family_id == Material.family_id,
            MaterialEvent.at >= now - PEER_WINDOW,
            MaterialEvent.user_id != actor.id,
            HcpProfile.specialty == profile.specialty,
        )
        .correlate(Material)
        .scalar_subquery()
    )
    candidates = select(
        Material.id, Material.family_id, Material.effective_at, peers.label("peers")
    ).where(library_clause(actor, now), Material.family_id.not_in(seen))
    tiers = [for_specialty, and_(~for_specialty, in_area), and_(~for_specialty, ~in_area)]
    followed = _follows(_interests(actor))
    if followed is not None:
        tiers = [followed, *tiers]
    # Each tier is read newest first up to the pool's size, and a later tier only while the
    # earlier ones hold fewer than ``limit`` (a large library of other material cannot crowd the
    # specialty out).
    reads = [
        candidates.add_columns(literal_column(str(rank)).label("tier"))
        .where(tier)
        .order_by(Material.effective_at.desc(), Material.id.desc())
        .limit(RECOMMENDATION_POOL)
        for rank, tier in enumerate(tiers)
    ]
    statements: list[Any] = reads
    if followed is not None:
        # The followed topics and the specialty share one statement (following costs no round
        # trip), and the specialty's read runs only when the topics hold fewer than ``limit``: a
        # condition evaluated once, before it. Each keeps the index-friendly read it has alone (the
        # specialty's does not leave out the topics, which would make it sparse: read to the end
        # of the library), so a material in both comes twice and keeps its better tier.
        topics = reads[0].cte("followed")
        short = select(func.count()).select_from(topics).scalar_subquery() < limit
        specialty = select(reads[1].subquery()).where(short)
        statements = [union_all(select(topics), specialty), *reads[2:]]
    pool: dict[int, Any] = {}
    for statement in statements:
        if len(pool) >= limit:
            break
        for row in db.session.execute(statement):
            if row.id not in pool or row.tier < pool[row.id].tier:
                pool[row.id] = row
    if not pool:
        return []

    def score(row: Any) -> float:
        peer = 1.5 * math.log1p(row.peers or 0)
        age_days = max(0.0, (now - row.effective_at).total_seconds() / 86400)
        recency = math.exp(-age_days / 120)
        return peer + recency

    chosen = [
        row.id
        for row in sorted(pool.values(), key=lambda row: (row.tier, -score(row), -row.id))[:limit]
    ]
    by_id = {m.id: m for m in db.session.scalars(select(Material).where(Material.id.in_(chosen)))}
    return [by_id[i] for i in chosen]


@transactional
def set_bookmark(actor: User, material: Material, *, on: bool) -> None:
    """Add or remove ``material`` (its whole family) in the actor's "My library"; :class:`NotFound`
    when they may not see it. A personal list: no audit record."""
    policy.require_visible(policy.can_view_material(actor, material, utcnow()), "That material")
    family = material.family_id or material.id
    existing = db.session.get(Bookmark, (actor.id, family))
    if on and existing is None:
        db.session.add(Bookmark(user_id=actor.id, family_id=family))
    elif not on and existing is not None:
        db.session.delete(existing)


def is_bookmarked(actor: User, material: Material) -> bool:
    return db.session.get(Bookmark, (actor.id, material.family_id or material.id)) is not None


@dataclasses.dataclass(frozen=True)
class MyLibrary:
    bookmarks: list[Material]
    history: list[tuple[Material, dt.datetime]]


def my_library(actor: User, *, history_limit: int = 20) -> MyLibrary:
    """Bookmarked materials still visible (current version), and the recently opened ones."""
    now = utcnow()
    families = select(Bookmark.family_id).where(Bookmark.user_id == actor.id)
    bookmarks = db.session.scalars(
        select(Material)
        .where(Material.family_id.in_(families), library_clause(actor, now))
        .order_by(Material.title)
    ).all()
    recent = db.session.execute(
        select(MaterialEvent.family_id, func.max(MaterialEvent.at).label("at"))
        .where(MaterialEvent.user_id == actor.id)
        .group_by(MaterialEvent.family_id)
        .order_by(func.max(MaterialEvent.at).desc())
        .limit(history_limit)
    ).all()
    current = {
        m.family_id: m
        for m in db.session.scalars(
            select(Material).where(
                Material.family_id.in_([r.family_id for r in recent]), library_clause(actor, now)
            )
        )
    }
    history = [(current[r.family_id], r.at) for r in recent if r.family_id in current]
    return MyLibrary(list(bookmarks), history)


# --- content managers and reviewers ----------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Dashboard:
    counts: dict[MaterialState, int]  # materials per state (with ``mine``: the actor's), up to
    # WORKSPACE_COUNT_CAP + 1: past the cap the page says "1,000+"
    items: list[tuple[Material, MaterialState]]  # one page of the chosen state, newest change first
    page: int
    pages: int
    expiring: list[Material]
    views: dict[int, int]  # of the page's materials
    downloads: dict[int, int]
    review_queue: list[Material]

    def count_label(self, state: MaterialState) -> str:
        """The count of ``state`` as the page shows it: "12", or "1,000+" past the cap."""
        n = self.counts[state]
        return f"{WORKSPACE_COUNT_CAP:,}+" if n > WORKSPACE_COUNT_CAP else f"{n:,}"


WORKSPACE_PAGE_SIZE = 50
WORKSPACE_LIST_LIMIT = 20  # expiring soon, awaiting review: the first ones, soonest first
# Each state is counted up to here: a year of versions is 100,000 materials, and an exact COUNT
# of the largest state would read most of them for every page (bench/pages.py at seed-scale).
WORKSPACE_COUNT_CAP = 1000
# The expired count and "expiring soon" read approved versions by expiry date. SQLite prefers the
# status indexes there (with or without statistics) and reads all 90,000 approved versions of a
# year of data: it is told the index (portal.extensions.sqlite_index_hints).
_BY_EXPIRY = "INDEXED BY ix_materials_expires"


def state_clause(state: MaterialState, now: dt.datetime) -> ColumnElement[bool]:
    """The SQL twin of :meth:`Material.state_at`: materials in ``state`` at ``now``."""
    approved = Material.status == MaterialStatus.APPROVED
    if state is MaterialState.EXPIRED:
        return and_(approved, Material.expires_at <= now)
    if state is MaterialState.PUBLISHED:
        return and_(approved, Material.effective_at <= now, Material.expires_at > now)
    if state is MaterialState.APPROVED:
        return and_(approved, Material.effective_at > now)
    return Material.status == MaterialStatus(state.value)


def dashboard(
    actor: User,
    *,
    mine: bool = False,
    state: MaterialState | None = None,
    page: int = 1,
    listing: bool = True,
) -> Dashboard:
    """The content workspace: how many materials are in each state, one page of them (``state``
    or all, most recently changed first; ``mine``: only those ``actor`` authored), the first
    published ones expiring within 30 days, views and downloads of the page's materials, and the
    versions awaiting ``actor``'s review (``listing=False``: no page, for the home panel).
    Counted and paged in SQL, however large the library. Library managers only."""
    policy.require(policy.can_manage_library(actor))
    now = utcnow()
    scope = Material.author_id == actor.id if mine else true()

    def capped_count(s: MaterialState) -> Any:
        counted = select(Material.id).where(scope, state_clause(s, now))
        if s is MaterialState.EXPIRED and not mine:
            counted = counted.with_hint(Material, _BY_EXPIRY, "sqlite")
        capped = counted.limit(WORKSPACE_COUNT_CAP + 1).subquery()
        return select(func.count()).select_from(capped).scalar_subquery()

    row = db.session.execute(select(*(capped_count(s) for s in MaterialState))).one()
    counts = {s: int(n) for s, n in zip(MaterialState, row, strict=True)}
    shown = [counts[state]] if state is not None else list(counts.values())
    listed: Page[Material] = Page(items=[], page=1, pages=1, total=sum(shown))
    events: Sequence[Any] = []
    if listing:
        listed = read_page(
            select(Material)
            .options(joinedload(Material.product))
            .where(scope, state_clause(state, now) if state is not None else true())
            .order_by(Material.updated_at.desc(), Material.id.desc()),
            page=page,
            page_size=WORKSPACE_PAGE_SIZE,
            total=sum(shown),
            capped=any(n > WORKSPACE_COUNT_CAP for n in shown),
        )
        events = db.session.execute(
            select(MaterialEvent.material_id, MaterialEvent.kind, func.count())
            .where(MaterialEvent.material_id.in_([m.id for m in listed.items]))
            .group_by(MaterialEvent.material_id, MaterialEvent.kind)
        ).all()
    expiring = db.session.scalars(
        select(Material)
        .with_hint(Material, _BY_EXPIRY, "sqlite")
        .where(
            scope,
            state_clause(MaterialState.PUBLISHED, now),
            Material.expires_at <= now + EXPIRING_WITHIN,
        )
        .order_by(Material.expires_at, Material.id)
        .limit(WORKSPACE_LIST_LIMIT)
    ).all()
    waiting = db.session.scalars(
        select(Material)
        .options(joinedload(Material.author))
        .where(Material.status == MaterialStatus.IN_REVIEW, Material.author_id != actor.id)
        .order_by(Material.updated_at, Material.id)
        .limit(WORKSPACE_LIST_LIMIT)
    ).all()
    return Dashboard(
        counts=counts,
        items=[(m, m.state_at(now)) for m in listed.items],
        page=listed.page,
        pages=listed.pages,
        expiring=list(expiring),
        views={mid: n for mid, kind, n in events if kind is EventKind.VIEW},
        downloads={mid: n for mid, kind, n in events if kind is EventKind.DOWNLOAD},
        review_queue=[m for m in waiting if policy.can_review_material(actor, m)],
    )


def get_managed_material(actor: User, material_id: int) -> Material:
    """Any material, for library managers; :class:`NotFound` for everyone else."""
    policy.require_visible(policy.can_manage_library(actor), "That material")
    material = db.session.get(Material, material_id)
    if material is None:
        raise NotFound("That material was not found.")
    return material


@transactional
def reindex_all() -> int:
    """Rebuild the search index from the approved versions (after a restore, say), in one unit of
    work: all of it or nothing. Returns the number indexed. For the CLI (``flask content
    reindex``); no audit record (the index is derived from audited state)."""
    index = index_for(db.session)
    count = 0
    for material in db.session.scalars(
        select(Material).where(Material.status == MaterialStatus.APPROVED)
    ):
        index.add(db.session, material)
        count += 1
    return count
