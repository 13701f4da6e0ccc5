"""``GET /api/v1/me``: the calling token (name, scopes), for a client to check its setup."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from portal.api.auth import current_token

blueprint = Blueprint("api_meta", __name__, description="The calling token")


class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)


@blueprint.route("/me")
class Me(MethodView):
    @blueprint.response(200, TokenSchema)
    def get(self) -> dict[str, Any]:
        """The token this request was made with."""
        token = current_token()
        return {"id": token.id, "name": token.name, "scopes": sorted(token.scope_set)}
