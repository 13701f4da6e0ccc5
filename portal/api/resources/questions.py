"""``GET /api/v1/questions`` and ``/questions/{id}``: HCPs' questions, their routing and times.

Every token with ``read:commercial`` or ``read:medical`` learns that a question exists, its team,
status and times. Its category, product, routing, text and replies only as
:func:`portal.policy.token_can_read_question` allows: any question with ``read:medical``, a
commercial one with ``read:commercial`` (a medical, off-label or moved-to-medical question is
never read by a commercial token). Internal notes are never served.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import Forbidden

from portal import policy
from portal.accounts.timeline import iso
from portal.api.auth import current_token
from portal.api.models import ApiToken
from portal.api.resources import _paging
from portal.api.schemas import ProductRefSchema, TimeRangeQuerySchema
from portal.errors import NotFound
from portal.extensions import db
from portal.models import utcnow
from portal.models.reference import Side, TeamKey
from portal.questions.models import (
    EntryKind,
    Question,
    QuestionEntry,
    QuestionEventKind,
    QuestionStatus,
)

blueprint = Blueprint("api_questions", __name__, description="HCPs' questions")
MAX_ID = 2**31 - 1
# The history steps that say who moved the question where, and when.
ROUTING_STEPS = (
    QuestionEventKind.ROUTED,
    QuestionEventKind.REROUTED,
    QuestionEventKind.REASSIGNED,
    QuestionEventKind.ESCALATED,
)
THREAD = (EntryKind.FOLLOW_UP, EntryKind.REPLY)


class QuestionQuerySchema(TimeRangeQuerySchema):
    status = fields.String(
        load_default=None, validate=validate.OneOf([s.value for s in QuestionStatus])
    )
    team = fields.String(load_default=None, validate=validate.OneOf([t.value for t in TeamKey]))
    hcp_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID))


class MoveSchema(Schema):
    step = fields.String(required=True, metadata={"description": "routed, rerouted, ..."})
    at = fields.String(required=True, metadata={"format": "date-time"})
    team = fields.String(required=True, allow_none=True)
    by_name = fields.String(required=True, allow_none=True)
    by_role = fields.String(required=True, allow_none=True)


class RoutingSchema(Schema):
    teams = fields.List(fields.String(), required=True)
    reasons = fields.List(fields.String(), required=True)
    moves = fields.List(fields.Nested(MoveSchema), required=True)


class ReplySchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "follow_up (HCP) or reply"})
    at = fields.String(required=True, metadata={"format": "date-time"})
    author_role = fields.String(required=True)
    text = fields.String(required=True)


class QuestionSchema(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    hcp_id = fields.Integer(required=True)
    status = fields.String(required=True)
    owner_team = fields.String(required=True)
    readable = fields.Boolean(
        required=True, metadata={"description": "false: team, status and times only"}
    )
    category = fields.String(required=True, allow_none=True)
    product = fields.Nested(ProductRefSchema, required=True, allow_none=True)
    routing = fields.Nested(RoutingSchema, required=True, allow_none=True)
    text = fields.String(required=True, allow_none=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    first_response_at = fields.String(
        required=True, allow_none=True, metadata={"format": "date-time"}
    )
    answered_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    closed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    due_at = fields.String(required=True, metadata={"format": "date-time"})
    overdue = fields.Boolean(required=True)


class QuestionDetailSchema(QuestionSchema):
    replies = fields.List(
        fields.Nested(ReplySchema),
        required=True,
        allow_none=True,
        metadata={"description": "The HCP's follow-ups and the answers; null when not readable"},
    )


class QuestionPageSchema(Schema):
    items = fields.List(fields.Nested(QuestionSchema), required=True)
    next = fields.String(required=True, allow_none=True)


def _require_read(token: ApiToken) -> None:
    if not policy.token_can_read_records(token):
        raise Forbidden("This needs the scope read:commercial or read:medical.")


def serialize(token: ApiToken, question: Question) -> dict[str, Any]:
    readable = policy.token_can_read_question(token, question)
    product = question.product
    body: dict[str, Any] = {
        "id": question.id,
        "reference": question.reference,
        "hcp_id": question.hcp_id,
        "status": question.status.value,
        "owner_team": question.owner_team.value,
        "readable": readable,
        "category": None,
        "product": None,
        "routing": None,
        "text": None,
        "created_at": iso(question.created_at),
        "first_response_at": iso(question.first_response_at),
        "answered_at": iso(question.answered_at),
        "closed_at": iso(question.closed_at),
        "due_at": iso(question.due_at),
        "overdue": question.is_overdue(utcnow()),
    }
    if readable:
        body["category"] = question.category.value
        body["product"] = (
            {"id": product.id, "code": product.code, "name": product.name} if product else None
        )
        body["text"] = question.text
        # The routing engine's reasons name the colleagues it chose: read on the medical side
        # only; a move's colleague is named to a token reading their side.
        medical = policy.token_can_view_side(token, Side.MEDICAL)
        body["routing"] = {
            "teams": [team.value for team in question.teams],
            "reasons": question.reasons if medical else [],
            "moves": [
                {
                    "step": event.kind.value,
                    "at": iso(event.at),
                    "team": event.team.value if event.team else None,
                    "by_name": event.actor.name
                    if event.actor and _names(token, event.actor)
                    else None,
                    "by_role": event.actor.role.value if event.actor else None,
                }
                for event in question.events
                if event.kind in ROUTING_STEPS
            ],
        }
    return body


def _query() -> Any:
    return select(Question).options(joinedload(Question.product), selectinload(Question.events))


@blueprint.route("/questions")
class Questions(MethodView):
    @blueprint.arguments(QuestionQuerySchema, location="query")
    @blueprint.response(200, QuestionPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Questions, newest first, a cursor page at a time."""
        token = current_token()
        _require_read(token)
        query = _query()
        if args["status"] is not None:
            query = query.where(Question.status == QuestionStatus(args["status"]))
        if args["team"] is not None:
            query = query.where(Question.owner_team == TeamKey(args["team"]))
        if args["hcp_id"] is not None:
            query = query.where(Question.hcp_id == args["hcp_id"])
        if args["since"] is not None:
            query = query.where(Question.created_at >= args["since"])
        if args["until"] is not None:
            query = query.where(Question.created_at < args["until"])
        after = _paging.older_than(Question.created_at, Question.id, args["cursor"])
        if after is not None:
            query = query.where(after)
        limit = args["limit"]
        rows = db.session.scalars(
            query.order_by(Question.created_at.desc(), Question.id.desc()).limit(limit + 1)
        ).all()
        page, following = _paging.split(rows, limit, lambda q: (q.created_at, q.id))
        return {"items": [serialize(token, q) for q in page], "next": following}


