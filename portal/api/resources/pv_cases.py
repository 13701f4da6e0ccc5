"""``GET /api/v1/pv-cases`` and ``/pv-cases/{id}``: Pharmacovigilance's cases, with ``read:pv``
only (any other token: 403, whatever else it holds).

Status, origin and source, seriousness, the clock (due, acknowledged, closed), the four elements
as PV recorded them and the links to where the words were said (question, chat, call note). The
reporter's words are those PV sees on the case (``source_text``), nothing more.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from werkzeug.exceptions import Forbidden

from portal import policy
from portal.accounts.timeline import iso
from portal.api.auth import current_token
from portal.api.resources import _paging
from portal.api.schemas import TimeRangeQuerySchema
from portal.errors import NotFound
from portal.extensions import db
from portal.models import utcnow
from portal.safety.models import PvCase, PvCaseStatus

blueprint = Blueprint("api_pv_cases", __name__, description="Pharmacovigilance cases (read:pv)")
MAX_ID = 2**31 - 1


class PvCaseQuerySchema(TimeRangeQuerySchema):
    status = fields.String(
        load_default=None, validate=validate.OneOf([s.value for s in PvCaseStatus])
    )


class LinksSchema(Schema):
    question_id = fields.Integer(required=True, allow_none=True)
    question_entry_id = fields.Integer(required=True, allow_none=True)
    conversation_id = fields.Integer(required=True, allow_none=True)
    message_id = fields.Integer(required=True, allow_none=True)
    call_note_id = fields.Integer(required=True, allow_none=True)


class ElementsSchema(Schema):
    patient = fields.String(required=True)
    reporter = fields.String(required=True)
    suspect_product = fields.String(required=True)
    event = fields.String(required=True)
    missing = fields.List(fields.String(), required=True)


class PvCaseSchema(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    status = fields.String(required=True)
    origin = fields.String(required=True)
    source = fields.String(required=True)
    source_ref = fields.String(required=True, allow_none=True)
    source_text = fields.String(required=True)
    reasons = fields.List(fields.String(), required=True)
    reporter_hcp_id = fields.Integer(required=True, allow_none=True)
    product_id = fields.Integer(required=True, allow_none=True)
    product_complaint = fields.Boolean(required=True)
    serious = fields.Boolean(required=True, allow_none=True)
    seriousness = fields.List(fields.String(), required=True)
    elements = fields.Nested(ElementsSchema, required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    due_at = fields.String(required=True, metadata={"format": "date-time"})
    acknowledged_at = fields.String(
        required=True, allow_none=True, metadata={"format": "date-time"}
    )
    closed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    overdue = fields.Boolean(required=True)
    links = fields.Nested(LinksSchema, required=True)


class PvCasePageSchema(Schema):
    items = fields.List(fields.Nested(PvCaseSchema), required=True)
    next = fields.String(required=True, allow_none=True)


def _require_pv() -> None:
    if not policy.token_can_read_pv(current_token()):
        raise Forbidden("This needs the scope read:pv.")


def serialize(case: PvCase) -> dict[str, Any]:
    return {
        "id": case.id,
        "reference": case.reference,
        "status": case.status.value,
        "origin": case.origin.value,
        "source": case.source,
        "source_ref": case.source_ref,
        "source_text": case.source_text,
        "reasons": list(case.reasons or []),
        "reporter_hcp_id": case.reporter_id,
        "product_id": case.product_id,
        "product_complaint": case.product_complaint,
        "serious": case.serious,
        "seriousness": list(case.seriousness or []),
        "elements": {
            "patient": case.patient,
            "reporter": case.reporter,
            "suspect_product": case.suspect_product,
            "event": case.event,
            "missing": case.missing_elements,
        },
        "created_at": iso(case.created_at),
        "due_at": iso(case.due_at),
        "acknowledged_at": iso(case.acknowledged_at),
        "closed_at": iso(case.closed_at),
        "overdue": case.is_overdue(utcnow()),
        "links": {
            "question_id": case.question_id,
            "question_entry_id": case.entry_id,
            "conversation_id": case.conversation_id,
            "message_id": case.message_id,
            "call_note_id": case.call_note_id,
        },
    }


@blueprint.route("/pv-cases")
class PvCases(MethodView):
    @blueprint.arguments(PvCaseQuerySchema, location="query")
    @blueprint.response(200, PvCasePageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """PV cases, newest first, a cursor page at a time."""
        _require_pv()
        query = select(PvCase)
        if args["status"] is not None:
            query = query.where(PvCase.status == PvCaseStatus(args["status"]))
        if args["since"] is not None:
            query = query.where(PvCase.created_at >= args["since"])
        if args["until"] is not None:
            query = query.where(PvCase.created_at < args["until"])
        after = _paging.older_than(PvCase.created_at, PvCase.id, args["cursor"])
        if after is not None:
            query = query.where(after)
        limit = args["limit"]
        rows = db.session.scalars(
            query.order_by(PvCase.created_at.desc(), PvCase.id.desc()).limit(limit + 1)
        ).all()
        page, following = _paging.split(rows, limit, lambda c: (c.created_at, c.id))
        return {"items": [serialize(c) for c in page], "next": following}


@blueprint.route(f"/pv-cases/<int(max={MAX_ID}):case_id>")
class PvCaseDetail(MethodView):
    @blueprint.response(200, PvCaseSchema)
    def get(self, case_id: int) -> dict[str, Any]:
        """One PV case."""
        _require_pv()
        case = db.session.get(PvCase, case_id)
        if case is None:
            raise NotFound("No such PV case.")
        return serialize(case)
