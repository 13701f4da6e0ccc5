"""A territory's HCPs (``/hcps/``): who they are, whether they opted in, who touched them last,
what waits for an answer and how much they read lately, for the reps, market access and MSLs who
cover the territory.

Everything is computed in SQL, one page at a time: the filters and the sort are correlated
subqueries over indexed columns (the contact ledger by HCP and date, material events by user and
date, questions by HCP, conversations by HCP), so a page costs the same few statements with ten
HCPs in a territory or ten thousand. What each row says follows the firewall: the last contact's
author is named only to viewers who may read that side (:func:`portal.policy.
can_view_side_record`), otherwise its team and date; open questions are a count for everyone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import contains_eager, joinedload

from chat.models import ConsentPeriod, Conversation
from content.models import MaterialEvent
from portal import policy
from portal.accounts import contact_rule, coordination
from portal.accounts.models import Contact, ContactChannel, ContactPreferences
from portal.extensions import db
from portal.models import HcpProfile, Role, User, utcnow
from portal.pagination import Page, paginate
from portal.questions.models import Question, QuestionStatus

PAGE_SIZE = 25
RECENT_DAYS = 30  # "contacted in the last 30 days", "recent engagement"
MAX_SEARCH = 100
_NPI = re.compile(r"^\d{10}$")


class RosterSort(enum.StrEnum):
    """What the roster is ordered by (the query string's ``sort`` values)."""

    NAME = "name"
    LAST_CONTACT = "last_contact"
    ENGAGEMENT = "engagement"

    @property
    def label(self) -> str:
        return {
            RosterSort.NAME: "Name",
            RosterSort.LAST_CONTACT: "Last contact",
            RosterSort.ENGAGEMENT: "Engagement (30 days)",
        }[self]


@dataclasses.dataclass(frozen=True)
class RosterFilters:
    """The roster's filters, as the page's query string gives them (``None``: either way)."""

    specialty: str = ""
    chat: bool | None = None  # opted in to chat with anyone
    contacted: bool | None = None  # contacted by anyone in the last RECENT_DAYS days
    search: str = ""  # an exact NPI, or part of the name (any case)
    sort: RosterSort = RosterSort.NAME
    descending: bool = False


@dataclasses.dataclass(frozen=True)
class LastContact:
    """The HCP's latest contact, as the viewer may see it (``staff_name`` None: the other side's,
    shown as its team and date only)."""

    at: dt.datetime
    team: str
    staff_name: str | None


@dataclasses.dataclass(frozen=True)
class RosterRow:
    """One HCP of the roster."""

    hcp: User
    chat_consents: int  # open chat consents, with anyone
    chat_with_me: bool
    channels: list[ContactChannel]  # accepted for unsolicited contact
    paused_until: dt.datetime | None  # all contact paused until then
    last_contact: LastContact | None
    open_questions: int
    engagement: int  # material views and downloads in the last RECENT_DAYS days

    @property
    def profile(self) -> HcpProfile:
        assert self.hcp.hcp_profile is not None
        return self.hcp.hcp_profile


# --- the columns, as correlated subqueries over indexed columns ----------------------------------
def _consents(hcp_id: Any) -> Select[Any]:
    return (
        select(func.count())
        .select_from(ConsentPeriod)
        .join(Conversation, Conversation.id == ConsentPeriod.conversation_id)
        .where(Conversation.hcp_id == hcp_id, ConsentPeriod.withdrawn_at.is_(None))
    )


def _consent_with(hcp_id: Any, staff_id: int) -> ColumnElement[bool]:
    return exists(
        select(ConsentPeriod.id)
        .join(Conversation, Conversation.id == ConsentPeriod.conversation_id)
        .where(
            Conversation.hcp_id == hcp_id,
            Conversation.staff_id == staff_id,
            ConsentPeriod.withdrawn_at.is_(None),
        )
    )


def _opted_in(hcp_id: Any) -> ColumnElement[bool]:
    return exists(
        select(ConsentPeriod.id)
        .join(Conversation, Conversation.id == ConsentPeriod.conversation_id)
        .where(Conversation.hcp_id == hcp_id, ConsentPeriod.withdrawn_at.is_(None))
    )


def _last_contact_at(hcp_id: Any) -> Select[Any]:
    return select(func.max(Contact.at)).where(Contact.hcp_id == hcp_id)


def _last_contact_id(hcp_id: Any) -> Select[Any]:
    return (
        select(Contact.id)
        .where(Contact.hcp_id == hcp_id)
        .order_by(Contact.at.desc(), Contact.id.desc())
        .limit(1)
    )


def _contacted_since(hcp_id: Any, since: dt.datetime) -> ColumnElement[bool]:
    return exists(select(Contact.id).where(Contact.hcp_id == hcp_id, Contact.at > since))


def _open_questions(hcp_id: Any) -> Select[Any]:
    return (
        select(func.count())
        .select_from(Question)
        .where(
            Question.hcp_id == hcp_id,
            Question.status.in_([QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS]),
        )
    )


def _engagement(hcp_id: Any, since: dt.datetime) -> Select[Any]:
    return (
        select(func.count())
        .select_from(MaterialEvent)
        .where(MaterialEvent.user_id == hcp_id, MaterialEvent.at >= since)
    )


# --- the roster ----------------------------------------------------------------------------------
def _territory_ids(viewer: User) -> list[int]:
    if not policy.can_view_hcp_roster(viewer):
        return []
    return [territory.id for territory in viewer.territories]


def _where(viewer: User, filters: RosterFilters, now: dt.datetime) -> list[ColumnElement[bool]]:
    since = now - dt.timedelta(days=RECENT_DAYS)
    where: list[ColumnElement[bool]] = [
        HcpProfile.territory_id.in_(_territory_ids(viewer)),
        User.role == Role.HCP,
    ]
    if filters.specialty:
        where.append(HcpProfile.specialty == filters.specialty)
    if filters.chat is not None:
        opted_in = _opted_in(User.id)
        where.append(opted_in if filters.chat else ~opted_in)
    if filters.contacted is not None:
        contacted = _contacted_since(User.id, since)
        where.append(contacted if filters.contacted else ~contacted)
    term = filters.search.strip()[:MAX_SEARCH]
    if term:
        by_name = User.name.icontains(term, autoescape=True)
        where.append(or_(HcpProfile.npi == term, by_name) if _NPI.match(term) else by_name)
    return where


def _order(filters: RosterFilters, now: dt.datetime) -> list[Any]:
    if filters.sort is RosterSort.LAST_CONTACT:
        last = _last_contact_at(User.id).scalar_subquery()
        # Never contacted counts as the longest ago: first when oldest first, last otherwise.
        key = last.desc().nulls_last() if filters.descending else last.asc().nulls_first()
        return [key, User.name, User.id]
    if filters.sort is RosterSort.ENGAGEMENT:
        since = now - dt.timedelta(days=RECENT_DAYS)
        engagement = _engagement(User.id, since).scalar_subquery()
        return [engagement.desc() if filters.descending else engagement.asc(), User.name, User.id]
    if filters.descending:
        return [User.name.desc(), User.id.desc()]
    return [User.name, User.id]


def roster_page(
    viewer: User,
    filters: RosterFilters | None = None,
    *,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    now: dt.datetime | None = None,
) -> Page[RosterRow]:
    """One page of the HCPs of ``viewer``'s territories, filtered and sorted as asked, each with
    their specialty and verification, chat opt-ins (with anyone: how many; with ``viewer``: yes
    or no), accepted contact channels and pause, last contact by anyone (named only on a side
    ``viewer`` may read), open questions (a count, whatever their kind) and material views and
    downloads in the last ``RECENT_DAYS`` days.

    Reps, market access and MSLs only (:func:`portal.policy.can_view_hcp_roster`); anyone else
    gets an empty page (the view answers 404 before asking). Reads only: four statements
    whatever the territory's size (count, page, the page's figures, the last contacts)."""
    filters = filters or RosterFilters()
    now = now or utcnow()
    if not _territory_ids(viewer):
        return Page(items=[], page=1, pages=1, total=0)
    hcps = paginate(
        select(User)
        .join(HcpProfile, HcpProfile.user_id == User.id)
        .options(contains_eager(User.hcp_profile))
        .where(*_where(viewer, filters, now))
        .order_by(*_order(filters, now)),
        page=page,
        page_size=page_size,
    )
    rows = _rows(viewer, hcps.items, now)
    return Page(items=rows, page=hcps.page, pages=hcps.pages, total=hcps.total)


def _rows(viewer: User, hcps: Sequence[User], now: dt.datetime) -> list[RosterRow]:
    if not hcps:
        return []
    since = now - dt.timedelta(days=RECENT_DAYS)
    figures = {
        row.id: row
        for row in db.session.execute(
            select(
                User.id,
                _consents(User.id).scalar_subquery().label("consents"),
                _consent_with(User.id, viewer.id).label("with_me"),
                _last_contact_id(User.id).scalar_subquery().label("last_contact_id"),
                _open_questions(User.id).scalar_subquery().label("open_questions"),
                _engagement(User.id, since).scalar_subquery().label("engagement"),
                ContactPreferences.chosen,
                ContactPreferences.channels,
                ContactPreferences.paused_until,
            )
            .outerjoin(ContactPreferences, ContactPreferences.hcp_id == User.id)
            .where(User.id.in_([hcp.id for hcp in hcps]))
        )
    }
    contact_ids = [row.last_contact_id for row in figures.values() if row.last_contact_id]
    contacts = {
        contact.id: contact
        for contact in db.session.scalars(
            select(Contact).options(joinedload(Contact.staff)).where(Contact.id.in_(contact_ids))
        )
    } if contact_ids else {}  # fmt: skip
    defaults = sorted(contact_rule.default_channels(), key=list(ContactChannel).index)
    rows = []
    for hcp in hcps:
        figure = figures[hcp.id]
        if figure.chosen:
            channels = [ContactChannel(c) for c in figure.channels if c in set(ContactChannel)]
        else:
            channels = defaults
        paused = figure.paused_until
        rows.append(
            RosterRow(
                hcp=hcp,
                chat_consents=int(figure.consents or 0),
                chat_with_me=bool(figure.with_me),
                channels=channels,
                paused_until=paused if paused is not None and paused > now else None,
                last_contact=_last_contact(viewer, contacts.get(figure.last_contact_id)),
                open_questions=int(figure.open_questions or 0),
                engagement=int(figure.engagement or 0),
            )
        )
    return rows


def _last_contact(viewer: User, contact: Contact | None) -> LastContact | None:
    if contact is None:
        return None
    shown = policy.can_view_side_record(viewer, contact)
    return LastContact(
        at=contact.at,
        team=coordination.team_name(contact.team),
        staff_name=contact.staff.name if shown else None,
    )


def specialties(viewer: User) -> list[str]:
    """The specialties of the HCPs in ``viewer``'s territories (the roster's filter choices)."""
    territory_ids = _territory_ids(viewer)
    if not territory_ids:
        return []
    return list(
        db.session.scalars(
            select(HcpProfile.specialty)
            .where(HcpProfile.territory_id.in_(territory_ids))
            .group_by(HcpProfile.specialty)
            .order_by(HcpProfile.specialty)
            .limit(200)
        )
    )
