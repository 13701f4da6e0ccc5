"""Versioned consent wordings: what a person agreed to is kept exactly as they saw it."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import ConsentWording

# First versions of each purpose's wording. A change is a new version (a new row), never an edit.
DEFAULT_WORDINGS: dict[str, str] = {
    "question_contact": (
        "I agree that the company's Medical Information, medical science liaison, sales or "
        "market access staff, and Pharmacovigilance where safety law requires it, may contact "
        "me about this question through the channel I chose. My question and the answer are "
        "kept as a record, as the law requires."
    ),
    "chat": (
        "I choose to chat privately with this company representative through the portal. I "
        "understand that the conversation is recorded and may be reviewed by the company's "
        "compliance team, that anything I write about a patient's side effect is passed to "
        "Pharmacovigilance as the law requires, and that I can end the chat at any moment."
    ),
}


def current_wording(purpose: str) -> ConsentWording:
    """The latest wording for ``purpose``. The first version is created (and committed) from the
    default when there is none yet, so the form that shows it and the request that records it
    agree on its id: call this before changing anything else in the transaction."""
    found = db.session.scalar(
        select(ConsentWording)
        .where(ConsentWording.purpose == purpose)
        .order_by(ConsentWording.version.desc())
        .limit(1)
    )
    if found is None:
        found = ConsentWording(purpose=purpose, version=1, text=DEFAULT_WORDINGS[purpose])
        db.session.add(found)
        db.session.commit()
    return found
