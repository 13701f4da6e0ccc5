"""One rule for contact, for the whole company: the HCP's terms, enforced in the services.

Every staff-initiated contact (a chat invitation, a shared material, a meeting proposal, a logged
call or visit the HCP did not ask for) must pass :func:`check`, in this order:

1. ``channel``: the HCP accepts the channel for unsolicited contact;
2. ``paused``: the HCP has not paused all contact;
3. ``quiet_hours``: it is not within their quiet hours, read in their own time zone;
4. ``min_gap``: no colleague contacted them unsolicited in the last ``CONTACT_MIN_GAP_DAYS``
   (so colleagues' outreach never lands on the same doctor in the same days);
5. ``cap``: fewer than their cap of unsolicited contacts in the last ``CONTACT_WINDOW_DAYS``,
   counted for the whole company, not per colleague.

Answering the HCP (their questions, chats they started, meetings they asked for) is never an
unsolicited contact: :func:`claim` with ``solicited=True`` records it and blocks nothing.

:func:`claim` is the only writer of the contact ledger. It takes the HCP's row lock first, so two
colleagues (on two servers) cannot both take the last slot of the cap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal import audit, i18n, policy, unit_of_work
from portal.accounts.models import Contact, ContactChannel, ContactKind, ContactPreferences
from portal.errors import Conflict
from portal.extensions import db
from portal.models import User, utcnow

# The reasons' codes, in the order the rule tests them.
ALLOWED = "allowed"
SOLICITED = "solicited"
CHANNEL = "channel"
PAUSED = "paused"
QUIET_HOURS = "quiet_hours"
MIN_GAP = "min_gap"
CAP = "cap"
NOT_YOURS = "not_yours"


@dataclasses.dataclass(frozen=True)
class Terms:
    """An HCP's effective terms for unsolicited contact (their choices, or the defaults)."""

    channels: frozenset[ContactChannel]
    quiet: tuple[dt.time, dt.time] | None
    cap: int
    paused_until: dt.datetime | None
    zone: ZoneInfo
    chosen: bool

    @property
    def quiet_hours(self) -> str | None:
        """The quiet hours on the HCP's wall clock ("20:00 to 08:00"), or ``None``."""
        if self.quiet is None:
            return None
        return f"{self.quiet[0]:%H:%M} to {self.quiet[1]:%H:%M}"

    def in_quiet_hours(self, moment: dt.datetime) -> bool:
        if self.quiet is None:
            return False
        start, end = self.quiet
        local = moment.astimezone(self.zone).time()
        if start <= end:
            return start <= local < end
        return local >= start or local < end  # the window wraps midnight

    def quiet_ends_after(self, moment: dt.datetime) -> dt.datetime:
        """The first moment at or after ``moment`` outside the quiet hours (``moment`` inside)."""
        assert self.quiet is not None
        end = self.quiet[1]
        local = moment.astimezone(self.zone)
        day = local.date()
        for offset in range(3):
            candidate = dt.datetime.combine(day + dt.timedelta(days=offset), end)
            at = candidate.replace(tzinfo=self.zone, fold=0).astimezone(dt.UTC)
            if at > moment:
                return at
        return moment  # unreachable: a quiet window ends within two days


@dataclasses.dataclass(frozen=True)
class Decision:
    """The rule's answer for one contact: allowed or not, why, the cap's use and when the next
    unsolicited contact is possible (``None``: not by this channel until the HCP changes their
    preferences)."""

    allowed: bool
    rule: str
    reason: str
    used: int
    cap: int
    next_allowed_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        """The public contract of ``flask contacts check``."""
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "used": self.used,
            "cap": self.cap,
            "next_allowed_at": (
                self.next_allowed_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
                if self.next_allowed_at is not None
                else None
            ),
        }


class ContactRefused(Conflict):
    """A contact the rule refuses; the message names the rule and when contact is possible."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


# --- the HCP's terms -----------------------------------------------------------------------------
def default_channels() -> frozenset[ContactChannel]:
    names = current_app.config["CONTACT_DEFAULT_CHANNELS"].split()
    return frozenset(ContactChannel(name) for name in names if name in set(ContactChannel))


def hcp_zone(hcp: User) -> ZoneInfo:
    """Where the HCP's quiet hours are read: their own zone, else their country's, else the
    company's business zone."""
    name = hcp.timezone
    if name is None and hcp.hcp_profile is not None:
        name = i18n.country_timezone(hcp.hcp_profile.country)
    return ZoneInfo(name or current_app.config["BUSINESS_TIMEZONE"])


def _clock(text: str | None) -> dt.time | None:
    if not text:
        return None
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


