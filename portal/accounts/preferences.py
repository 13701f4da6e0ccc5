"""The HCP's contact preferences: their say over how and how often the company reaches them.

Saved only by the HCP (:func:`portal.policy.can_set_contact_preferences`); every change keeps
the whole new state in :class:`~portal.accounts.models.PreferenceChange` and the audit trail,
like a consent record. The contact rule (:mod:`portal.accounts.contact_rule`) reads them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, select

from content import Interests
from portal import audit, policy
from portal.accounts import contact_rule
from portal.accounts.models import (
    Contact,
    ContactChannel,
    ContactPreferences,
    PreferenceChange,
)
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import Product, User, utcnow
from portal.unit_of_work import transactional

MAX_PAUSE_WEEKS = 52
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclasses.dataclass
class PreferencesInput:
    """What the preferences page submits (also the shape the API will take)."""

    channels: Sequence[str]
    product_ids: Sequence[int] = ()
    areas: Sequence[str] = ()
    quiet_start: str = ""
    quiet_end: str = ""
    cap: int | None = None  # None: keep the current cap
    pause_weeks: int | None = None  # None: keep the current pause; 1 to 52: pause from now
    unpause: bool = False  # resume contact now (ends a pause)


def current(hcp: User) -> ContactPreferences:
    """``hcp``'s saved preferences, or an unsaved row holding the company defaults (so the page
    shows what applies today)."""
    found = db.session.get(ContactPreferences, hcp.id)
    if found is not None and found.chosen:
        return found
    defaults = contact_rule.terms_of(hcp, found)
    return ContactPreferences(
        hcp_id=hcp.id,
        channels=[c.value for c in ContactChannel if c in defaults.channels],
        product_ids=[],
        areas=[],
        quiet_start=None,
        quiet_end=None,
        cap=defaults.cap,
        paused_until=found.paused_until if found is not None else None,
        chosen=False,
    )


def state_of(preferences: ContactPreferences) -> dict[str, Any]:
    """The JSON-safe state recorded with each change (and shown to the HCP's record viewers)."""
    return {
        "channels": list(preferences.channels),
        "product_ids": list(preferences.product_ids),
        "areas": list(preferences.areas),
        "quiet_start": preferences.quiet_start,
        "quiet_end": preferences.quiet_end,
        "cap": preferences.cap,
        "paused_until": (
            preferences.paused_until.isoformat() if preferences.paused_until else None
        ),
    }


def topic_choices() -> tuple[list[Product], list[str]]:
    """The products and therapeutic areas an HCP may follow."""
    products = list(db.session.scalars(select(Product).order_by(Product.name)))
    areas = sorted({p.therapeutic_area for p in products})
    return products, areas


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clean(data: PreferencesInput, now: dt.datetime, old: ContactPreferences) -> dict[str, Any]:
    problems: dict[str, str] = {}
    channels = [c for c in ContactChannel if c.value in set(data.channels)]
    unknown = set(data.channels) - {c.value for c in ContactChannel}
    if unknown:
        problems["channels"] = gettext("Choose among the channels offered.")
    products, areas = topic_choices()
    product_ids = sorted({p for p in data.product_ids if isinstance(p, int)})
    if len(product_ids) != len(set(data.product_ids)) or not set(product_ids) <= {
        p.id for p in products
    }:
        problems["product_ids"] = gettext("Choose among the products offered.")
    chosen_areas = sorted(set(data.areas))
    if not set(chosen_areas) <= set(areas):
        problems["areas"] = gettext("Choose among the therapeutic areas offered.")
    start, end = data.quiet_start.strip(), data.quiet_end.strip()
    if bool(start) != bool(end):
        problems["quiet_end" if start else "quiet_start"] = gettext(
            "Give both the start and the end of your quiet hours, or neither."
        )
    for field, value in (("quiet_start", start), ("quiet_end", end)):
        if value and not _CLOCK.match(value):
            problems[field] = gettext("Write a time as HH:MM, e.g. 19:30.")
    if start and start == end:
        problems["quiet_end"] = gettext("Quiet hours must end at another time than they start.")
    maximum = current_app.config["CONTACT_MAX_CAP"]
    cap = old.cap if data.cap is None else data.cap
    if not _whole(cap) or not 0 <= cap <= maximum:
        problems["cap"] = gettext("Choose a number from 0 to %(max)s.", max=maximum)
    paused_until = old.paused_until
    if data.unpause:
        paused_until = None
    elif data.pause_weeks is not None:
        if not _whole(data.pause_weeks) or not 1 <= data.pause_weeks <= MAX_PAUSE_WEEKS:
            problems["pause_weeks"] = gettext("Pause for 1 to %(max)s weeks.", max=MAX_PAUSE_WEEKS)
        else:
            paused_until = now + dt.timedelta(weeks=data.pause_weeks)
    if paused_until is not None and paused_until <= now:
        paused_until = None
    if problems:
        raise InvalidInput(gettext("Please correct the highlighted fields."), errors=problems)
    return {
        "channels": [c.value for c in channels],
        "product_ids": product_ids,
        "areas": chosen_areas,
        "quiet_start": start or None,
        "quiet_end": end or None,
        "cap": cap,
        "paused_until": paused_until,
    }


@transactional
def save(
    actor: User, data: PreferencesInput, *, now: dt.datetime | None = None
) -> ContactPreferences:
    """Save the HCP's own contact preferences: accepted channels, topics, quiet hours (in their
    time zone), their cap on unsolicited contacts per ``CONTACT_WINDOW_DAYS`` (0 to
    ``CONTACT_MAX_CAP``), a pause of N weeks or its end. Only the HCP themselves
    (:class:`PermissionDenied` otherwise); :class:`InvalidInput` names each bad field and saves
    nothing. Takes effect at once for every colleague. Records a :class:`PreferenceChange` with
    the full new state and audits ``contact.preferences_changed`` (old and new state), only when
    something changed.
    """
    policy.require(policy.can_set_contact_preferences(actor, actor))
    now = now or utcnow()
    preferences = contact_rule.lock_preferences(actor.id)
    old_state = state_of(preferences) if preferences.chosen else None
    values = _clean(data, now, preferences if preferences.chosen else current(actor))
    for name, value in values.items():
        setattr(preferences, name, value)
    new_state = state_of(preferences)
    if preferences.chosen and new_state == old_state:
        return preferences
    preferences.chosen = True
    preferences.updated_at = now
    db.session.add(PreferenceChange(hcp_id=actor.id, actor_id=actor.id, at=now, state=new_state))
    audit.record(actor, "contact.preferences_changed", actor, before=old_state, after=new_state)
    return preferences


def history(hcp: User, *, limit: int = 20) -> list[PreferenceChange]:
    """The HCP's last saved versions, newest first."""
    return list(
        db.session.scalars(
            select(PreferenceChange)
            .where(PreferenceChange.hcp_id == hcp.id)
            .order_by(PreferenceChange.at.desc(), PreferenceChange.id.desc())
            .limit(limit)
        )
    )


@transactional
def resume(actor: User, *, now: dt.datetime | None = None) -> ContactPreferences:
    """End the HCP's pause now, keeping every other choice: :func:`save` with ``unpause`` (the
    same rights, record and audit; nothing recorded when contact was not paused)."""
    kept = current(actor)
    return save(
        actor,
        PreferencesInput(
            channels=list(kept.channels),
            product_ids=list(kept.product_ids),
            areas=list(kept.areas),
            quiet_start=kept.quiet_start or "",
            quiet_end=kept.quiet_end or "",
            cap=kept.cap,
            unpause=True,
        ),
        now=now,
    )


def used_in_window(hcp: User, *, at: dt.datetime | None = None) -> int:
    """How many unsolicited contacts (those the cap counts) ``hcp`` received in the
    ``CONTACT_WINDOW_DAYS`` up to ``at`` (now): what :func:`contact_rule.check` calls ``used``.
    One statement."""
    at = at or utcnow()
    since = at - dt.timedelta(days=current_app.config["CONTACT_WINDOW_DAYS"])
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(
                Contact.hcp_id == hcp.id,
                Contact.counted.is_(True),
                Contact.at > since,
                Contact.at <= at,
            )
        )
        or 0
    )


