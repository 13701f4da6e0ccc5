"""Materials in any state, made the way the content services make them.

``make_material`` walks the real workflow (create, submit, approve; withdraw, new version) so the
audit trail and the search index are what production would hold. ``direct=True`` inserts the row
(and indexes an approved one, as :func:`content.services.approve_material` does) for tests that
need many materials and do not test the workflow.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, text

from content import services
from content.models import (
    Classification,
    Material,
    MaterialKind,
    MaterialState,
    MaterialStatus,
    audience_text,
)
from content.rendering import plain_text, render_markdown
from content.search import index_for
from content.services import MaterialInput, Upload
from portal.extensions import db
from portal.models import AuditRecord, Product, Role, User, utcnow
from tests.factories import make_product, make_user, unique

DAY = dt.timedelta(days=1)


def make_author(**overrides: Any) -> User:
    return make_user(Role.CONTENT_MANAGER, **overrides)


def make_reviewer(**overrides: Any) -> User:
    return make_user(Role.MLR_REVIEWER, **overrides)


def material_input(product: Product | None = None, **overrides: Any) -> MaterialInput:
    """A valid input for a material live from yesterday for a year; override any field."""
    now = utcnow()
    if "product_id" not in overrides:
        overrides["product_id"] = (product or make_product()).id
    values: dict[str, Any] = {
        "title": unique("Material "),
        "summary": "A short summary for the list.",
        "body_markdown": "Some *body* text.",
        "kind": MaterialKind.ARTICLE.value,
        "classification": Classification.PROMOTIONAL.value,
        "approval_code": unique("PRT-US-"),
        "effective_at": now - DAY,
        "expires_at": now + 365 * DAY,
    }
    values.update(overrides)
    return MaterialInput(**values)


def _approved(author: User, reviewer: User | None, data: MaterialInput, upload: Any) -> Material:
    material = services.create_material(author, data, upload)
    services.submit_for_review(author, material)
    return services.approve_material(reviewer or make_reviewer(), material)


def _direct(author: User, status: MaterialStatus, data: MaterialInput) -> Material:
    product = db.session.get(Product, data.product_id)
    assert product is not None
    now = utcnow()
    assert data.effective_at is not None and data.expires_at is not None
    material = Material(
        version=1,
        title=data.title,
        summary=data.summary,
        body_markdown=data.body_markdown,
        product=product,
        therapeutic_area=data.therapeutic_area or product.therapeutic_area,
        kind=MaterialKind(data.kind),
        classification=Classification(data.classification),
        audience_professions=audience_text(list(data.professions)),
        audience_specialties=audience_text(list(data.specialties)),
        audience_countries=audience_text(list(data.countries)),
        approval_code=data.approval_code.upper(),
        effective_at=data.effective_at,
        expires_at=data.expires_at,
        status=status,
        author=author,
    )
    material.body_html = render_markdown(data.body_markdown)
    material.body_text = plain_text(material.body_html)
    if status in (MaterialStatus.IN_REVIEW, MaterialStatus.APPROVED):
        material.submitted_at = now
    if status is MaterialStatus.APPROVED:
        material.approved_at = now
        material.approved_by = make_reviewer()
    db.session.add(material)
    db.session.flush()
    material.family_id = material.id
    if status is MaterialStatus.APPROVED:
        index_for(db.session).add(db.session, material)
    db.session.commit()
    return material


def make_material(
    author: User | None = None,
    status: MaterialState | str = MaterialState.PUBLISHED,
    *,
    reviewer: User | None = None,
    upload: Upload | None = None,
    direct: bool = False,
    **overrides: Any,
) -> Material:
    """A material in ``status`` (a :class:`MaterialState`: draft, in_review, approved =
    scheduled, published, expired, withdrawn, retired). Overrides are :class:`MaterialInput`
    fields, or ``product``. A retired material comes back with its approved successor
    reachable through ``family_id``; an expired one was approved in date, then its dates were
    moved into the past (nothing may approve an expired version)."""
    state = MaterialState(status)
    author = author or make_author()
    now = utcnow()
    if state is MaterialState.APPROVED:
        overrides.setdefault("effective_at", now + 10 * DAY)
    data = material_input(overrides.pop("product", None), **overrides)

    if direct:
        stored = {
            MaterialState.DRAFT: MaterialStatus.DRAFT,
            MaterialState.IN_REVIEW: MaterialStatus.IN_REVIEW,
            MaterialState.APPROVED: MaterialStatus.APPROVED,
            MaterialState.PUBLISHED: MaterialStatus.APPROVED,
            MaterialState.EXPIRED: MaterialStatus.APPROVED,
        }
        if state is MaterialState.EXPIRED:
            data.effective_at, data.expires_at = now - 30 * DAY, now - DAY
        assert state in stored, f"direct=True makes {sorted(stored)} only"
        return _direct(author, stored[state], data)

    if state is MaterialState.DRAFT:
        return services.create_material(author, data, upload)
    if state is MaterialState.IN_REVIEW:
        material = services.create_material(author, data, upload)
        return services.submit_for_review(author, material)
    material = _approved(author, reviewer, data, upload)
    if state in (MaterialState.APPROVED, MaterialState.PUBLISHED):
        return material
    if state is MaterialState.EXPIRED:
        material.effective_at = now - 30 * DAY
        material.expires_at = now - DAY
        db.session.commit()
        return material
    if state is MaterialState.WITHDRAWN:
        return services.withdraw_material(author, material, reason="Superseded by new data.")
    # Retired: a newer version was approved.
    successor = services.new_version(author, material)
    services.submit_for_review(author, successor)
    services.approve_material(reviewer or make_reviewer(), successor)
    db.session.refresh(material)
    assert material.status is MaterialStatus.RETIRED
    return material


# --- what the services left behind --------------------------------------------------------------
def indexed_ids() -> set[int]:
    """Ids of the material versions in the search index (either engine)."""
    if db.session.get_bind().dialect.name == "postgresql":
        query = text("SELECT material_id FROM material_search")
    else:
        query = text("SELECT rowid FROM material_search")
    return set(db.session.scalars(query))


def audit_actions(*materials: Material) -> list[tuple[str, int, int | None]]:
    """``(action, material id, actor id)`` of the audit records about these versions, in order."""
    ids = [str(m.id) for m in materials]
    rows = db.session.scalars(
        select(AuditRecord)
        .where(AuditRecord.target_type == "materials", AuditRecord.target_id.in_(ids))
        .order_by(AuditRecord.id)
    )
    return [(r.action, int(r.target_id or 0), r.actor_id) for r in rows]