def terms_of(hcp: User, preferences: ContactPreferences | None = None) -> Terms:
    """``hcp``'s effective terms: their saved preferences, or the company defaults."""
    if preferences is None:
        preferences = db.session.get(ContactPreferences, hcp.id)
    zone = hcp_zone(hcp)
    if preferences is None or not preferences.chosen:
        return Terms(
            channels=default_channels(),
            quiet=None,
            cap=current_app.config["CONTACT_DEFAULT_CAP"],
            paused_until=preferences.paused_until if preferences is not None else None,
            zone=zone,
            chosen=False,
        )
    start, end = _clock(preferences.quiet_start), _clock(preferences.quiet_end)
    return Terms(
        channels=frozenset(ContactChannel(c) for c in preferences.channels),
        quiet=(start, end) if start is not None and end is not None and start != end else None,
        cap=preferences.cap,
        paused_until=preferences.paused_until,
        zone=zone,
        chosen=True,
    )


# --- the rule ------------------------------------------------------------------------------------
def _window() -> dt.timedelta:
    return dt.timedelta(days=current_app.config["CONTACT_WINDOW_DAYS"])


def _gap() -> dt.timedelta:
    return dt.timedelta(days=current_app.config["CONTACT_MIN_GAP_DAYS"])


def _counted_since(hcp_id: int, since: dt.datetime) -> list[dt.datetime]:
    """When the HCP's counted (unsolicited) contacts since ``since`` happened, oldest first."""
    return list(
        db.session.scalars(
            select(Contact.at)
            .where(Contact.hcp_id == hcp_id, Contact.counted.is_(True), Contact.at >= since)
            .order_by(Contact.at)
        )
    )


def _used(times: Sequence[dt.datetime], at: dt.datetime) -> int:
    start = at - _window()
    return sum(1 for t in times if start < t <= at)


def _when(moment: dt.datetime, hcp: User) -> str:
    # In the reader's zone and language (the staff member's page; UTC on the command line).
    return i18n.format_datetime(moment)


def _name(hcp: User) -> str:
    return hcp.name


def _first_possible(
    terms: Terms, times: Sequence[dt.datetime], at: dt.datetime
) -> dt.datetime | None:
    """The earliest moment at or after ``at`` when every time-based part of the rule passes
    (``None`` when the cap is zero: never, until the HCP raises it)."""
    if terms.cap <= 0:
        return None
    window, gap = _window(), _gap()
    candidate = at
    for _round in range(len(times) + 8):
        moved = candidate
        if terms.paused_until is not None and terms.paused_until > moved:
            moved = terms.paused_until
        near = [t for t in times if moved - gap < t <= moved + gap]
        if near:
            moved = max(moved, max(near) + gap)
        inside = sorted(t for t in times if moved - window < t <= moved)
        if len(inside) >= terms.cap:
            # The window must shed enough contacts: the oldest ones leave it first.
            moved = inside[len(inside) - terms.cap] + window
        if terms.in_quiet_hours(moved):
            moved = terms.quiet_ends_after(moved)
        if moved == candidate:
            return candidate
        candidate = moved
    return candidate


def _decide(
    staff: User, hcp: User, channel: ContactChannel, at: dt.datetime, terms: Terms
) -> Decision:
    times = _counted_since(hcp.id, at - _window() - _gap())
    used = _used(times, at)
    cap = terms.cap

    def refuse(rule: str, reason: str, next_at: dt.datetime | None) -> Decision:
        return Decision(False, rule, reason, used, cap, next_at)

    if not policy.can_contact_hcp(staff, hcp):
        return refuse(NOT_YOURS, gettext("You may not contact this HCP."), None)
    if channel not in terms.channels:
        return refuse(
            CHANNEL,
            gettext(
                "%(name)s does not accept unsolicited contact by %(channel)s; they accept: "
                "%(accepted)s.",
                name=_name(hcp),
                channel=channel.label,
                accepted=", ".join(c.label for c in ContactChannel if c in terms.channels)
                or gettext("none"),
            ),
            None,
        )
    next_at = _first_possible(terms, times, at)
    later = gettext(" Next possible: %(when)s.", when=_when(next_at, hcp)) if next_at else ""
    if terms.paused_until is not None and terms.paused_until > at:
        return refuse(
            PAUSED,
            gettext("%(name)s paused all contact until %(until)s.", name=_name(hcp),
                    until=_when(terms.paused_until, hcp)) + later,
            next_at,
        )  # fmt: skip
    if terms.in_quiet_hours(at):
        assert terms.quiet is not None
        return refuse(
            QUIET_HOURS,
            gettext(
                "It is within %(name)s's quiet hours (%(start)s to %(end)s, %(zone)s).",
                name=_name(hcp), start=terms.quiet[0].strftime("%H:%M"),
                end=terms.quiet[1].strftime("%H:%M"), zone=terms.zone.key,
            ) + later,
            next_at,
        )  # fmt: skip
    gap = _gap()
    near = [t for t in times if at - gap < t <= at + gap]
    if near:
        return refuse(
            MIN_GAP,
            gettext(
                "%(name)s was last contacted on %(when)s; the company keeps %(days)s days "
                "between unsolicited contacts to one HCP, whoever makes them.",
                name=_name(hcp), when=_when(max(near), hcp), days=gap.days,
            ) + later,
            next_at,
        )  # fmt: skip
    if used >= cap:
        return refuse(
            CAP,
            gettext(
                "%(name)s's cap of %(cap)s unsolicited contacts in %(days)s days is reached "
                "(%(used)s used, by the whole company).",
                name=_name(hcp), cap=cap, days=_window().days, used=used,
            ) + later,
            next_at,
        )  # fmt: skip
    return Decision(
        True,
        ALLOWED,
        gettext(
            "Within %(name)s's preferences: %(used)s of %(cap)s unsolicited contacts used in "
            "the last %(days)s days.",
            name=_name(hcp), used=used, cap=cap, days=_window().days,
        ),
        used,
        cap,
        at,
    )  # fmt: skip


