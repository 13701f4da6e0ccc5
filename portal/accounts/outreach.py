"""Outreach on the HCP's terms: approved materials shared with an HCP, and meetings asked for in
either direction.

- A share is an unsolicited contact by portal message: the contact rule decides
  (:func:`portal.accounts.contact_rule.claim`), and only a material the colleague may share and
  the HCP may see is ever offered or accepted (:func:`portal.policy.can_share_material_with`, in
  SQL :func:`content.services.shareable_clause`). The HCP is told in the portal and, when they
  accept e-mail, by an e-mail naming the material and linking to it, never carrying its content.
- A meeting is asked for by one party with one to three proposed times; the other accepts one of
  them or declines; either cancels. An HCP asking their rep or MSL is their own contact and is
  never blocked; a colleague proposing is an unsolicited contact by the meeting's channel. An
  accepted meeting reaches both by e-mail with a calendar invitation (``.ics``), and its
  cancellation with the matching cancellation.

Minimum necessary: notifications, e-mails and calendar entries name people, the kind of meeting,
times and a material's title; never a note, a topic or a material's content.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import LazyString, gettext, lazy_gettext
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import joinedload

from chat import phrases
from content import services as content
from content.models import Material, MaterialEvent
from portal import audit, i18n, policy
from portal.accounts import contact_rule, ics
from portal.accounts.models import (
    ContactChannel,
    ContactKind,
    MaterialShare,
    Meeting,
    MeetingMode,
    MeetingState,
)
from portal.errors import Conflict, InvalidInput
from portal.extensions import db
from portal.models import User, utcnow
from portal.pagination import Page, paginate
from portal.safety import services as safety
from portal.services import coverage, mail, notifications
from portal.unit_of_work import transactional
from portal.urls import external_url, public_url

SHARE_PAGE_SIZE = 20
SHARED_PAGE_SIZE = 20
MEETINGS_PAGE_SIZE = 20
NOTE_MAX = 500
TOPIC_MAX = 200
SEARCH_MAX = 100
MAX_SLOTS = 3
MAX_DAYS_AHEAD = 90
MEETING_MINUTES = 30
# An HCP's meeting requests waiting for an answer, at most (their own contact is never refused
# by the contact rule; this only stops a flood of requests to the same colleagues).
MAX_WAITING_REQUESTS = 5
MEETING_SUBJECT = "meeting"
SHARE_SUBJECT = "material_share"


# --- whom a colleague may reach -------------------------------------------------------------------
def get_contactable_hcp(staff: User, hcp_id: int) -> User:
    """The HCP ``staff`` may reach out to (:func:`portal.policy.can_contact_hcp`: a verified HCP
    of their territories), else :class:`~portal.errors.NotFound`: ids reveal nothing."""
    hcp = db.session.get(User, hcp_id) if 0 < hcp_id < 2**31 else None
    policy.require_visible(hcp is not None and policy.can_contact_hcp(staff, hcp), "That HCP")
    assert hcp is not None
    return hcp


def _screen(staff: User, text: str, field: str) -> None:
    """What a colleague writes to an HCP passes the same restricted phrases as a chat message."""
    if not text or not policy.screens_restricted_phrases(staff):
        return
    hit = phrases.restricted_hit(text, phrases.active_phrases())
    if hit is not None:
        raise InvalidInput(phrases.refusal_text(hit), field=field)


# --- sharing a material ---------------------------------------------------------------------------
def shareable_materials(staff: User, hcp: User, *, q: str = "", page: int = 1) -> Page[Material]:
    """One page of what ``staff`` may share with ``hcp`` now, by title (``q``: part of the
    title, any case): exactly :func:`portal.policy.can_share_material_with`, in SQL. The caller
    has found ``hcp`` with :func:`get_contactable_hcp`."""
    coverage.load_teammates(staff)  # covered_product_ids walks teammates' products
    query = (
        select(Material)
        .options(joinedload(Material.product))
        .where(content.shareable_clause(staff, hcp, utcnow()))
    )
    words = q.strip()[:SEARCH_MAX]
    if words:
        query = query.where(Material.title.icontains(words, autoescape=True))
    return paginate(
        query.order_by(Material.title, Material.id), page=page, page_size=SHARE_PAGE_SIZE
    )


def last_shared(hcp: User, family_ids: Iterable[int]) -> dict[int, dt.datetime]:
    """When each of these material families was last shared with ``hcp`` (by anyone): the share
    page marks them so that two colleagues do not send the same material twice."""
    families = sorted(set(family_ids))
    if not families:
        return {}
    rows = db.session.execute(
        select(MaterialShare.family_id, func.max(MaterialShare.created_at))
        .where(MaterialShare.hcp_id == hcp.id, MaterialShare.family_id.in_(families))
        .group_by(MaterialShare.family_id)
    ).all()
    return {family_id: at for family_id, at in rows}


def _accepts_email(hcp: User) -> bool:
    return ContactChannel.EMAIL in contact_rule.terms_of(hcp).channels


@transactional
def share_material(
    staff: User, hcp_id: int, material_id: Any, *, note: str = "", now: dt.datetime | None = None
) -> MaterialShare:
    """``staff`` shares an approved material with an HCP of their territories.

    Refusals, in this order, and nothing is kept after any of them: :class:`NotFound` for an
    HCP they may not contact; :class:`InvalidInput` (on ``material_id``) for a material they may
    not share or the HCP may not see, saying why; :class:`InvalidInput` (on ``note``) for a note
    too long or holding a restricted phrase; :class:`~portal.accounts.contact_rule.
    ContactRefused` (409) when the contact rule refuses a portal message now (its reason names
    the rule and when contact is next possible).

    Records the contact (counted against the HCP's cap), tells the HCP in the portal and, if they
    accept e-mail, by an e-mail in their language with the title and a link (never the content
    or the note). Audit: ``outreach.material_shared``.
    """
    now = now or utcnow()
    hcp = get_contactable_hcp(staff, hcp_id)
    coverage.load_teammates(staff)
    material = content.get_shareable_material(staff, material_id, hcp)
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput(
            gettext("Keep the note under %(count)s characters.", count=NOTE_MAX), field="note"
        )
    _screen(staff, note, "note")
    share = MaterialShare(
        hcp_id=hcp.id, staff_id=staff.id, side=policy.side_of(staff.role),
        material_id=material.id, family_id=material.family_id or material.id, note=note,
        created_at=now,
    )  # fmt: skip
    db.session.add(share)
    db.session.flush()
    contact_rule.claim(
        staff, hcp, ContactChannel.PORTAL, kind=ContactKind.MATERIAL_SHARE,
        subject=SHARE_SUBJECT, subject_id=share.id, at=now,
    )  # fmt: skip
    share.emailed = _accepts_email(hcp) and not hcp.suspended
    audit.record(
        staff, "outreach.material_shared", share, hcp=hcp.id, material=material.id,
        code=material.code_label, emailed=share.emailed,
    )  # fmt: skip
    notifications.notify(
        [hcp], kind="material_shared",
        title=lazy_gettext("%(name)s shared a material with you", name=staff.name),
        endpoint="outreach.shared_with_me", email=False,
    )  # fmt: skip
    if share.emailed:
        _mail_share(hcp, staff, material)
    return share


def _privacy_line() -> str:
    return gettext(
        "For your privacy and your patients', this e-mail never contains the text itself."
    )


def _mail_share(hcp: User, staff: User, material: Material) -> None:
    link = external_url("content.family", family_id=material.family_id or material.id)
    listing = external_url("outreach.shared_with_me")
    with i18n.for_user(hcp.locale, hcp.timezone):
        subject = gettext("%(name)s shared a material with you", name=staff.name)
        body = "\n\n".join(
            [
                gettext("Hello %(name)s,", name=hcp.name),
                gettext(
                    "%(staff)s shared “%(title)s” with you in the HCP Portal.",
                    staff=staff.name,
                    title=material.title,
                ),
                gettext("Sign in to open it:\n%(url)s", url=link),
                gettext("Everything shared with you:\n%(url)s", url=listing),
                gettext(
                    "You receive this e-mail because your contact preferences accept e-mail. "
                    "You can change them in the portal at any time."
                ),
            ]
        )
        mail.enqueue(hcp.email, subject, body + "\n")


@dataclasses.dataclass(frozen=True)
class SharedItem:
    """A material shared with the HCP, as they see it: ``card`` is the material's current
    version (``available``, ``title``, ``url``) or, once withdrawn or expired, its title alone."""

    share: MaterialShare
    card: dict[str, Any]
    opened: bool


def opened_at(shares: Sequence[MaterialShare]) -> dict[int, dt.datetime]:
    """When the HCP first opened each share's material (any version of its family) after it was
    shared, read from the library's events: ``{share id: moment}`` for the opened ones."""
    ids = [share.id for share in shares]
    if not ids:
        return {}
    rows = db.session.execute(
        select(MaterialShare.id, func.min(MaterialEvent.at))
        .join(
            MaterialEvent,
            and_(
                MaterialEvent.user_id == MaterialShare.hcp_id,
                MaterialEvent.family_id == MaterialShare.family_id,
                MaterialEvent.at >= MaterialShare.created_at,
            ),
        )
        .where(MaterialShare.id.in_(ids))
        .group_by(MaterialShare.id)
    ).all()
    return {share_id: at for share_id, at in rows}


def _cards(hcp: User, shares: Sequence[MaterialShare], now: dt.datetime) -> dict[int, Any]:
    """Each share's card: the family's version the HCP may open now, else the shared version's
    title, marked unavailable (withdrawn, expired, or no longer meant for them)."""
    families = sorted({share.family_id for share in shares})
    current: dict[int, Material] = {}
    if families:
        for material in db.session.scalars(
            select(Material)
            .where(Material.family_id.in_(families), content.library_clause(hcp, now))
            .order_by(Material.version)
        ):
            current[material.family_id or material.id] = material
    titles = dict(
        db.session.execute(
            select(Material.id, Material.title).where(
                Material.id.in_(sorted({share.material_id for share in shares}))
            )
        ).all()
    ) if shares else {}  # fmt: skip
    cards: dict[int, Any] = {}
    for share in shares:
        live = current.get(share.family_id)
        if live is None:
            cards[share.id] = {"available": False, "title": titles.get(share.material_id, "")}
        else:
            cards[share.id] = content.material_card(live.id, now)
    return cards


def shared_with_me(hcp: User, *, page: int = 1) -> Page[SharedItem]:
    """The materials colleagues shared with ``hcp``, newest first, one page at a time, each with
    who shared it, its card and whether they opened it since. A material withdrawn or expired
    since shows as no longer available (title only). Verified HCPs only (else 404)."""
    policy.require_visible(policy.can_view_shared_with_me(hcp), "That page")
    found = paginate(
        select(MaterialShare)
        .options(joinedload(MaterialShare.staff))
        .where(MaterialShare.hcp_id == hcp.id)
        .order_by(MaterialShare.created_at.desc(), MaterialShare.id.desc()),
        page=page,
        page_size=SHARED_PAGE_SIZE,
    )
    shares = list(found.items)
    now = utcnow()
    cards = _cards(hcp, shares, now)
    opened = opened_at(shares)
    items = [SharedItem(share, cards[share.id], share.id in opened) for share in shares]
    return Page(items=items, page=found.page, pages=found.pages, total=found.total)


@transactional
def acknowledge_share(staff: User, share_id: int, *, now: dt.datetime | None = None) -> None:
    """The colleague who shared a material marks the HCP's engagement with it seen: it leaves
    their worklist. Keeps when the HCP first opened it (``opened_at``). Only the colleague who
    shared it (anyone else: 404). A personal list: no audit record."""
    share = db.session.get(MaterialShare, share_id) if 0 < share_id < 2**31 else None
    policy.require_visible(
        share is not None and policy.can_acknowledge_share(staff, share), "That share"
    )
    assert share is not None
    if share.seen_by_staff_at is None:
        share.seen_by_staff_at = now or utcnow()
    if share.opened_at is None:
        share.opened_at = opened_at([share]).get(share.id)


# --- meetings -------------------------------------------------------------------------------------
@dataclasses.dataclass
class MeetingInput:
    """What a meeting form submits: the mode, one to three proposed start times (aware UTC, in
    the order of the form's fields; ``None`` for an empty field), the topic and, for an HCP's
    request, the colleague asked."""

    mode: str
    slots: Sequence[dt.datetime | None]
    topic: str = ""
    staff_id: int | None = None


def _validated(data: MeetingInput, now: dt.datetime) -> tuple[MeetingMode, list[dt.datetime], str]:
    """The mode, the proposed times (UTC, earliest first) and the topic, or every problem at
    once (:class:`InvalidInput`, on the form's field names: ``mode``, ``slot_1``.., ``topic``)."""
    errors: dict[str, str] = {}
    try:
        mode = MeetingMode(data.mode)
    except ValueError:
        mode = MeetingMode.PHONE
        errors["mode"] = gettext("Choose a phone call, a video call or a visit.")
    latest = now + dt.timedelta(days=MAX_DAYS_AHEAD)
    times: list[dt.datetime] = []
    for position, moment in enumerate(data.slots, start=1):
        if moment is None:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        field = f"slot_{position}"
        if position > MAX_SLOTS:
            errors[field] = gettext("Propose at most %(count)s times.", count=MAX_SLOTS)
        elif moment <= now:
            errors[field] = gettext("Choose a time in the future.")
        elif moment > latest:
            errors[field] = gettext(
                "Choose a time within the next %(days)s days.", days=MAX_DAYS_AHEAD
            )
        elif moment in times:
            errors[field] = gettext("You proposed this time already.")
        else:
            times.append(moment)
    if not times and not any(f.startswith("slot_") for f in errors):
        errors["slot_1"] = gettext("Propose at least one time.")
    topic = data.topic.strip()
    if len(topic) > TOPIC_MAX:
        errors["topic"] = gettext("Keep the topic under %(count)s characters.", count=TOPIC_MAX)
    if errors:
        first = next(iter(errors))
        raise InvalidInput(errors[first], field=first, errors=errors)
    return mode, sorted(times), topic


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def slot_times(meeting: Meeting) -> list[dt.datetime]:
    """The meeting's proposed start times, aware UTC, earliest first."""
    return [dt.datetime.fromisoformat(slot) for slot in meeting.slots]


def _new_meeting(
    hcp: User, staff: User, asker: User, mode: MeetingMode, times: Sequence[dt.datetime],
    topic: str, now: dt.datetime,
) -> Meeting:  # fmt: skip
    """A meeting request ``asker`` (the HCP or the colleague) makes, waiting for the other."""
    meeting = Meeting(
        hcp_id=hcp.id, staff_id=staff.id, side=policy.side_of(staff.role),
        requested_by_id=asker.id, mode=mode, slots=[_iso(t) for t in times],
        minutes=MEETING_MINUTES, topic=topic, state=MeetingState.REQUESTED, created_at=now,
    )  # fmt: skip
    db.session.add(meeting)
    db.session.flush()
    return meeting


def _screen_for_pv(hcp: User, meeting: Meeting, now: dt.datetime) -> None:
    """The HCP's own words (the topic of the meeting they ask for) reach PV like any other:
    a possible adverse event opens a case on the one-business-day clock."""
    finding = safety.detect(meeting.topic) if meeting.topic.strip() else None
    if finding is None or not finding.flagged:
        return
    safety.open_case(
        hcp, source=safety.CaseSource.MEETING, text=meeting.topic,
        reasons=[f"Detected in a meeting request: {r}" for r in finding.reasons],
        reporter=hcp, received_at=now, source_ref=f"M-{meeting.id:06d}",
    )  # fmt: skip


@transactional
def request_meeting(hcp: User, data: MeetingInput, *, now: dt.datetime | None = None) -> Meeting:
    """An HCP asks a rep or MSL of their territory (:func:`portal.policy.can_request_meeting`)
    for a phone call, video call or visit at one of up to three times (future, within
    ``MAX_DAYS_AHEAD`` days). Their own contact: the contact rule never refuses it (nothing is
    counted until the colleague accepts, and then as asked for).

    Raises :class:`InvalidInput` for bad input (every field at once) or a colleague they may not
    ask, :class:`Conflict` when ``MAX_WAITING_REQUESTS`` of theirs already wait. Notifies the
    colleague (no topic in it). Audit: ``meeting.requested``."""
    now = now or utcnow()
    policy.require_visible(policy.can_view_meetings(hcp) and hcp.is_hcp, "That page")
    staff = db.session.get(User, data.staff_id) if data.staff_id and data.staff_id < 2**31 else None
    problems: dict[str, str] = {}
    if staff is None or not policy.can_request_meeting(hcp, staff):
        problems["staff_id"] = gettext("Choose someone of your team.")
    try:
        mode, times, topic = _validated(data, now)
    except InvalidInput as exc:
        problems.update(exc.errors)
    if problems:
        first = next(iter(problems))
        raise InvalidInput(problems[first], field=first, errors=problems)
    assert staff is not None
    waiting = db.session.scalar(
        select(func.count())
        .select_from(Meeting)
        .where(
            Meeting.hcp_id == hcp.id,
            Meeting.requested_by_id == hcp.id,
            Meeting.state == MeetingState.REQUESTED,
        )
    ) or 0  # fmt: skip
    if waiting >= MAX_WAITING_REQUESTS:
        raise Conflict(
            gettext(
                "You have %(count)s meeting requests waiting for an answer; cancel one or wait "
                "for an answer before asking again.",
                count=waiting,
            )
        )
    meeting = _new_meeting(hcp, staff, hcp, mode, times, topic, now)
    audit.record(
        hcp, "meeting.requested", meeting, staff=staff.id, mode=mode.value, slots=len(times)
    )
    _screen_for_pv(hcp, meeting, now)
    notifications.notify(
        [staff], kind="meeting_requested",
        title=lazy_gettext("%(name)s asked for a meeting", name=hcp.name),
        endpoint="outreach.meetings",
    )  # fmt: skip
    return meeting


@transactional
def propose_meeting(
    staff: User, hcp_id: int, data: MeetingInput, *, now: dt.datetime | None = None
) -> Meeting:
    """A rep, market access colleague or MSL proposes a meeting to an HCP of their territories
    (:func:`portal.policy.can_contact_hcp`, else 404): one to three future times within
    ``MAX_DAYS_AHEAD`` days. An unsolicited contact by the meeting's channel (phone: phone;
    video call or visit: visit): :class:`~portal.accounts.contact_rule.ContactRefused` (409)
    when the contact rule refuses it, and nothing is kept.

    Raises :class:`InvalidInput` for bad input (every field at once) or a topic holding a
    restricted phrase. Notifies the HCP in the portal, and by e-mail only when they accept
    e-mail. Audit: ``meeting.proposed``."""
    now = now or utcnow()
    hcp = get_contactable_hcp(staff, hcp_id)
    mode, times, topic = _validated(data, now)
    _screen(staff, topic, "topic")
    meeting = _new_meeting(hcp, staff, staff, mode, times, topic, now)
    contact_rule.claim(
        staff, hcp, mode.channel, kind=ContactKind.MEETING_PROPOSAL,
        subject=MEETING_SUBJECT, subject_id=meeting.id, at=now,
    )  # fmt: skip
    audit.record(staff, "meeting.proposed", meeting, hcp=hcp.id, mode=mode.value, slots=len(times))
    notifications.notify(
        [hcp], kind="meeting_proposed",
        title=lazy_gettext("%(name)s proposed a meeting", name=staff.name),
        endpoint="outreach.meetings", email=_accepts_email(hcp),
    )  # fmt: skip
    return meeting


def get_meeting(actor: User, meeting_id: int) -> Meeting:
    """A meeting ``actor`` takes part in, else :class:`NotFound`."""
    meeting = db.session.get(Meeting, meeting_id) if 0 < meeting_id < 2**31 else None
    policy.require_visible(
        meeting is not None and policy.takes_part_in_meeting(actor, meeting), "That meeting"
    )
    assert meeting is not None
    return meeting


def _waiting(meeting: Meeting) -> None:
    if meeting.state is not MeetingState.REQUESTED:
        raise Conflict(gettext("This meeting request has already been answered."))


def _other(meeting: Meeting, actor: User) -> User:
    return meeting.staff if actor.id == meeting.hcp_id else meeting.hcp


@transactional
def accept_meeting(
    actor: User, meeting_id: int, *, slot: str, now: dt.datetime | None = None
) -> Meeting:
    """The party who did not ask accepts one of the proposed times
    (:func:`portal.policy.can_answer_meeting`; not a participant: 404; the one who asked: 403).

    :class:`Conflict` when the request was answered already or the time chosen has passed;
    :class:`InvalidInput` for a time that was not proposed. The meeting is recorded on the
    contact ledger as asked for (the HCP asked, or accepted: it uses none of their cap) so that
    colleagues see the doctor is being met. Both are notified and get an e-mail with the
    calendar invitation (``.ics``, ``METHOD:REQUEST``). Audit: ``meeting.accepted``."""
    now = now or utcnow()
    meeting = get_meeting(actor, meeting_id)
    _waiting(meeting)
    policy.require(
        policy.can_answer_meeting(actor, meeting),
        gettext("You asked for this meeting: the other person chooses the time."),
    )
    chosen = next(
        (t for t in slot_times(meeting) if _iso(t) == slot or t.isoformat() == slot), None
    )
    if chosen is None:
        raise InvalidInput(gettext("Choose one of the proposed times."), field="slot")
    if chosen <= now:
        raise Conflict(gettext("That time has passed. Decline, and propose or ask for new times."))
    meeting.state = MeetingState.ACCEPTED
    meeting.starts_at = chosen
    meeting.decided_at = now
    db.session.flush()
    contact_rule.claim(
        meeting.staff, meeting.hcp, meeting.mode.channel, kind=ContactKind.MEETING,
        subject=MEETING_SUBJECT, subject_id=meeting.id, at=now, solicited=True,
    )  # fmt: skip
    audit.record(actor, "meeting.accepted", meeting, starts_at=_iso(chosen))
    for person in (meeting.hcp, meeting.staff):
        other = _other(meeting, person)
        notifications.notify(
            [person], kind="meeting_accepted",
            title=lazy_gettext(
                "Meeting with %(name)s booked for %(when)s", name=other.name,
                when=LazyString(i18n.format_datetime, chosen),
            ),
            endpoint="outreach.meetings", email=False,
        )  # fmt: skip
        _mail_invitation(meeting, person, ics.Method.REQUEST, now)
    return meeting


@transactional
def decline_meeting(actor: User, meeting_id: int, *, now: dt.datetime | None = None) -> Meeting:
    """The party who did not ask declines (:func:`portal.policy.can_answer_meeting`; not a
    participant: 404; the one who asked: 403; answered already: :class:`Conflict`). The one who
    asked is told. Audit: ``meeting.declined``."""
    now = now or utcnow()
    meeting = get_meeting(actor, meeting_id)
    _waiting(meeting)
    policy.require(
        policy.can_answer_meeting(actor, meeting),
        gettext("You asked for this meeting: cancel it instead."),
    )
    meeting.state = MeetingState.DECLINED
    meeting.decided_at = now
    audit.record(actor, "meeting.declined", meeting)
    notifications.notify(
        [meeting.requested_by], kind="meeting_declined",
        title=lazy_gettext("%(name)s declined the meeting", name=actor.name),
        endpoint="outreach.meetings",
    )  # fmt: skip
    return meeting


@transactional
def cancel_meeting(actor: User, meeting_id: int, *, now: dt.datetime | None = None) -> Meeting:
    """Either participant cancels a meeting that waits or is booked
    (:func:`portal.policy.can_cancel_meeting`; not a participant: 404; declined or cancelled
    already: :class:`Conflict`). The other is told; a booked meeting's cancellation reaches both
    by e-mail with the calendar cancellation (``METHOD:CANCEL``, the same ``UID``).
    Audit: ``meeting.cancelled``."""
    now = now or utcnow()
    meeting = get_meeting(actor, meeting_id)
    if not policy.can_cancel_meeting(actor, meeting):
        raise Conflict(gettext("This meeting is no longer planned."))
    was_booked = meeting.state is MeetingState.ACCEPTED
    meeting.state = MeetingState.CANCELLED
    meeting.decided_at = now
    audit.record(
        actor, "meeting.cancelled", meeting, was=("accepted" if was_booked else "requested")
    )
    other = _other(meeting, actor)
    # A booked meeting's cancellation goes by e-mail below (with the calendar update); a request
    # withdrawn reaches an HCP by e-mail only if they asked for it or accept e-mail.
    by_email = not was_booked and (
        not other.is_hcp or meeting.asked_by_hcp or _accepts_email(other)
    )
    notifications.notify(
        [other], kind="meeting_cancelled",
        title=lazy_gettext("%(name)s cancelled the meeting", name=actor.name),
        endpoint="outreach.meetings", email=by_email,
    )  # fmt: skip
    if was_booked:
        for person in (meeting.hcp, meeting.staff):
            _mail_invitation(meeting, person, ics.Method.CANCEL, now)
    return meeting


def my_meetings(actor: User, *, page: int = 1, now: dt.datetime | None = None) -> Page[Meeting]:
    """``actor``'s meetings, one page at a time: those waiting for their answer first (oldest
    first), then those waiting for the other's, then booked ones to come (soonest first), then
    the rest (newest first). HCPs and the staff who meet them (else 404)."""
    policy.require_visible(policy.can_view_meetings(actor), "That page")
    now = now or utcnow()
    mine = Meeting.hcp_id == actor.id if actor.is_hcp else Meeting.staff_id == actor.id
    waiting = Meeting.state == MeetingState.REQUESTED
    rank = case(
        (and_(waiting, Meeting.requested_by_id != actor.id), 0),
        (waiting, 1),
        (and_(Meeting.state == MeetingState.ACCEPTED, Meeting.starts_at >= now), 2),
        else_=3,
    )
    soonest = case((rank == 2, Meeting.starts_at), else_=None)
    oldest_waiting = case((rank <= 1, Meeting.created_at), else_=None)
    return paginate(
        select(Meeting)
        .options(joinedload(Meeting.hcp), joinedload(Meeting.staff))
        .where(mine)
        .order_by(rank, oldest_waiting, soonest, Meeting.created_at.desc(), Meeting.id.desc()),
        page=page,
        page_size=MEETINGS_PAGE_SIZE,
    )


def can_download_calendar(meeting: Meeting) -> bool:
    """A meeting has a calendar file once booked (and, cancelled after that, its cancellation)."""
    return meeting.starts_at is not None and meeting.state in (
        MeetingState.ACCEPTED,
        MeetingState.CANCELLED,
    )


def calendar_file(actor: User, meeting_id: int) -> tuple[str, str]:
    """The ``.ics`` of a booked meeting for a participant (anyone else, or a meeting never
    booked: 404): ``(text, MIME type)``; a cancelled one is its cancellation. Written in the
    reader's language."""
    meeting = get_meeting(actor, meeting_id)
    policy.require_visible(can_download_calendar(meeting), "That calendar entry")
    method = ics.Method.REQUEST if meeting.state is MeetingState.ACCEPTED else ics.Method.CANCEL
    return _calendar_text(meeting, method, utcnow()), ics.mime_type(method)


# --- the calendar invitation ----------------------------------------------------------------------
def _uid(meeting: Meeting) -> str:
    host = urlsplit(public_url(current_app)).hostname or "portal"
    return f"meeting-{meeting.id}@{host}"


def _calendar_text(meeting: Meeting, method: ics.Method, now: dt.datetime) -> str:
    """The invitation in the current language: the summary names the kind of meeting and the
    two people, never the topic."""
    assert meeting.starts_at is not None
    summary = gettext(
        "%(mode)s: %(hcp)s and %(staff)s",
        mode=meeting.mode.label, hcp=meeting.hcp.name, staff=meeting.staff.name,
    )  # fmt: skip
    description = gettext(
        "Booked in the HCP Portal. Details: %(url)s", url=external_url("outreach.meetings")
    )
    event = ics.Event(
        uid=_uid(meeting),
        starts_at=meeting.starts_at,
        ends_at=meeting.starts_at + dt.timedelta(minutes=meeting.minutes),
        summary=summary,
        description=description,
        organizer=ics.Person(meeting.staff.name, meeting.staff.email),
        attendees=(
            ics.Person(meeting.hcp.name, meeting.hcp.email),
            ics.Person(meeting.staff.name, meeting.staff.email),
        ),
        stamp=now,
        sequence=0 if method is ics.Method.REQUEST else 1,
        location=meeting.mode.label,
    )
    return ics.calendar(event, method)


def _mail_invitation(meeting: Meeting, person: User, method: ics.Method, now: dt.datetime) -> None:
    """``person``'s e-mail about a booked meeting (booked, or cancelled), in their language and
    zone, with the calendar file attached."""
    if person.suspended:
        return
    other = _other(meeting, person)
    url = external_url("outreach.meetings")
    with i18n.for_user(person.locale, person.timezone):
        when = i18n.format_datetime(meeting.starts_at)
        values = {"mode": meeting.mode.label, "name": other.name, "when": when}
        if method is ics.Method.REQUEST:
            subject = gettext("Meeting booked: %(mode)s with %(name)s, %(when)s", **values)
            said = gettext(
                "Your %(mode)s with %(name)s is booked for %(when)s (%(minutes)s minutes).",
                minutes=meeting.minutes, **values,
            )  # fmt: skip
            attached = gettext("The calendar invitation is attached.")
        else:
            subject = gettext("Meeting cancelled: %(mode)s with %(name)s, %(when)s", **values)
            said = gettext("Your %(mode)s with %(name)s on %(when)s is cancelled.", **values)
            attached = gettext("The attached calendar update removes it from your calendar.")
        body = "\n\n".join(
            [
                gettext("Hello %(name)s,", name=person.name),
                said,
                attached,
                gettext("Sign in to the portal to see it:\n%(url)s", url=url),
                _privacy_line(),
            ]
        )
        text = _calendar_text(meeting, method, now)
    mail.enqueue(
        person.email, subject, body + "\n",
        attachment=("meeting.ics" if method is ics.Method.REQUEST else "cancellation.ics",
                    ics.mime_type(method), text),
    )  # fmt: skip
