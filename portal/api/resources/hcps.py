"""``GET /api/v1/hcps`` and ``/hcps/{id}``: HCPs as a CRM keeps them.

Profile (name, profession, specialty, country, NPI or licence, territory), verification, the
effective contact terms (the HCP's choices or the company defaults: what the contact rule
applies) and the chat consents, one per staff member, with their times. With ``read:commercial``
or ``read:medical``; a colleague of a side the token does not read (an MSL, for a commercial
token) is shown by role and side only (:func:`portal.policy.token_can_view_side`).
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from chat.models import ConsentPeriod, Conversation
from portal import policy
from portal.accounts import contact_rule
from portal.accounts.models import ContactPreferences
from portal.accounts.timeline import iso
from portal.api.auth import current_token
from portal.api.models import ApiToken
from portal.api.resources import _paging
from portal.api.schemas import CursorQuerySchema
from portal.errors import NotFound
from portal.extensions import db
from portal.models import HcpProfile, Role, User, utcnow
from portal.models.reference import Verification

blueprint = Blueprint("api_hcps", __name__, description="HCPs: profile, terms and consent")
MAX_ID = 2**31 - 1


class HcpQuerySchema(CursorQuerySchema):
    verification = fields.String(
        load_default=None, validate=validate.OneOf([v.value for v in Verification])
    )
    country = fields.String(
        load_default=None, validate=[validate.Length(equal=2), validate.Regexp(r"^[A-Za-z]{2}$")]
    )


class VerificationSchema(Schema):
    state = fields.String(required=True, metadata={"description": "pending, verified, rejected"})
    verified_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})


class QuietHoursSchema(Schema):
    start = fields.String(required=True, metadata={"description": "HH:MM, the HCP's time"})
    end = fields.String(required=True)


class ContactTermsSchema(Schema):
    chosen = fields.Boolean(
        required=True, metadata={"description": "false: the company defaults apply"}
    )
    channels = fields.List(fields.String(), required=True)
    cap = fields.Integer(required=True, metadata={"description": "Unsolicited contacts a window"})
    paused_until = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    quiet_hours = fields.Nested(QuietHoursSchema, required=True, allow_none=True)
    timezone = fields.String(required=True)


class ConsentSchema(Schema):
    conversation_id = fields.Integer(required=True)
    staff_id = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "null: a side the token does not read"},
    )
    staff_name = fields.String(required=True, allow_none=True)
    staff_role = fields.String(required=True)
    side = fields.String(required=True)
    active = fields.Boolean(required=True)
    granted_at = fields.String(required=True, metadata={"format": "date-time"})
    granted_via = fields.String(required=True)
    withdrawn_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    withdrawn_via = fields.String(required=True, allow_none=True)


class HcpSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    profession = fields.String(required=True, allow_none=True)
    specialty = fields.String(required=True, allow_none=True)
    country = fields.String(required=True, allow_none=True)
    npi = fields.String(required=True, allow_none=True)
    licence_number = fields.String(required=True, allow_none=True)
    territory = fields.String(required=True, allow_none=True)
    registered_at = fields.String(required=True, metadata={"format": "date-time"})
    verification = fields.Nested(VerificationSchema, required=True)
    contact_terms = fields.Nested(ContactTermsSchema, required=True)
    chat_consents = fields.List(fields.Nested(ConsentSchema), required=True)


class HcpPageSchema(Schema):
    items = fields.List(fields.Nested(HcpSchema), required=True)
    next = fields.String(required=True, allow_none=True)


def _require_read(token: ApiToken) -> None:
    from werkzeug.exceptions import Forbidden

    if not policy.token_can_read_records(token):
        raise Forbidden("This needs the scope read:commercial or read:medical.")


def _terms(hcp: User, saved: ContactPreferences | None) -> dict[str, Any]:
    # No saved row is the company defaults: an unsaved one says so without a statement per HCP.
    terms = contact_rule.terms_of(hcp, saved or ContactPreferences(hcp_id=hcp.id, chosen=False))
    quiet = terms.quiet
    return {
        "chosen": terms.chosen,
        "channels": sorted(c.value for c in terms.channels),
        "cap": terms.cap,
        "paused_until": iso(terms.paused_until),
        "quiet_hours": (
            {"start": f"{quiet[0]:%H:%M}", "end": f"{quiet[1]:%H:%M}"} if quiet else None
        ),
        "timezone": terms.zone.key,
    }


def _consent(token: ApiToken, period: ConsentPeriod, conversation: Conversation) -> dict[str, Any]:
    staff = conversation.staff
    side = policy.side_of(staff.role)
    named = policy.token_can_view_side(token, side)
    return {
        "conversation_id": conversation.id,
        "staff_id": staff.id if named else None,
        "staff_name": staff.name if named else None,
        "staff_role": staff.role.value,
        "side": side.value,
        "active": period.withdrawn_at is None,
        "granted_at": iso(period.granted_at),
        "granted_via": period.granted_via,
        "withdrawn_at": iso(period.withdrawn_at),
        "withdrawn_via": period.withdrawn_via,
    }


def serialize_page(token: ApiToken, hcps: list[User]) -> list[dict[str, Any]]:
    """The HCPs as the API shows them: three statements for the page, whatever its size."""
    ids = [h.id for h in hcps]
    saved = {
        p.hcp_id: p
        for p in db.session.scalars(
            select(ContactPreferences).where(ContactPreferences.hcp_id.in_(ids))
        )
    } if ids else {}  # fmt: skip
    latest: dict[int, dict[int, tuple[ConsentPeriod, Conversation]]] = {}
    if ids:
        rows = db.session.execute(
            select(ConsentPeriod, Conversation)
            .join(Conversation, Conversation.id == ConsentPeriod.conversation_id)
            .options(joinedload(Conversation.staff))
            .where(Conversation.hcp_id.in_(ids))
            .order_by(ConsentPeriod.granted_at, ConsentPeriod.id)
        ).all()
        for period, conversation in rows:  # the latest period of each conversation wins
            latest.setdefault(conversation.hcp_id, {})[conversation.id] = (period, conversation)
    items = []
    for hcp in hcps:
        profile = hcp.hcp_profile
        consents = sorted(
            latest.get(hcp.id, {}).values(), key=lambda pair: (pair[0].granted_at, pair[0].id)
        )
        items.append(
            {
                "id": hcp.id,
                "name": hcp.name,
                "profession": profile.profession.value if profile else None,
                "specialty": profile.specialty if profile else None,
                "country": profile.country if profile else None,
                "npi": profile.npi if profile else None,
                "licence_number": profile.licence_number if profile else None,
                "territory": profile.territory.code if profile and profile.territory else None,
                "registered_at": iso(hcp.created_at),
                "verification": {
                    "state": profile.verification.value if profile else Verification.PENDING.value,
                    "verified_at": iso(profile.verified_at) if profile else None,
                },
                "contact_terms": _terms(hcp, saved.get(hcp.id)),
                "chat_consents": [_consent(token, p, c) for p, c in consents],
            }
        )
    return items


def _query() -> Any:
    return (
        select(User)
        .options(joinedload(User.hcp_profile).joinedload(HcpProfile.territory))
        .where(User.role == Role.HCP)
    )


@blueprint.route("/hcps")
class Hcps(MethodView):
    @blueprint.arguments(HcpQuerySchema, location="query")
    @blueprint.response(200, HcpPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """HCPs, newest registration first (by id), a cursor page at a time."""
        token = current_token()
        _require_read(token)
        query = _query()
        if args["verification"] is not None or args["country"] is not None:
            query = query.join(HcpProfile, HcpProfile.user_id == User.id)
            if args["verification"] is not None:
                query = query.where(HcpProfile.verification == Verification(args["verification"]))
            if args["country"] is not None:
                query = query.where(HcpProfile.country == args["country"].upper())
        if args["cursor"] is not None:
            query = query.where(User.id < _paging.decode(args["cursor"])[1])
        limit = args["limit"]
        rows = list(db.session.scalars(query.order_by(User.id.desc()).limit(limit + 1)).unique())
        page = rows[:limit]
        following = _paging.encode(utcnow(), page[-1].id) if len(rows) > limit else None
        return {"items": serialize_page(token, page), "next": following}


@blueprint.route(f"/hcps/<int(max={MAX_ID}):hcp_id>")
class HcpDetail(MethodView):
    @blueprint.response(200, HcpSchema)
    def get(self, hcp_id: int) -> dict[str, Any]:
        """One HCP (404 for an id that is not an HCP's)."""
        token = current_token()
        _require_read(token)
        hcp = db.session.scalars(_query().where(User.id == hcp_id)).unique().one_or_none()
        if hcp is None:
            raise NotFound("No such HCP.")
        return serialize_page(token, [hcp])[0]
