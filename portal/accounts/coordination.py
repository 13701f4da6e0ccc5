"""Coordination: who on the company's side touched an HCP lately, as the viewer may see it.

Read from the contact ledger (:class:`~portal.accounts.models.Contact`), which every contact
path writes through :func:`portal.accounts.contact_rule.claim`. Entries from the viewer's side
of the firewall (or a side they may read) name the colleague; the other side's show only the
team and the date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import i18n, policy
from portal.accounts.models import Contact, ContactChannel, ContactKind
from portal.extensions import db
from portal.models import User, utcnow
from portal.models.reference import TEAM_NAMES, Side, TeamKey

RECENT_DAYS = 30


@dataclasses.dataclass(frozen=True)
class Touch:
    """One contact as ``viewer`` may see it (``staff_name`` None: the other side's entry)."""

    at: dt.datetime
    side: Side
    team: str  # the team's name, in the reader's language
    kind: ContactKind
    channel: ContactChannel
    counted: bool
    staff_id: int | None
    staff_name: str | None

    @property
    def visible(self) -> bool:
        return self.staff_name is not None


def team_name(key: str) -> str:
    try:
        return str(TEAM_NAMES[TeamKey(key)])
    except ValueError:
        return key


def recent_touches(
    viewer: User, hcp: User, *, days: int = RECENT_DAYS, now: dt.datetime | None = None
) -> list[Touch]:
    """Every contact with ``hcp`` in the last ``days`` days, newest first, as ``viewer`` may
    see it. The caller has checked :func:`portal.policy.can_view_hcp_record`."""
    now = now or utcnow()
    rows = db.session.scalars(
        select(Contact)
        .options(joinedload(Contact.staff))
        .where(Contact.hcp_id == hcp.id, Contact.at > now - dt.timedelta(days=days))
        .order_by(Contact.at.desc(), Contact.id.desc())
        .limit(100)
    )
    touches = []
    for row in rows:
        shown = policy.can_view_side_record(viewer, row)
        touches.append(
            Touch(
                at=row.at, side=row.side, team=team_name(row.team), kind=row.kind,
                channel=row.channel, counted=row.counted,
                staff_id=row.staff_id if shown else None,
                staff_name=row.staff.name if shown else None,
            )
        )  # fmt: skip
    return touches


def _sentence(touch: Touch, hcp: User, now: dt.datetime) -> str:
    when = i18n.format_relative(touch.at, now=now)
    if touch.channel is ContactChannel.PHONE:
        done = gettext("called")
    elif touch.channel is ContactChannel.VISIT:
        done = gettext("met")
    elif touch.channel is ContactChannel.EMAIL:
        done = gettext("e-mailed")
    elif touch.channel is ContactChannel.CHAT:
        done = gettext("invited to chat")
    else:
        done = gettext("sent a message to")
    if touch.visible:
        return gettext(
            "%(staff)s (%(team)s) %(done)s %(hcp)s %(when)s",
            staff=touch.staff_name, team=touch.team, done=done, hcp=hcp.name, when=when,
        )  # fmt: skip
    return gettext(
        "someone from %(team)s contacted %(hcp)s on %(date)s",
        team=touch.team, hcp=hcp.name, date=i18n.format_date(touch.at),
    )  # fmt: skip


def warning(
    viewer: User,
    hcp: User,
    *,
    now: dt.datetime | None = None,
    touches: Sequence[Touch] | None = None,
) -> str | None:
    """The line shown before any contact: who already touched this HCP in the last
    ``RECENT_DAYS`` days (colleagues other than ``viewer``, newest first, at most three), or
    ``None`` when nobody did (``touches``: :func:`recent_touches`' answer, when the caller has
    it already). "Dr. Cole: Jordan Lee (Sales) called Dr. Cole 3 days ago;
    someone from MSL team contacted Dr. Cole on 12 Nov 2026." """
    now = now or utcnow()
    if touches is None:
        touches = recent_touches(viewer, hcp, now=now)
    others = [t for t in touches if t.staff_id != viewer.id]
    if not others:
        return None
    sentences = [_sentence(touch, hcp, now) for touch in others[:3]]
    more = len(others) - 3
    text = "; ".join(sentences)
    if more > 0:
        text += gettext(" (and %(count)s more)", count=more)
    return gettext("Already in touch: %(list)s.", list=text)