def check(
    staff: User, hcp: User, channel: ContactChannel, *, at: dt.datetime | None = None
) -> Decision:
    """Would an unsolicited contact from ``staff`` to ``hcp`` by ``channel`` at ``at`` (now)
    pass the rule? Reads only: changes nothing, audits nothing (``flask contacts check``, the
    warning shown before any contact)."""
    at = at or utcnow()
    return _decide(staff, hcp, channel, at, terms_of(hcp))


def lock_preferences(hcp_id: int) -> ContactPreferences:
    """Take the HCP's contact lock (their preferences row, created with the defaults if they
    never chose): concurrent claims on one HCP, from any process, run one after the other."""
    insert = (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(
        ContactPreferences
    )
    db.session.execute(
        insert.values(
            hcp_id=hcp_id, channels=[], product_ids=[], areas=[],
            cap=current_app.config["CONTACT_DEFAULT_CAP"], chosen=False, claims=0,
            updated_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["hcp_id"])
    )  # fmt: skip
    db.session.execute(
        update(ContactPreferences)
        .where(ContactPreferences.hcp_id == hcp_id)
        .values(claims=ContactPreferences.claims + 1)
        .execution_options(synchronize_session=False)
    )
    preferences = db.session.get(ContactPreferences, hcp_id, populate_existing=True)
    assert preferences is not None
    return preferences


def _team_key(staff: User) -> str:
    teams = [str(m.team.key) for m in staff.memberships]
    return teams[0] if teams else str(staff.role)


def claim(
    staff: User,
    hcp: User,
    channel: ContactChannel,
    *,
    kind: ContactKind,
    subject: str,
    subject_id: int | None,
    at: dt.datetime | None = None,
    solicited: bool = False,
) -> Contact:
    """Record a contact from ``staff`` to ``hcp`` in the CALLER's transaction (never commits).

    Unsolicited (the default): the rule must allow it, else :class:`ContactRefused` names the
    rule and when contact is next possible, and ``contact.refused`` is audited in a transaction
    of its own once the refused action has rolled back. ``solicited``: the HCP asked for this
    contact; it is recorded for colleagues and blocks nothing.
    """
    at = at or utcnow()
    preferences = lock_preferences(hcp.id)
    if not solicited:
        decision = _decide(staff, hcp, channel, at, terms_of(hcp, preferences))
        if not decision.allowed:
            _audit_refusal(staff.id, hcp.id, channel, kind, decision)
            raise ContactRefused(decision)
    contact = Contact(
        hcp_id=hcp.id, staff_id=staff.id, side=policy.side_of(staff.role), team=_team_key(staff),
        channel=channel, kind=kind, counted=not solicited, at=at, subject=subject,
        subject_id=subject_id,
    )  # fmt: skip
    db.session.add(contact)
    db.session.flush()
    return contact


def _audit_refusal(
    staff_id: int, hcp_id: int, channel: ContactChannel, kind: ContactKind, decision: Decision
) -> None:
    def record() -> None:
        staff = db.session.get(User, staff_id)
        hcp = db.session.get(User, hcp_id)
        audit.record(
            staff, "contact.refused", hcp, channel=channel.value, kind=kind.value,
            rule=decision.rule, used=decision.used, cap=decision.cap,
            next_allowed_at=decision.as_json()["next_allowed_at"],
        )  # fmt: skip

    unit_of_work.after_rollback(record)
