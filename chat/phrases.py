"""Restricted phrases: what staff may not write in a chat (promotional superlatives, unapproved
claims), kept as data an administrator edits. Whose messages are screened is policy's
(:func:`portal.policy.screens_restricted_phrases`); matching is on whole words, whatever the case
and accents (:func:`portal.safety.detection.keyword_hit`)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import Select, func, select

from chat.models import RestrictedPhrase
from portal import audit, policy
from portal.errors import InvalidInput, NotFound
from portal.extensions import db
from portal.models import User
from portal.safety import detection
from portal.unit_of_work import transactional


def restricted_phrases() -> list[RestrictedPhrase]:
    """The phrases in force, in the order they were added (the administration page)."""
    return list(
        db.session.scalars(
            select(RestrictedPhrase)
            .where(RestrictedPhrase.active.is_(True))
            .order_by(RestrictedPhrase.id)
        )
    )


@functools.cache
def _in_force() -> Select[str]:
    # Built once: every batch of staff messages reads the list.
    return (
        select(RestrictedPhrase.phrase)
        .where(RestrictedPhrase.active.is_(True))
        .order_by(RestrictedPhrase.id)
    )


def active_phrases() -> list[str]:
    """The texts of the restricted phrases in force, in the order they were added."""
    return list(db.session.connection().scalars(_in_force()))


def restricted_hit(body: str, phrases: Sequence[str]) -> detection.Hit | None:
    """The first of the restricted ``phrases`` in ``body``, if any."""
    return detection.keyword_hit(body, phrases) if phrases else None


def refusal_text(hit: detection.Hit) -> str:
    """What the sender is told: the words that matched and the phrase they matched."""
    return f"Not sent: '{hit.matched}' is a restricted phrase ({hit.phrase}). Please rephrase."


@transactional
def add_restricted_phrase(actor: User, phrase: str, *, reason: str = "") -> RestrictedPhrase:
    """Add a phrase (administrators). A phrase removed earlier may be added again: it gets a new
    row, the removed one stays for the record. Raises ``PermissionDenied``, or ``InvalidInput``
    for an empty or over-long phrase or reason, or one already in force (whatever the case).
    Audit: ``chat.phrase_added``."""
    policy.require(policy.can_manage_restricted_phrases(actor))
    cleaned = " ".join(phrase.split())
    if not cleaned or len(cleaned) > 100:
        raise InvalidInput("A phrase has 1 to 100 characters.", field="phrase")
    if len(reason) > 300:
        raise InvalidInput("Keep the reason under 300 characters.", field="reason")
    in_force = db.session.scalar(
        select(RestrictedPhrase.id).where(
            func.lower(RestrictedPhrase.phrase) == cleaned.lower(),
            RestrictedPhrase.active.is_(True),
        )
    )
    if in_force is not None:
        raise InvalidInput("That phrase is already on the list.", field="phrase")
    row = RestrictedPhrase(phrase=cleaned, reason=reason.strip())
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "chat.phrase_added", row, phrase=cleaned)
    return row


@transactional
def remove_restricted_phrase(actor: User, phrase_id: int) -> None:
    """Take a phrase out of force (administrators); the row stays, inactive, for the record.
    Raises ``PermissionDenied``, or ``NotFound`` for a phrase not in force.
    Audit: ``chat.phrase_removed``."""
    policy.require(policy.can_manage_restricted_phrases(actor))
    row = db.session.get(RestrictedPhrase, phrase_id)
    if row is None or not row.active:
        raise NotFound("That phrase was not found.")
    row.active = False
    audit.record(actor, "chat.phrase_removed", row, phrase=row.phrase)


DEFAULT_RESTRICTED_PHRASES = [
    ("guaranteed", "No promise of outcome"),
    ("cure", "Unapproved claim"),
    ("cures", "Unapproved claim"),
    ("off-label", "Off-label use is discussed by medical only"),
    ("best in class", "Promotional superlative"),
    ("100% safe", "Unapproved safety claim"),
    ("no side effects", "Unapproved safety claim"),
    ("miracle", "Promotional superlative"),
]


@transactional
def ensure_default_restricted_phrases() -> None:
    """Seed the starting list once (no actor; idempotent)."""
    if db.session.scalar(select(func.count()).select_from(RestrictedPhrase)):
        return
    for phrase, reason in DEFAULT_RESTRICTED_PHRASES:
        db.session.add(RestrictedPhrase(phrase=phrase, reason=reason))
