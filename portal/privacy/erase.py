"""Erasure of an HCP: the right to be forgotten, within what safety law requires to be kept.

:func:`erase_person` is the one unit of work (the HCP's own request, an administrator's, the
command line). What it does, and why (docs: /tmp/docs17_c.md, merged into docs/records.md):

- the ``users`` row stays (the audit chain, PV cases and kept records point at its id), with the
  name and e-mail replaced by a pseudonym (``erased-<random>`` and ``<pseudonym>@`` the
  ``PRIVACY_PSEUDONYM_DOMAIN``), an unusable password, suspended; the professional profile loses
  everything that identifies (NPI, licence, institution, specialty, postal code, territory) and
  keeps profession and country: a PV report's reporter qualification and country. The name
  and address change FIRST, so whatever the erasure itself writes (the colleague asked to
  attest a chat it ends) names the pseudonym;
- consents end (chats through :func:`chat.consent.end_all_chats`; contact preferences accept no
  channel), sessions end (:func:`portal.services.sessions.revoke_all`, then their rows with
  their addresses and devices go), two-factor enrolment, notifications, bookmarks, material
  views, invitations, meetings, shared materials, the contact ledger, plan notes, preference
  history and mail to the address are removed; a meeting whose topic opened a PV case is kept;
- records linked to safety are KEPT, pseudonymised through the user row: what
  :mod:`portal.safety.links` calls safety-linked (the purge's definition too: a PV case, an
  adverse-event or product-complaint attestation, an AE flag, an AE / quality category or owning
  team, flagged chat messages, a meeting whose topic opened a case); and what nobody has attested
  for safety yet (an open question, chat messages after the last attestation): safety errs on the
  side of keeping, the retention periods remove them later. Their words stay verbatim (a PV report
  quotes what was said); the person's name (whole words only) and address are replaced by the
  pseudonym in PV's reporter field of their cases, in the notifications of colleagues who dealt
  with them (unless the link opens someone else's record), and in the outbox, sent or not: mail
  naming their address anywhere, and mail to those colleagues naming them (an unsent one still
  goes, under the pseudonym: the colleague's task stays);
- every other question (with its thread, history and attestations), chat (both sides: what was
  said to the person is about them too, with revisions, consent periods and read states) and
  call note is deleted;
- the audit trail: :func:`portal.audit.erase_person` drops the personal part of every record the
  person acted in or that targets them, keeping the chain verifiable; ``privacy.erased`` records
  the counts and the reason, no personal data.

A person under a legal hold (:func:`portal.retention.holds.is_held`) is not erased: the request
is kept pending (``privacy.erasure_held``) and listed for administrators, who run it again once
the hold is released.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any

from flask import current_app
from sqlalchemy import Delete, and_, delete, func, not_, or_, select, update

from chat.models import (
    ConsentPeriod,
    Conversation,
    ConversationState,
    Invitation,
    Message,
    MessageRevision,
    ReadState,
)
from content.models import Bookmark, MaterialEvent
from portal import audit, policy, realtime
from portal.accounts.models import (
    CallNote,
    Contact,
    ContactPreferences,
    MaterialShare,
    Meeting,
    PlanNote,
    PreferenceChange,
)
from portal.api.call_notes import ApiCallNote
from portal.errors import Conflict, InvalidInput, PermissionDenied
from portal.extensions import db
from portal.models import (
    HcpProfile,
    Notification,
    OutboxMail,
    RecoveryCode,
    TwoFactor,
    User,
    UserSession,
    utcnow,
)
from portal.privacy.models import ErasureRequest, ErasureStatus
from portal.questions.models import (
    Question,
    QuestionAttachment,
    QuestionEntry,
    QuestionEvent,
)
from portal.retention import holds
from portal.safety import links
from portal.safety.models import PvCase, PvFollowUp, SafetyAttestation
from portal.services import accounts, passwords, sessions, two_factor
from portal.unit_of_work import transactional

SELF_REASON = "Asked by the person (account deletion)."
MIN_REASON = 5
MAX_REASON = 500
# Never a valid argon2 hash: no password ever matches it.
UNUSABLE_PASSWORD = "!erased"  # noqa: S105 - a marker, not a password
SAFETY_CATEGORIES = links.SAFETY_CATEGORIES


@dataclasses.dataclass(frozen=True)
class Erasure:
    """What :func:`erase_person` did: ``held`` (nothing erased, the request is pending) or the
    pseudonym and the counts per kind of what was kept and removed."""

    request: ErasureRequest
    held: bool
    pseudonym: str | None = None
    kept: dict[str, int] = dataclasses.field(default_factory=dict)
    removed: dict[str, int] = dataclasses.field(default_factory=dict)


def is_erased(user: User) -> bool:
    """Whether ``user`` was erased (a done request exists)."""
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(ErasureRequest)
            .where(ErasureRequest.user_id == user.id, ErasureRequest.status == ErasureStatus.DONE)
        )
    )


def pending_requests(actor: User, *, limit: int = 200) -> list[ErasureRequest]:
    """Requests waiting for a legal hold to be released, oldest first: administrators act on
    them, compliance reads (:func:`portal.policy.can_view_erasure_requests`)."""
    policy.require_visible(policy.can_view_erasure_requests(actor))
    return list(
        db.session.scalars(
            select(ErasureRequest)
            .where(ErasureRequest.status == ErasureStatus.PENDING)
            .order_by(ErasureRequest.requested_at, ErasureRequest.id)
            .limit(limit)
        )
    )


def pending_request_of(user: User) -> ErasureRequest | None:
    return db.session.scalar(
        select(ErasureRequest)
        .where(ErasureRequest.user_id == user.id, ErasureRequest.status == ErasureStatus.PENDING)
        .order_by(ErasureRequest.id)
        .limit(1)
    )


def _clean_reason(actor: User | None, person: User, reason: str) -> str:
    if actor is not None and actor.id == person.id:
        return SELF_REASON
    cleaned = " ".join((reason or "").split())
    if len(cleaned) < MIN_REASON:
        raise InvalidInput(f"Give a reason (at least {MIN_REASON} characters).", field="reason")
    return cleaned[:MAX_REASON]


def _requested_by(actor: User | None, person: User) -> str:
    if actor is None:
        return "command line"
    return "the person" if actor.id == person.id else "administrator"


@transactional
def erase_person(actor: User | None, person: User, *, reason: str) -> Erasure:
    """Erase ``person`` (an HCP): by the HCP themselves, an administrator
    (:func:`portal.policy.can_erase_person`, else :class:`PermissionDenied`) or the command line
    (``actor`` None). ``reason`` is required (5+ characters) unless the person asks; it must not
    carry personal data (it is kept in the audit trail). An erased person: :class:`Conflict`.

    Under a legal hold nothing is erased: the request is kept pending and audited
    ``privacy.erasure_held`` (the result's ``held`` is true). Otherwise everything in the
    module's docstring happens in this one unit of work, audited ``privacy.erased`` (counts per
    kind kept and removed, who asked, the reason) after the trail's personal data was erased.
    """
    if actor is None:
        policy.require(person.is_hcp, "Only an HCP's account can be erased.")
    else:
        policy.require(policy.can_erase_person(actor, person), "You cannot erase this account.")
    if is_erased(person):
        raise Conflict("This account was erased already.")
    reason = _clean_reason(actor, person, reason)
    request = pending_request_of(person)
    if request is None:
        request = ErasureRequest(user_id=person.id, reason=reason)
        db.session.add(request)
    request.requested_by_id = actor.id if actor is not None else None
    request.reason = reason
    if holds.is_held(person.id):
        request.status = ErasureStatus.PENDING
        audit.record(
            actor, "privacy.erasure_held", person, requested_by=_requested_by(actor, person)
        )
        return Erasure(request=request, held=True)
    return _erase(actor, person, request)


def _erase(actor: User | None, person: User, request: ErasureRequest) -> Erasure:
    pseudonym = f"erased-{secrets.token_hex(6)}"
    address = f"{pseudonym}@{current_app.config['PRIVACY_PSEUDONYM_DOMAIN']}"
    old = _Identity(
        name=person.name,
        email=person.email,
        staff_ids=_staff_who_dealt_with(person),
        conversation_ids=frozenset(
            db.session.scalars(select(Conversation.id).where(Conversation.hcp_id == person.id))
        ),
    )
    # The identity first: whatever the erasure itself writes (a colleague asked to attest the
    # chats it ends, by notification and mail) names the pseudonym, never the person.
    person.name, person.email = pseudonym, address
    db.session.flush()
    _end_consents(person)
    sessions.revoke_all(actor, person, reason=sessions.Reason.SUSPENDED)
    realtime.close_sockets_after_commit(db.session(), person.id)
    kept: dict[str, int] = {}
    removed: dict[str, int] = {}
    _conversations(person, kept, removed)
    _questions(person, kept, removed)
    _call_notes(person, kept, removed)
    kept["pv_cases"] = _count(select(PvCase.id).where(PvCase.reporter_id == person.id))
    kept["pv_follow_ups"] = _count(select(PvFollowUp.id).where(PvFollowUp.hcp_id == person.id))
    _remove_the_rest(person, (old.email, address), kept, removed)
    _close_account(person)
    _scrub_names(person, old, pseudonym=pseudonym, address=address, kept=kept)
    request.status = ErasureStatus.DONE
    request.erased_at = utcnow()
    request.pseudonym = pseudonym
    request.counts = {"kept": kept, "removed": removed}
    db.session.flush()
    # The trail last: every record written above about the person loses its personal part too.
    audit.erase_person(person.id, pseudonym=address)
    audit.record(
        actor,
        "privacy.erased",
        person,
        requested_by=_requested_by(actor, person),
        reason=request.reason,
        kept=kept,
        removed=removed,
    )
    return Erasure(request=request, held=False, pseudonym=pseudonym, kept=kept, removed=removed)


def _count(query: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _run(statement: Delete) -> int:
    return int(db.session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def _end_consents(person: User) -> None:
    """Chats end through the chat's own service (each audited ``chat.consent_withdrawn``, the
    staff member asked to attest); a suspended person cannot use it, so what stays open is
    closed here the same way. Contact preferences: no channel accepted, nothing paused."""
    from chat import consent as chat_consent

    if person.is_active:
        chat_consent.end_all_chats(person)
    now = utcnow()
    open_periods = db.session.scalars(
        select(ConsentPeriod).where(
            ConsentPeriod.hcp_id == person.id, ConsentPeriod.withdrawn_at.is_(None)
        )
    ).all()
    for period in open_periods:
        period.withdrawn_at, period.withdrawn_via = now, "erasure"
        conversation = db.session.get(Conversation, period.conversation_id)
        if conversation is not None and conversation.state is not ConversationState.ENDED:
            conversation.state, conversation.ended_at = ConversationState.ENDED, now
        audit.record(
            None, "chat.consent_withdrawn", ("conversations", period.conversation_id),
            via="erasure", staff=period.staff_id,
        )  # fmt: skip
    db.session.execute(
        update(Conversation)
        .where(Conversation.hcp_id == person.id, Conversation.state == ConversationState.INVITED)
        .values(state=ConversationState.ENDED, ended_at=now)
    )
    preferences = db.session.get(ContactPreferences, person.id)
    if preferences is None:
        preferences = ContactPreferences(hcp_id=person.id, cap=0)
        db.session.add(preferences)
    preferences.channels, preferences.product_ids, preferences.areas = [], [], []
    preferences.quiet_start = preferences.quiet_end = None
    preferences.paused_until = None
    preferences.cap = 0
    preferences.chosen = True
    preferences.updated_at = now


def _conversations(person: User, kept: dict[str, int], removed: dict[str, int]) -> None:
    ids = set(db.session.scalars(select(Conversation.id).where(Conversation.hcp_id == person.id)))
    if not ids:
        kept["conversations"] = removed["conversations"] = 0
        kept["messages"] = removed["messages"] = 0
        return
    linked = set(
        db.session.scalars(
            select(Conversation.id).where(
                Conversation.id.in_(ids),
                or_(
                    links.conversation_safety_linked(),
                    # Messages nobody has attested for yet: the staff member still must.
                    links.conversation_awaiting_attestation(),
                ),
            )
        )
    )
    gone = ids - linked
    kept["conversations"], removed["conversations"] = len(linked), len(gone)
    kept["messages"] = _count(select(Message.id).where(Message.conversation_id.in_(linked)))
    removed["messages"] = 0
    if not gone:
        return
    messages = select(Message.id).where(Message.conversation_id.in_(gone))
    _run(delete(MessageRevision).where(MessageRevision.message_id.in_(messages)))
    _run(delete(SafetyAttestation).where(SafetyAttestation.conversation_id.in_(gone)))
    _run(delete(ReadState).where(ReadState.conversation_id.in_(gone)))
    removed["messages"] = _run(delete(Message).where(Message.conversation_id.in_(gone)))
    removed["consent_periods"] = _run(
        delete(ConsentPeriod).where(ConsentPeriod.conversation_id.in_(gone))
    )
    _run(delete(Conversation).where(Conversation.id.in_(gone)))


def _questions(person: User, kept: dict[str, int], removed: dict[str, int]) -> None:
    ids = set(db.session.scalars(select(Question.id).where(Question.hcp_id == person.id)))
    linked = set(
        db.session.scalars(
            select(Question.id).where(
                Question.id.in_(ids),
                or_(
                    links.question_safety_linked(),
                    # Not answered or closed yet: nobody has attested for safety.
                    links.question_awaiting_attestation(),
                ),
            )
        )
    )
    linked.discard(None)
    gone = ids - linked
    kept["questions"], removed["questions"] = len(linked), len(gone)
    if not gone:
        return
    entries = select(QuestionEntry.id).where(QuestionEntry.question_id.in_(gone))
    # A call note that filed one of these questions keeps its note (if kept), not the link.
    db.session.execute(
        update(CallNote).where(CallNote.question_id.in_(gone)).values(question_id=None)
    )
    _run(delete(QuestionAttachment).where(QuestionAttachment.entry_id.in_(entries)))
    _run(delete(QuestionEntry).where(QuestionEntry.question_id.in_(gone)))
    _run(delete(QuestionEvent).where(QuestionEvent.question_id.in_(gone)))
    _run(delete(SafetyAttestation).where(SafetyAttestation.question_id.in_(gone)))
    _run(delete(Question).where(Question.id.in_(gone)))


def _call_notes(person: User, kept: dict[str, int], removed: dict[str, int]) -> None:
    ids = set(db.session.scalars(select(CallNote.id).where(CallNote.hcp_id == person.id)))
    linked = set(
        db.session.scalars(
            select(CallNote.id).where(CallNote.id.in_(ids), links.call_note_safety_linked())
        )
    )
    linked.discard(None)
    gone = ids - linked
    kept["call_notes"], removed["call_notes"] = len(linked), len(gone)
    if not gone:
        return
    _run(delete(ApiCallNote).where(ApiCallNote.call_note_id.in_(gone)))
    _run(delete(SafetyAttestation).where(SafetyAttestation.call_note_id.in_(gone)))
    _run(delete(CallNote).where(CallNote.id.in_(gone)))


def _remove_the_rest(
    person: User, addresses: tuple[str, ...], kept: dict[str, int], removed: dict[str, int]
) -> None:
    """Everything else about the person: no safety record depends on it. A meeting whose topic
    opened a PV case is kept (the case's source); the others go."""
    mine = person.id
    removed.setdefault("consent_periods", 0)
    removed["chat_invitations"] = _run(delete(Invitation).where(Invitation.hcp_id == mine))
    removed["read_states"] = _run(delete(ReadState).where(ReadState.user_id == mine))
    removed["contacts"] = _run(delete(Contact).where(Contact.hcp_id == mine))
    removed["shared_materials"] = _run(delete(MaterialShare).where(MaterialShare.hcp_id == mine))
    kept["meetings"] = _count(
        select(Meeting.id).where(Meeting.hcp_id == mine, links.meeting_safety_linked())
    )
    removed["meetings"] = _run(
        delete(Meeting)
        .where(Meeting.hcp_id == mine, not_(links.meeting_safety_linked()))
        .execution_options(synchronize_session=False)
    )
    removed["plan_notes"] = _run(delete(PlanNote).where(PlanNote.hcp_id == mine))
    removed["preference_history"] = _run(
        delete(PreferenceChange).where(PreferenceChange.hcp_id == mine)
    )
    removed["bookmarks"] = _run(delete(Bookmark).where(Bookmark.user_id == mine))
    removed["material_views"] = _run(delete(MaterialEvent).where(MaterialEvent.user_id == mine))
    removed["notifications"] = _run(delete(Notification).where(Notification.user_id == mine))
    removed["sessions"] = _run(delete(UserSession).where(UserSession.user_id == mine))
    _run(delete(RecoveryCode).where(RecoveryCode.user_id == mine))
    removed["two_factor"] = _run(delete(TwoFactor).where(TwoFactor.user_id == mine))
    lowered = [a.lower() for a in addresses]
    removed["mail"] = _run(delete(OutboxMail).where(func.lower(OutboxMail.to).in_(lowered)))
    # Search terms are never stored per person (content.models.SearchTerm): nothing to remove.


def _close_account(person: User) -> None:
    """The account can never be used again; the profile keeps profession and country only."""
    profile = db.session.get(HcpProfile, person.id)
    if profile is not None:
        profile.npi = None
        profile.licence_number = None
        profile.institution = ""
        profile.specialty = ""
        profile.postal_code = ""
        profile.territory_id = None
        profile.rejection_reason = None
    person.password_hash = UNUSABLE_PASSWORD
    person.suspended = True
    person.suspended_reason = "Erased (data-protection request)."
    person.session_version += 1
    person.locale = person.timezone = None
    person.email_confirmed_at = person.last_login_at = person.locked_until = None
    person.failed_logins = 0


# --- the name elsewhere ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Identity:
    """Who the person was, read before anything changes: their name and address, the staff
    who dealt with them (whose notifications and mail may name them), their conversations."""

    name: str
    email: str
    staff_ids: frozenset[int]
    conversation_ids: frozenset[int]


MIN_NAME = 3  # a shorter name would match too much to replace safely
# Notification paths naming one record: another person's record is not about this one.
_RECORD_PATH = re.compile(r"^/(chat|hcps)/(\d+)(?:[/?#]|$)")


def _staff_who_dealt_with(person: User) -> frozenset[int]:
    """Every colleague with a record about ``person``: chats, meetings, contacts, shares,
    invitations, notes, questions (assignee, writers, attesters) and PV follow-ups."""
    mine = person.id
    questions = select(Question.id).where(Question.hcp_id == mine)
    conversations = select(Conversation.id).where(Conversation.hcp_id == mine)
    sources: list[Any] = [
        select(Conversation.staff_id).where(Conversation.hcp_id == mine),
        select(Meeting.staff_id).where(Meeting.hcp_id == mine),
        select(Contact.staff_id).where(Contact.hcp_id == mine),
        select(MaterialShare.staff_id).where(MaterialShare.hcp_id == mine),
        select(Invitation.staff_id).where(Invitation.hcp_id == mine),
        select(PlanNote.author_id).where(PlanNote.hcp_id == mine),
        select(CallNote.author_id).where(CallNote.hcp_id == mine),
        select(Question.assignee_id).where(Question.hcp_id == mine),
        select(QuestionEntry.author_id).where(QuestionEntry.question_id.in_(questions)),
        select(SafetyAttestation.actor_id).where(
            or_(
                SafetyAttestation.question_id.in_(questions),
                SafetyAttestation.conversation_id.in_(conversations),
            )
        ),
        select(PvFollowUp.author_id).where(PvFollowUp.hcp_id == mine),
    ]
    ids: set[int] = set()
    for query in sources:
        ids.update(i for i in db.session.scalars(query.distinct()) if i is not None)
    ids.discard(mine)
    return frozenset(ids)


def _word(text: str) -> re.Pattern[str]:
    """``text`` as a whole word (not inside a longer name or word)."""
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)")


