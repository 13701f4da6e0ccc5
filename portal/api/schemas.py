"""Schemas shared by the API's resources (the problem document, cursor pages)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate


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
    # A validator must raise (marshmallow 4 ignores a False return); Range is also documented
    # in the OpenAPI document as minimum and maximum.
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))

    @post_load
    def _empty_cursor_is_the_first_page(self, data: dict[str, Any], **kwargs: Any) -> Any:
        if data.get("cursor") == "":
            data["cursor"] = None
        return data


# --- shared by the resources (portal/api/resources/) ---------------------------------------------
class ActorSchema(Schema):
    """Who did something, as the token may know them (a colleague of a side the token does not
    read is named by their team)."""

    name = fields.String(required=True)
    role = fields.String(required=True)
    side = fields.String(required=True, metadata={"description": "commercial, medical, neutral"})


class ProductRefSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)


def plausible_time(value: dt.datetime) -> None:
    # A time at the calendar's edge (year 1, 9999) overflows when turned to UTC: refused as
    # input rather than failing in the database layer.
    if not EARLIEST <= value <= LATEST:
        raise ValidationError("Give a time between the years 1900 and 2200.")


EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


class TimeRangeQuerySchema(CursorQuerySchema):
    """A cursor page of records between ``since`` (included) and ``until`` (excluded)."""

    since = fields.AwareDateTime(
        load_default=None,
        validate=plausible_time,
        metadata={"description": "ISO 8601 with a time zone; included"},
    )
    until = fields.AwareDateTime(
        load_default=None,
        validate=plausible_time,
        metadata={"description": "ISO 8601 with a time zone; excluded"},
    )
