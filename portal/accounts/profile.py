"""The signed-in person's own account: their name, and for an HCP where the portal's data about
them came from (``/account``).

The professional details an HCP registered with (profession, specialty, country, NPI or
licence) are read-only here: they decide what content the HCP may see and were verified, so a
change goes through the company's verification, never through this page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import unicodedata

from flask_babel import gettext
from sqlalchemy import select

from chat.models import ConsentPeriod, Conversation
from portal import audit, inputs, policy
from portal.accounts import contact_rule, preferences
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import HcpProfile, Role, Territory, User, Verification
from portal.unit_of_work import transactional

MAX_NAME_LENGTH = 120  # users.name
CHAT_CONSENT_LIMIT = 50  # an HCP chats with their territory's few reps and MSLs


# --- the name ------------------------------------------------------------------------------------
def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput(gettext("Enter your name."), field="name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidInput(
            gettext("Your name may have at most %(max)s characters.", max=MAX_NAME_LENGTH),
            field="name",
        )
    if not inputs.is_text(cleaned) or any(unicodedata.category(c) == "Cc" for c in cleaned):
        raise InvalidInput(gettext("Your name contains characters we cannot store."), field="name")
    return cleaned


@transactional
def rename(actor: User, *, name: str) -> User:
    """Change the signed-in person's own name (spaces trimmed and collapsed, at most
    ``MAX_NAME_LENGTH`` characters). Anyone active, on themselves only
    (:func:`portal.policy.can_rename_account`, else :class:`PermissionDenied`); a bad name
    raises :class:`InvalidInput` (``field="name"``) and changes nothing. Audits
    ``user.renamed`` with the name before and after, only when the name changed."""
    policy.require(policy.can_rename_account(actor, actor))
    cleaned = _clean_name(name)
    if cleaned == actor.name:
        return actor
    before, actor.name = actor.name, cleaned
    audit.record(actor, "user.renamed", actor, before=before, after=cleaned)
    return actor


# --- where an HCP's data came from ---------------------------------------------------------------
class VerificationMethod(enum.StrEnum):
    """How the company checks who an HCP is."""

    NPI = "npi"  # a US National Provider Identifier, its check digit verified at registration
    LICENCE = "licence"  # a professional licence or registration number, checked by a person


@dataclasses.dataclass(frozen=True)
class ChatConsent:
    """A chat the HCP opted in to and has not ended: with whom, since when, and how it began."""

    staff_name: str
    staff_role: Role
    since: dt.datetime
    by_invitation: bool


@dataclasses.dataclass(frozen=True)
class DataSources:
    """Where the portal's data about an HCP came from, for their own account page.

    - ``profile``: what they entered at registration (``registered_at``), unchanged since;
    - the verification: its state, how (``method``), when and by which role (never the name);
    - the territory, assigned from their country and postal code (``territory_prefix``: the
      postal prefix that matched; ``None`` when the territory covers the whole country);
    - their contact preferences' last change (``None``: the company defaults apply);
    - their chats' consents (:class:`ChatConsent`), newest first.
    """

    registered_at: dt.datetime
    email_confirmed_at: dt.datetime | None
    profile: HcpProfile
    method: VerificationMethod
    verification: Verification
    decided_at: dt.datetime | None
    decided_by_role: Role | None
    territory: Territory | None
    territory_prefix: str | None
    quiet_hours_zone: str
    preferences_changed_at: dt.datetime | None
    chat_consents: list[ChatConsent]


def _matched_prefix(territory: Territory | None, postal_code: str) -> str | None:
    # As portal.services.territories.find_territory_for matched it: the longest prefix.
    if territory is None:
        return None
    postal = "".join(postal_code.split()).upper()
    matching = [p for p in territory.prefixes if postal.startswith(p.upper())]
    return max(matching, key=len) if matching else None


def _chat_consents(hcp: User) -> list[ChatConsent]:
    rows = db.session.execute(
        select(ConsentPeriod.granted_at, ConsentPeriod.granted_via, User.name, User.role)
        .join(Conversation, Conversation.id == ConsentPeriod.conversation_id)
        .join(User, User.id == ConsentPeriod.staff_id)
        .where(Conversation.hcp_id == hcp.id, ConsentPeriod.withdrawn_at.is_(None))
        .order_by(ConsentPeriod.granted_at.desc(), ConsentPeriod.id.desc())
        .limit(CHAT_CONSENT_LIMIT)
    ).all()
    return [
        ChatConsent(
            staff_name=row.name,
            staff_role=row.role,
            since=row.granted_at,
            by_invitation=row.granted_via == "invitation",
        )
        for row in rows
    ]


def data_sources(hcp: User) -> DataSources | None:
    """Where the data about ``hcp`` (the signed-in HCP, reading their own account) came from:
    see :class:`DataSources`. ``None`` for staff, who registered nothing. Reads only; a few
    small statements (the verifier's role, the last preference change, the chats)."""
    profile = hcp.hcp_profile
    if profile is None:
        return None
    verifier = profile.verified_by
    last_change = preferences.history(hcp, limit=1)
    return DataSources(
        registered_at=hcp.created_at,
        email_confirmed_at=hcp.email_confirmed_at,
        profile=profile,
        method=VerificationMethod.NPI if profile.npi else VerificationMethod.LICENCE,
        verification=profile.verification,
        decided_at=profile.verified_at,
        decided_by_role=verifier.role if verifier is not None else None,
        territory=profile.territory,
        territory_prefix=_matched_prefix(profile.territory, profile.postal_code),
        quiet_hours_zone=contact_rule.hcp_zone(hcp).key,
        preferences_changed_at=last_change[0].at if last_change else None,
        chat_consents=_chat_consents(hcp),
    )