def _ical_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")


def _unfold(text: str) -> str:
    return re.sub(r"\r?\n[ \t]", "", text)


def _fold(text: str) -> str:
    """Fold calendar lines at 75 octets (RFC 5545), never inside a character."""
    out: list[str] = []
    for line in text.split("\r\n"):
        chunk, size, limit = "", 0, 75
        for char in line:
            width = len(char.encode())
            if size + width > limit:
                out.append(chunk)
                chunk, size, limit = " ", 1, 75
            chunk += char
            size += width
        out.append(chunk)
    return "\r\n".join(out)


def _scrub_names(
    person: User, old: _Identity, *, pseudonym: str, address: str, kept: dict[str, int]
) -> None:
    """The person's name and address where colleagues' copies hold them: the outbox (sent or
    not: an unsent mail still tells the colleague their task, under the pseudonym), the
    notifications of colleagues who dealt with them, and PV's reporter field of their cases.
    Names are replaced as whole words only, and only where the record is about this person."""
    email = re.compile(re.escape(old.email), re.IGNORECASE)
    name = _word(old.name) if len(old.name.strip()) >= MIN_NAME else None
    escaped = _word(_ical_escaped(old.name)) if name is not None else None

    def scrub(text: str | None, *, calendar: bool = False) -> str | None:
        if text is None:
            return None
        if calendar:
            text = _unfold(text)
        text = email.sub(address, text)
        if name is not None and escaped is not None:
            text = escaped.sub(pseudonym, name.sub(pseudonym, text))
        return _fold(text) if calendar else text

    staff_addresses = [
        e.lower() for e in db.session.scalars(select(User.email).where(User.id.in_(old.staff_ids)))
    ]
    fields = (OutboxMail.subject, OutboxMail.body, OutboxMail.attachment)
    naming: list[Any] = [func.lower(f).contains(old.email.lower(), autoescape=True) for f in fields]
    if name is not None and staff_addresses:
        naming.append(
            and_(
                func.lower(OutboxMail.to).in_(staff_addresses),
                or_(*(f.contains(old.name, autoescape=True) for f in fields)),
            )
        )
    changed = 0
    for mail in db.session.scalars(select(OutboxMail).where(or_(*naming))):
        subject, body = scrub(mail.subject) or "", scrub(mail.body) or ""
        attachment = scrub(mail.attachment, calendar=True)
        if (subject, body, attachment) != (mail.subject, mail.body, mail.attachment):
            mail.subject, mail.body, mail.attachment = subject[:200], body, attachment
            changed += 1
    kept["mail_pseudonymised"] = changed
    if name is None:
        kept["notifications_pseudonymised"] = 0
        return
    changed = 0
    notifications = db.session.scalars(
        select(Notification).where(
            Notification.user_id.in_(old.staff_ids),
            Notification.title.contains(old.name, autoescape=True),
        )
    )
    for notification in notifications:
        if not _about(notification.url, person, old):
            continue
        title = name.sub(pseudonym, notification.title)
        if title != notification.title:
            notification.title = title
            changed += 1
    kept["notifications_pseudonymised"] = changed
    cases = db.session.scalars(
        select(PvCase).where(
            PvCase.reporter.contains(old.name, autoescape=True), or_(*_person_cases(person.id))
        )
    )
    for case in cases:
        case.reporter = name.sub(pseudonym, case.reporter)


