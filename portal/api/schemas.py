"""Schemas shared by the API's resources (the problem document, cursor pages)."""

from __future__ import annotations

from marshmallow import Schema, fields


class ProblemSchema(Schema):
    """An RFC 9457 problem document."""

    type = fields.String(required=True, metadata={"description": "Stable URI of the problem type"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String()
    request_id = fields.String()
    errors = fields.Dict(
        keys=fields.String(), metadata={"description": "Each invalid field and its message"}
    )


class CursorQuerySchema(Schema):
    """``?cursor=`` from the previous page's ``next``, and ``?limit=`` (1 to 200, default 50)."""

    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=lambda n: 1 <= n <= 200)