@blueprint.route(f"/questions/<int(max={MAX_ID}):question_id>")
class QuestionDetail(MethodView):
    @blueprint.response(200, QuestionDetailSchema)
    def get(self, question_id: int) -> dict[str, Any]:
        """One question, with its thread (the HCP's follow-ups and the replies) when readable."""
        token = current_token()
        _require_read(token)
        question = db.session.scalar(_query().where(Question.id == question_id))
        if question is None:
            raise NotFound("No such question.")
        body = serialize(token, question)
        body["replies"] = None
        if body["readable"]:
            entries = db.session.scalars(
                select(QuestionEntry)
                .options(joinedload(QuestionEntry.author))
                .where(QuestionEntry.question_id == question.id, QuestionEntry.kind.in_(THREAD))
                .order_by(QuestionEntry.created_at, QuestionEntry.id)
            ).all()
            body["replies"] = [
                {
                    "id": entry.id,
                    "kind": entry.kind.value,
                    "at": iso(entry.created_at),
                    "author_role": entry.author.role.value,
                    "text": entry.body,
                }
                for entry in entries
                # The HCP's own words and answers from a side the token reads.
                if entry.author.is_hcp or _names(token, entry.author)
            ]
        return body


def _names(token: ApiToken, colleague: Any) -> bool:
    return policy.token_can_view_side(token, policy.side_of(colleague.role))