def _about(url: str, person: User, old: _Identity) -> bool:
    """Whether a notification's link could be about ``person``: not when it opens another
    person's HCP record or a conversation that is not theirs."""
    found = _RECORD_PATH.match(url or "")
    if found is None:
        return True
    kind, number = found.group(1), int(found.group(2))
    if kind == "hcps":
        return number == person.id
    return number in old.conversation_ids


def _person_cases(user_id: int) -> list[Any]:
    return [
        PvCase.reporter_id == user_id,
        PvCase.question_id.in_(select(Question.id).where(Question.hcp_id == user_id)),
        PvCase.conversation_id.in_(select(Conversation.id).where(Conversation.hcp_id == user_id)),
        PvCase.call_note_id.in_(select(CallNote.id).where(CallNote.hcp_id == user_id)),
    ]


WRONG_PASSWORD = "That is not your password."  # noqa: S105 - a message


def erase_own_account(
    person: User, *, password: str, code: str = "", remote_addr: str | None = None
) -> Erasure:
    """The HCP deletes their own account from the portal: proves it is them (the password, and
    a two-factor code when enrolled), then :func:`erase_person`. A wrong password counts as a
    failed sign-in (the sign-in backoff), audited ``privacy.erasure_refused``, and raises
    :class:`InvalidInput` (``field="password"``); a wrong code: ``field="code"`` (audited by
    two-factor sign-in). Each check commits its own record, then the erasure is one unit of
    work."""
    policy.require(policy.can_erase_person(person, person), "You cannot delete this account.")
    if accounts.must_wait_before_check(person, remote_addr=remote_addr):
        db.session.rollback()
        raise InvalidInput(accounts.TOO_MANY_TRIES, field="password")
    if not passwords.check_password(person.password_hash, password):
        accounts.count_failed_check(person, remote_addr=remote_addr)
        audit.record(person, "privacy.erasure_refused", person, why="wrong password")
        db.session.commit()
        raise InvalidInput(WRONG_PASSWORD, field="password")
    db.session.commit()
    if two_factor.is_enrolled(person):
        if not code.strip():
            raise InvalidInput("Enter the code from your authenticator app.", field="code")
        two_factor.verify(person, code, ip=remote_addr)
    if not person.is_active:
        raise PermissionDenied("You cannot delete this account.")
    return erase_person(person, person, reason=SELF_REASON)
