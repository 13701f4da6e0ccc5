"""``GET /api/v1/interactions``: every HCP's timeline events (the HCP page's 17 kinds), newest
first, cursor-paged, with the firewall applied to each event by the token's scopes.

The events and their content are :func:`portal.accounts.timeline.interactions`'s, read for the
token by :class:`~portal.accounts.timeline.TokenReader`: a ``read:commercial`` token sees a medical
question as "A question to Medical Information" with ``detail`` null, another side's notes,
shares and meetings as team and date only. With ``read:commercial`` or ``read:medical``.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import Forbidden

from portal import policy
from portal.accounts import timeline
from portal.api.auth import current_token
from portal.api.schemas import ActorSchema, TimeRangeQuerySchema
from portal.errors import InvalidInput

blueprint = Blueprint(
    "api_interactions", __name__, description="HCP interactions (timeline events)"
)
KINDS = [kind.value for kind in timeline.EventKind]


class InteractionQuerySchema(TimeRangeQuerySchema):
    kind = fields.List(
        fields.String(validate=validate.OneOf(KINDS)),
        load_default=None,
        metadata={"description": "Repeat for several kinds; all kinds without it"},
    )
    hcp_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))


class InteractionSchema(Schema):
    id = fields.String(
        required=True, metadata={"description": "Stable and unique: the kind and the record's id"}
    )
    at = fields.String(required=True, metadata={"format": "date-time"})
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    hcp_id = fields.Integer(required=True)
    actor = fields.Nested(ActorSchema, required=True)
    summary = fields.String(required=True)
    detail = fields.Dict(
        required=True,
        allow_none=True,
        metadata={"description": "The event's content; null when the token may not read it"},
    )


class InteractionPageSchema(Schema):
    items = fields.List(fields.Nested(InteractionSchema), required=True)
    next = fields.String(required=True, allow_none=True)


def serialize(event: timeline.Event) -> dict[str, Any]:
    body = event.as_json()
    body["id"] = f"{event.kind.value}:{event.id}"
    body["hcp_id"] = event.hcp_id
    return body


@blueprint.route("/interactions")
class Interactions(MethodView):
    @blueprint.arguments(InteractionQuerySchema, location="query")
    @blueprint.response(200, InteractionPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Timeline events across HCPs, newest first; ``next`` continues where a page ended,
        without skipping or repeating an event when new ones arrive meanwhile."""
        token = current_token()
        if not policy.token_can_read_records(token):
            raise Forbidden("This needs the scope read:commercial or read:medical.")
        kinds = {timeline.EventKind(k) for k in args["kind"]} if args["kind"] else None
        try:
            page = timeline.interactions(
                timeline.TokenReader(token),
                since=args["since"],
                until=args["until"],
                kinds=kinds,
                hcp_id=args["hcp_id"],
                after=args["cursor"] or None,  # "?cursor=" is the first page
                limit=args["limit"],
            )
        except InvalidInput as exc:  # the timeline names its own cursor "before"
            raise InvalidInput(exc.message, field="cursor") from None
        return {"items": [serialize(e) for e in page.events], "next": page.next}
