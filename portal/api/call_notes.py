"""Call notes recorded by a CRM through the API (``POST /api/v1/call-notes``).

The note is recorded by the same service as the pages (:func:`portal.accounts.call_notes.record`:
the author's permission, the contact rule, the safety attestation and detection, the audit
trail), for a staff author the CRM names by e-mail. A CRM may send its own id for the note
(``external_id``): kept per token (:class:`ApiCallNote`), a retry with the same id returns the
note recorded the first time instead of recording it twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from portal import audit, policy
from portal.accounts import call_notes
from portal.accounts.models import CallNote
from portal.api.models import ApiToken
from portal.errors import NotFound
from portal.extensions import db
from portal.models import Role, User, utcnow
from portal.models.base import Base, UTCDateTime
from portal.safety.attestations import Attestation
from portal.unit_of_work import unit_of_work

EXTERNAL_ID_MAX = 100


class ApiCallNote(Base):
    """A call note a CRM recorded, by the CRM's own id for it (unique per token)."""

    __tablename__ = "api_call_notes"
    __table_args__ = (Index("ix_api_call_notes_call_note", "call_note_id"),)

    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_MAX), primary_key=True)
    call_note_id: Mapped[int] = mapped_column(ForeignKey("call_notes.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


def find_author(email: str) -> User:
    """The active staff member whose e-mail is ``email`` (case-insensitive), else
    :class:`NotFound` (an HCP is never an author)."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or user.role is Role.HCP or user.suspended:
        raise NotFound("No active staff member has that e-mail address.", field="author_email")
    return user


def find_recorded(token: ApiToken, external_id: str) -> CallNote | None:
    """The note this token recorded under ``external_id`` before, if any."""
    return db.session.scalar(
        select(CallNote)
        .join(ApiCallNote, ApiCallNote.call_note_id == CallNote.id)
        .where(ApiCallNote.token_id == token.id, ApiCallNote.external_id == external_id)
    )


def record(
    token: ApiToken,
    *,
    author_email: str,
    hcp_id: int,
    data: call_notes.CallNoteInput,
    attestation: Attestation | None,
    external_id: str | None = None,
) -> tuple[CallNote, bool]:
    """Record an interaction for the CRM holding ``token`` (``write:interactions``,
    :func:`portal.policy.token_can_write_call_notes`, else :class:`PermissionDenied`), written by
    the staff member ``author_email``; return the note and whether it was recorded now (False:
    the token recorded it before under ``external_id``, and nothing changed).

    Everything else is :func:`portal.accounts.call_notes.record`'s: who may write on the HCP's
    record (``NotFound`` / ``PermissionDenied``), invalid fields (``InvalidInput``), the
    contact rule (:class:`~portal.accounts.contact_rule.ContactRefused`), the attestation and
    PV case, its audit records. Audits ``api.call_note`` (token, note, external id) in the same
    unit of work."""
    policy.require(
        policy.token_can_write_call_notes(token), "This needs the scope write:interactions."
    )
    author = find_author(author_email)
    policy.require(
        policy.token_can_write_for(token, author),
        "A note of a medical colleague needs a token that also holds read:medical.",
    )
    if external_id is not None:
        earlier = find_recorded(token, external_id)
        if earlier is not None:
            return earlier, False
    try:
        with unit_of_work():
            note = call_notes.record(author, hcp_id, data, attestation=attestation)
            if external_id is not None:
                db.session.add(
                    ApiCallNote(token_id=token.id, external_id=external_id, call_note_id=note.id)
                )
                db.session.flush()
            audit.record(
                None, "api.call_note", note, token=token.name, token_id=token.id,
                external_id=external_id, author=author.id,
            )  # fmt: skip
    except IntegrityError:
        # A retry raced the first request and lost: the first one's note is the answer.
        earlier = find_recorded(token, external_id) if external_id is not None else None
        if earlier is None:
            raise
        return earlier, False
    return note, True
