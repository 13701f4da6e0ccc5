"""Legal holds: placing and releasing them, who is held, and the SQL clause the purge uses.

A hold is placed and released by compliance (``portal.policy.can_manage_legal_holds``), each
audited (``legal_hold.placed``, ``legal_hold.released``). While a hold is active:

* the purge removes nothing of the held person (a hold on everything: the purge removes
  nothing at all);
* :func:`is_held` answers true, and erasure (``portal.privacy``) refuses and keeps the request
  pending.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, and_, exists, or_, select, true
from sqlalchemy.orm import QueryableAttribute

from portal import audit, policy
from portal.errors import Conflict, InvalidInput, NotFound
from portal.extensions import db
from portal.models import User, utcnow
from portal.pagination import Page, paginate
from portal.retention.models import HoldScope, LegalHold
from portal.services.accounts import find_user_by_email
from portal.unit_of_work import transactional

REASON_MAX = 2000
PAGE_SIZE = 25


def _active() -> ColumnElement[bool]:
    return LegalHold.released_at.is_(None)


# --- asking --------------------------------------------------------------------------------------
def everything_held() -> bool:
    """Whether an active hold on everything exists (the purge then removes nothing)."""
    return bool(
        db.session.scalar(
            select(exists().where(_active(), LegalHold.scope == HoldScope.EVERYTHING))
        )
    )


def is_held(user_id: int) -> bool:
    """Whether ``user_id`` is under an active legal hold (on them, or on everything).

    Read-only, in the caller's session; erasure refuses a held person.
    """
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    _active(),
                    or_(
                        LegalHold.scope == HoldScope.EVERYTHING,
                        and_(LegalHold.scope == HoldScope.PERSON, LegalHold.user_id == user_id),
                    ),
                )
            )
        )
    )


def held_user_ids() -> Select[int | None]:
    """A subquery of the ids of people under an active personal hold."""
    return select(LegalHold.user_id).where(
        _active(), LegalHold.scope == HoldScope.PERSON, LegalHold.user_id.is_not(None)
    )


def not_held(*user_columns: QueryableAttribute[Any]) -> ColumnElement[bool]:
    """A SQL clause true where none of ``user_columns`` names a held person.

    The purge ANDs it onto each kind's "past its period" clause, with every column that names
    a person in the record (a conversation's HCP and staff member...). A NULL column holds
    nothing. A hold on everything is checked once per batch by the purge
    (:func:`everything_held`), not here, so the clause stays a plain ``NOT IN``.
    """
    clauses = [or_(col.is_(None), col.not_in(held_user_ids())) for col in user_columns]
    return and_(*clauses) if clauses else true()


# --- reading -------------------------------------------------------------------------------------
def list_holds(actor: User, *, active: bool = True, page: int = 1) -> Page[LegalHold]:
    """Active holds (or released ones), newest first, a page at a time. Administrators and
    compliance (others: ``NotFound``)."""
    policy.require_visible(policy.can_view_retention(actor))
    query = select(LegalHold).where(
        LegalHold.released_at.is_(None) if active else LegalHold.released_at.is_not(None)
    )
    order = LegalHold.placed_at.desc() if active else LegalHold.released_at.desc()
    return paginate(query.order_by(order, LegalHold.id.desc()), page=page, page_size=PAGE_SIZE)


# --- changing ------------------------------------------------------------------------------------
def _reason(text: str) -> str:
    reason = (text or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise InvalidInput(
            _("Give the reason (at most %(most)s characters).", most=REASON_MAX),
            errors={"reason": _("Give the reason.")},
        )
    return reason


@transactional
def place_hold(
    actor: User, *, scope: HoldScope, reason: str, email: str | None = None
) -> LegalHold:
    """Place a legal hold on the person with ``email`` (HCP or staff; ``scope`` PERSON), or on
    everything (``scope`` EVERYTHING, ``email`` ignored). Compliance only (``PermissionDenied``).

    ``InvalidInput`` for a missing reason, a missing or unknown address; ``Conflict`` if an
    active hold of the same scope already covers that person (or everything). Audit:
    ``legal_hold.placed`` (hold id, scope, reason; the held person is the record's target).
    """
    policy.require(policy.can_manage_legal_holds(actor))
    why = _reason(reason)
    person: User | None = None
    if scope is HoldScope.PERSON:
        address = (email or "").strip().lower()
        person = find_user_by_email(address) if address else None
        if person is None:
            message = (
                _("No one has the address %(email)s.", email=address)
                if address
                else _("Give the e-mail address of the person to hold.")
            )
            raise InvalidInput(message, errors={"email": message})
    duplicate = select(LegalHold.id).where(_active(), LegalHold.scope == scope)
    if person is not None:
        duplicate = duplicate.where(LegalHold.user_id == person.id)
    if db.session.scalar(duplicate.limit(1)) is not None:
        raise Conflict(_("An active hold already covers that."))
    hold = LegalHold(
        scope=scope,
        user_id=person.id if person is not None else None,
        reason=why,
        placed_by_id=actor.id,
        placed_at=utcnow(),
    )
    db.session.add(hold)
    db.session.flush()
    audit.record(
        actor,
        "legal_hold.placed",
        ("users", person.id) if person is not None else ("legal_holds", hold.id),
        hold_id=hold.id,
        scope=scope.value,
        reason=why,
    )
    return hold


@transactional
def release_hold(actor: User, hold_id: int, *, reason: str) -> LegalHold:
    """Release an active hold, with the reason. Compliance only (others who may see holds:
    ``PermissionDenied``; anyone else, or no such hold: ``NotFound``). ``Conflict`` if it was
    released already. Audit: ``legal_hold.released``.

    From then on the purge may remove the person's records that are past their period, and
    a pending erasure request may be carried out.
    """
    policy.require_visible(policy.can_view_retention(actor), _("That hold"))
    hold = db.session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound(_("That hold was not found."))
    policy.require(policy.can_manage_legal_holds(actor))
    why = _reason(reason)
    if hold.released_at is not None:
        raise Conflict(_("That hold was released already."))
    hold.released_at = utcnow()
    hold.released_by_id = actor.id
    hold.release_reason = why
    audit.record(
        actor,
        "legal_hold.released",
        ("users", hold.user_id) if hold.user_id is not None else ("legal_holds", hold.id),
        hold_id=hold.id,
        scope=hold.scope.value,
        reason=why,
    )
    return hold
