"""``GET /api/v1/materials`` and ``/materials/{id}``: the published library.

Published means approved, in date and the current version (an approved new version retires the
one before): content's own :func:`content.services.live_clause`. Any read scope reads it; a token
reading only the commercial side sees promotional material only, as reps do
(:func:`portal.policy.token_reads_medical_materials`). Never the body or the file itself: the
catalogue, for a CRM to reference what its people share.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import Forbidden

from content.models import Classification, Material, MaterialKind
from content.services import live_clause
from portal import policy
from portal.accounts.timeline import iso
from portal.api.auth import current_token
from portal.api.models import ApiToken
from portal.api.resources import _paging
from portal.api.schemas import CursorQuerySchema, ProductRefSchema
from portal.errors import NotFound
from portal.extensions import db
from portal.models import utcnow

blueprint = Blueprint(
    "api_materials", __name__, description="Published materials (approved, in date, current)"
)


class MaterialQuerySchema(CursorQuerySchema):
    product_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    kind = fields.String(
        load_default=None, validate=validate.OneOf([k.value for k in MaterialKind])
    )
    classification = fields.String(
        load_default=None, validate=validate.OneOf([c.value for c in Classification])
    )


class AudienceSchema(Schema):
    professions = fields.List(fields.String(), required=True)
    specialties = fields.List(fields.String(), required=True)
    countries = fields.List(fields.String(), required=True)


class FileSchema(Schema):
    name = fields.String(required=True)
    mime = fields.String(required=True, allow_none=True)
    size = fields.Integer(required=True, allow_none=True)


class MaterialSchema(Schema):
    id = fields.Integer(required=True)
    family_id = fields.Integer(required=True, allow_none=True)
    version = fields.Integer(required=True)
    title = fields.String(required=True)
    summary = fields.String(required=True)
    kind = fields.String(required=True)
    classification = fields.String(required=True)
    product = fields.Nested(ProductRefSchema, required=True)
    therapeutic_area = fields.String(required=True)
    audience = fields.Nested(AudienceSchema, required=True)
    approval_code = fields.String(required=True)
    effective_at = fields.String(required=True, metadata={"format": "date-time"})
    expires_at = fields.String(required=True, metadata={"format": "date-time"})
    approved_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    file = fields.Nested(FileSchema, required=True, allow_none=True)


class MaterialPageSchema(Schema):
    items = fields.List(fields.Nested(MaterialSchema), required=True)
    next = fields.String(required=True, allow_none=True)


def _require_read(token: ApiToken) -> None:
    if not policy.token_can_read_materials(token):
        raise Forbidden("This needs a read scope.")


def _visible(token: ApiToken) -> ColumnElement[bool]:
    clause = live_clause(utcnow())
    if policy.token_reads_medical_materials(token):
        return clause
    return and_(clause, Material.classification == Classification.PROMOTIONAL)


def serialize(material: Material) -> dict[str, Any]:
    product = material.product
    return {
        "id": material.id,
        "family_id": material.family_id,
        "version": material.version,
        "title": material.title,
        "summary": material.summary,
        "kind": material.kind.value,
        "classification": material.classification.value,
        "product": {"id": product.id, "code": product.code, "name": product.name},
        "therapeutic_area": material.therapeutic_area,
        "audience": {
            "professions": material.professions,
            "specialties": material.specialties,
            "countries": material.countries,
        },
        "approval_code": material.approval_code,
        "effective_at": iso(material.effective_at),
        "expires_at": iso(material.expires_at),
        "approved_at": iso(material.approved_at),
        "file": (
            {"name": material.file_name, "mime": material.file_mime, "size": material.file_size}
            if material.file_name
            else None
        ),
    }


@blueprint.route("/materials")
class Materials(MethodView):
    @blueprint.arguments(MaterialQuerySchema, location="query")
    @blueprint.response(200, MaterialPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Published materials, newest approval first (by id), a cursor page at a time."""
        token = current_token()
        _require_read(token)
        query = select(Material).options(joinedload(Material.product)).where(_visible(token))
        if args["product_id"] is not None:
            query = query.where(Material.product_id == args["product_id"])
        if args["kind"] is not None:
            query = query.where(Material.kind == MaterialKind(args["kind"]))
        if args["classification"] is not None:
            query = query.where(Material.classification == Classification(args["classification"]))
        if args["cursor"] is not None:
            query = query.where(Material.id < _id_cursor(args["cursor"]))
        limit = args["limit"]
        rows = db.session.scalars(query.order_by(Material.id.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        following = _paging.encode(utcnow(), page[-1].id) if len(rows) > limit else None
        return {"items": [serialize(m) for m in page], "next": following}


def _id_cursor(text: str) -> int:
    _at, ident = _paging.decode(text)
    return ident


@blueprint.route("/materials/<int(max=2147483647):material_id>")
class MaterialDetail(MethodView):
    @blueprint.response(200, MaterialSchema)
    def get(self, material_id: int) -> dict[str, Any]:
        """One published material (404 if it is not published, or not for this token)."""
        token = current_token()
        _require_read(token)
        material = db.session.scalar(
            select(Material)
            .options(joinedload(Material.product))
            .where(Material.id == material_id, _visible(token))
        )
        if material is None:
            raise NotFound("No such published material.")
        return serialize(material)
