"""``POST /api/v1/call-notes``: a CRM records a call or visit, with ``write:interactions``.

Through the same service as the pages (:func:`portal.api.call_notes.record` →
:func:`portal.accounts.call_notes.record`): the author named in the body (``author_email``) must
be allowed to write the note, the HCP's contact rule applies (a refusal is a 409
``contact-refused`` problem with ``next_allowed_at``), the author's safety attestation is
required and a "yes" opens a PV case. ``external_id`` makes a retry safe: the same id from the
same token returns the first note (200) instead of recording another (201).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select

from portal.accounts import call_notes
from portal.accounts.contact_rule import ContactRefused
from portal.accounts.models import CallNote, InteractionKind
from portal.accounts.timeline import iso
from portal.api import call_notes as api_call_notes
from portal.api import problems
from portal.api.auth import current_token
from portal.api.schemas import ProblemSchema, plausible_time
from portal.extensions import db
from portal.safety.attestations import Attestation, AttestationChoice
from portal.safety.models import PvCase

blueprint = Blueprint("api_call_notes", __name__, description="Record interactions from a CRM")


def _storable(value: str) -> None:
    # PostgreSQL cannot store a NUL character, and nobody types one.
    if "\x00" in value:
        raise ValidationError("The text holds a character that cannot be stored.")


def text(*, max_length: int, **kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(max=max_length), _storable], **kwargs)


class CallNoteInputSchema(Schema):
    author_email = fields.Email(
        required=True, metadata={"description": "The staff member who had the interaction"}
    )
    hcp_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in InteractionKind]))
    occurred_at = fields.AwareDateTime(required=True, validate=plausible_time)
    requested_by_hcp = fields.Boolean(load_default=False)
    product_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)),
        load_default=list,
        validate=validate.Length(max=call_notes.MAX_PRODUCTS),
    )
    topics = text(load_default="", max_length=call_notes.MAX_TOPICS)
    summary = text(required=True, max_length=call_notes.MAX_SUMMARY)
    follow_up = text(load_default="", max_length=call_notes.MAX_FOLLOW_UP)
    follow_up_due = fields.Date(load_default=None, allow_none=True)
    attestation = fields.String(
        required=True,
        validate=validate.OneOf([c.value for c in AttestationChoice]),
        metadata={"description": "Did the interaction hold a possible adverse event or a "
                  "product complaint? none, adverse_event, product_complaint, both"},
    )  # fmt: skip
    external_id = fields.String(
        load_default=None,
        validate=[validate.Length(min=1, max=api_call_notes.EXTERNAL_ID_MAX), _storable],
        metadata={"description": "The CRM's id for the note: a retry with it records nothing"},
    )


class AuthorSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)


class CallNoteSchema(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    hcp_id = fields.Integer(required=True)
    author = fields.Nested(AuthorSchema, required=True)
    side = fields.String(required=True)
    kind = fields.String(required=True)
    occurred_at = fields.String(required=True, metadata={"format": "date-time"})
    requested_by_hcp = fields.Boolean(required=True)
    product_ids = fields.List(fields.Integer(), required=True)
    topics = fields.String(required=True)
    summary = fields.String(required=True)
    follow_up = fields.String(required=True)
    follow_up_due = fields.String(required=True, allow_none=True, metadata={"format": "date"})
    question_id = fields.Integer(required=True, allow_none=True)
    pv_case_opened = fields.Boolean(required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    external_id = fields.String(required=True, allow_none=True)


class ContactRefusedSchema(ProblemSchema):
    rule = fields.String(required=True, metadata={"description": "Which of the HCP's terms"})
    next_allowed_at = fields.String(
        required=True,
        allow_none=True,
        metadata={"format": "date-time", "description": "null: not by this channel"},
    )


def serialize(note: CallNote, external_id: str | None) -> dict[str, Any]:
    author = note.author
    opened = db.session.scalar(select(PvCase.id).where(PvCase.call_note_id == note.id).limit(1))
    return {
        "id": note.id,
        "reference": call_notes.reference_of(note.id),
        "hcp_id": note.hcp_id,
        "author": {"id": author.id, "name": author.name, "role": author.role.value},
        "side": note.side.value,
        "kind": note.kind.value,
        "occurred_at": iso(note.occurred_at),
        "requested_by_hcp": note.requested_by_hcp,
        "product_ids": list(note.product_ids),
        "topics": note.topics,
        "summary": note.summary,
        "follow_up": note.follow_up,
        "follow_up_due": note.follow_up_due.isoformat() if note.follow_up_due else None,
        "question_id": note.question_id,
        "pv_case_opened": opened is not None,
        "created_at": iso(note.created_at),
        "external_id": external_id,
    }


def _refused(exc: ContactRefused) -> Response:
    decision = exc.decision
    at = decision.next_allowed_at
    return problems.problem(
        409,
        decision.reason,
        code="contact_refused",
        rule=decision.rule,
        next_allowed_at=iso(at.astimezone(dt.UTC)) if at is not None else None,
    )


@blueprint.route("/call-notes")
class CallNotes(MethodView):
    @blueprint.arguments(CallNoteInputSchema)
    @blueprint.response(201, CallNoteSchema, description="Recorded")
    @blueprint.alt_response(
        200, schema=CallNoteSchema, description="Recorded before under this external_id"
    )
    @blueprint.alt_response(
        409,
        schema=ContactRefusedSchema,
        content_type=problems.MEDIA_TYPE,
        description="The HCP's contact rule refuses this contact (type .../contact-refused)",
    )
    def post(self, body: dict[str, Any]) -> Any:
        """Record a call, visit or other interaction a staff member had with an HCP."""
        token = current_token()
        data = call_notes.CallNoteInput(
            kind=body["kind"],
            occurred_at=body["occurred_at"],
            requested_by_hcp=body["requested_by_hcp"],
            product_ids=body["product_ids"],
            topics=body["topics"],
            summary=body["summary"],
            follow_up=body["follow_up"],
            follow_up_due=body["follow_up_due"],
        )
        try:
            note, created = api_call_notes.record(
                token,
                author_email=body["author_email"],
                hcp_id=body["hcp_id"],
                data=data,
                attestation=Attestation.from_choice(body["attestation"]),
                external_id=body["external_id"],
            )
        except ContactRefused as exc:
            return _refused(exc)
        return serialize(note, body["external_id"]), 201 if created else 200