def interests_of(hcp: User) -> Interests:
    """The products and therapeutic areas ``hcp`` chose to follow, for the library's "For you"
    (registered with :func:`content.register_interests`). One primary-key read at most."""
    found = db.session.get(ContactPreferences, hcp.id)
    if found is None or not found.chosen:
        return Interests()
    return Interests(
        product_ids=frozenset(int(p) for p in found.product_ids), areas=frozenset(found.areas)
    )


@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    """One saved version of the preferences as the HCP's page shows it: when, the whole state
    (products named), and which fields changed from the version before (all of them for the
    first)."""

    at: dt.datetime
    by_hcp: bool
    first: bool
    changed: frozenset[str]
    channels: list[ContactChannel]
    products: list[str]
    areas: list[str]
    quiet: tuple[str, str] | None
    cap: int
    paused_until: dt.datetime | None


FIELDS = ("channels", "topics", "quiet", "cap", "paused_until")


def _fields(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "channels": state.get("channels"),
        "topics": (state.get("product_ids"), state.get("areas")),
        "quiet": (state.get("quiet_start"), state.get("quiet_end")),
        "cap": state.get("cap"),
        "paused_until": state.get("paused_until"),
    }


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def history_entries(hcp: User, *, limit: int = 20) -> list[HistoryEntry]:
    """The HCP's last ``limit`` saved versions, newest first, each with what changed: two
    statements (the versions, one more to tell what the oldest shown changed; the products'
    names)."""
    versions = history(hcp, limit=limit + 1)
    ids = {int(p) for v in versions for p in v.state.get("product_ids", [])}
    names = (
        dict(db.session.execute(select(Product.id, Product.name).where(Product.id.in_(ids))).all())
        if ids
        else {}
    )
    entries = []
    for index, version in enumerate(versions[:limit]):
        state = version.state
        before = versions[index + 1].state if index + 1 < len(versions) else None
        start, end = state.get("quiet_start"), state.get("quiet_end")
        paused = state.get("paused_until")
        entries.append(
            HistoryEntry(
                at=version.at,
                by_hcp=version.actor_id == hcp.id,
                first=before is None,
                changed=frozenset(
                    f for f in FIELDS if before is None or _fields(state)[f] != _fields(before)[f]
                ),
                channels=[c for c in ContactChannel if c.value in state.get("channels", [])],
                products=[names.get(int(p), "?") for p in state.get("product_ids", [])],
                areas=list(state.get("areas", [])),
                quiet=(start, end) if start and end else None,
                cap=int(state.get("cap", 0)),
                paused_until=_aware(dt.datetime.fromisoformat(paused)) if paused else None,
            )
        )
    return entries


def paused_until(
    saved: ContactPreferences, *, now: dt.datetime | None = None
) -> dt.datetime | None:
    """When the HCP's pause ends, or ``None`` when contact is not paused (now)."""
    now = now or utcnow()
    if saved.paused_until is None or saved.paused_until <= now:
        return None
    return saved.paused_until
