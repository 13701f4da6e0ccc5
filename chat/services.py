"""Chat: consent, invitations, messages with gap-free sequences, receipts, compliance checks.

Every state change here checks policy and consent, writes the audit trail in the same transaction
and queues its real-time events to be sent only after commit. The Socket.IO handlers, the pages
and the benchmark all go through these functions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from chat import presence
from chat.models import (
    ConsentPeriod,
    Conversation,
    ConversationState,
    Invitation,
    InvitationStatus,
    Message,
    MessageKind,
    MessageRevision,
    ReadState,
    RestrictedPhrase,
)
from portal import audit, policy
from portal.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PortalError
from portal.extensions import db
from portal.models import Role, User, utcnow
from portal.realtime import call_after_commit, emit_after_commit
from portal.safety import attestations, detection
from portal.safety import services as safety
from portal.services import mail, notifications
from portal.services.consent import current_wording
from portal.services.coverage import field_team_for
from portal.urls import external_url

log = logging.getLogger(__name__)

NAMESPACE = "/chat"
CONSENT_PURPOSE = "chat"
MAX_BODY = 4_000
PAGE_SIZE = 50


# --- errors with protocol codes ----------------------------------------------------------------
class ConsentRequired(PermissionDenied):
    code = "consent_required"


class TooLong(InvalidInput):
    code = "too_long"


class RateLimited(PortalError):
    code = "rate_limited"


class Restricted(InvalidInput):
    """A staff message containing a restricted phrase: refused, with the phrase named."""

    code = "restricted"

    def __init__(self, message: str, phrase: str) -> None:
        super().__init__(message, field="body")
        self.phrase = phrase


# The codes the protocol documents (docs/chat-protocol.md).
ERROR_CODES = frozenset(
    {
        "not_found", "consent_required", "too_long", "rate_limited", "invalid", "unavailable",
        "restricted", "forbidden",
    }
)  # fmt: skip


def error_code(exc: PortalError) -> str:
    """The protocol's error code for a domain exception: its own code when the protocol has
    it (``not_found``, ``forbidden``, ``too_long``...), else ``invalid`` (e.g. a conflict)."""
    return exc.code if exc.code in ERROR_CODES else "invalid"


# --- rooms ---------------------------------------------------------------------------------------
def room(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def _emit(event: str, data: dict[str, Any], to: str) -> None:
    emit_after_commit(db.session(), event, data, to=to, namespace=NAMESPACE)


# --- serializers (the protocol's shapes) --------------------------------------------------------
def _material_card(material_id: int, now: dt.datetime) -> dict[str, Any]:
    from content.models import Material  # the content package's model, read-only

    material = db.session.get(Material, material_id)
    if material is None or not material.is_live_at(now):
        # Withdrawn or expired since it was shared: shown as withdrawn, with no link.
        return {"id": material_id, "title": material.title if material else "", "available": False}
    return {
        "id": material.id,
        "family_id": material.family_id,
        "title": material.title,
        "summary": material.summary,
        "classification": str(material.classification),
        "available": True,
        "url": f"/library/family/{material.family_id}",
    }


def serialize_message(message: Message, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """MESSAGE: ``{"id", "conversation_id", "client_id", "seq", "sender_id", "sender_name",
    "body", "sent_at", "edited", "deleted", "flags", "kind", "material"}``. A deleted message's
    body is empty for participants (compliance reads the original in the review pages)."""
    deleted = message.deleted_at is not None
    return message_payload(
        id=message.id,
        conversation_id=message.conversation_id,
        client_id=message.client_id,
        seq=message.seq,
        sender_id=message.sender_id,
        sender_name=message.sender.name,
        body="" if deleted else message.body,
        sent_at=message.sent_at,
        edited=message.edited_at is not None,
        deleted=deleted,
        flags=message.flags or [],
        kind=message.kind,
        material=(
            _material_card(message.material_id, now or utcnow())
            if message.material_id and not deleted
            else None
        ),
    )


def message_payload(
    *,
    id: int,
    conversation_id: int,
    client_id: str,
    seq: int,
    sender_id: int,
    sender_name: str,
    body: str,
    sent_at: dt.datetime,
    edited: bool = False,
    deleted: bool = False,
    flags: Sequence[str] = (),
    kind: MessageKind = MessageKind.TEXT,
    material: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """MESSAGE from its fields (:func:`serialize_message` reads them off a stored message; a
    batch of new messages has them at hand)."""
    return {
        "id": id,
        "conversation_id": conversation_id,
        "client_id": client_id,
        "seq": seq,
        "sender_id": sender_id,
        "sender_name": sender_name,
        "body": body,
        "sent_at": sent_at.isoformat(),
        "edited": edited,
        "deleted": deleted,
        "flags": list(flags),
        "kind": kind.value,
        "material": material,
    }


def with_pv_cases(
    viewer: User, conversation: Conversation, payloads: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """MESSAGEs as ``viewer`` may see them: those that went to Pharmacovigilance carry
    ``pv_case`` (``{"reference"}``, plus ``"url"`` for those who may open the case) when policy
    lets the viewer know (the staff participant; never the HCP). New dicts: a payload already
    queued for the room is never changed."""
    notices = safety.case_notices(viewer, conversation, [p["id"] for p in payloads])
    if not notices:
        return payloads
    return [{**p, "pv_case": notices[p["id"]]} if p["id"] in notices else p for p in payloads]


def _tell_staff_of_case(conversation: Conversation, message: Message) -> None:
    # The room's MESSAGE reaches the HCP too, so the reference goes to the staff member's own
    # room, after commit like every event.
    notice = safety.case_notices(conversation.staff, conversation, [message.id]).get(message.id)
    if notice is not None:
        event = {
            "conversation_id": conversation.id, "message_id": message.id, "seq": message.seq,
            "pv_case": notice,
        }  # fmt: skip
        _emit("pv_case", event, user_room(conversation.staff_id))


def _read_state(conversation_id: int, user_id: int) -> ReadState:
    state = db.session.get(ReadState, (conversation_id, user_id))
    if state is None:
        state = ReadState(conversation_id=conversation_id, user_id=user_id)
        db.session.add(state)
        db.session.flush()
    return state


def _state_for(actor: User, conversation: Conversation) -> str:
    if conversation.state is ConversationState.ACTIVE:
        return "active"
    if conversation.state is ConversationState.INVITED:
        return "invited"
    return "ended"


def serialize_conversation(actor: User, conversation: Conversation) -> dict[str, Any]:
    peer = conversation.peer_of(actor.id)
    read = db.session.get(ReadState, (conversation.id, actor.id))
    read_seq = read.read_seq if read else 0
    unread = 0
    if conversation.last_seq > read_seq:
        # Writing a message means having read what came before it.
        own_last = db.session.scalar(
            select(func.max(Message.seq)).where(
                Message.conversation_id == conversation.id, Message.sender_id == actor.id
            )
        )
        read_seq = max(read_seq, own_last or 0)
    if conversation.last_seq > read_seq:
        unread = int(
            db.session.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.conversation_id == conversation.id,
                    Message.seq > read_seq,
                    Message.sender_id != actor.id,
                )
            )
            or 0
        )
    return {
        "id": conversation.id,
        "peer": {
            "id": peer.id,
            "name": peer.name,
            "role": peer.role.value,
            "role_label": peer.role.label,
            # Presence is shared with the peers of active chats only (as the presence events).
            "online": conversation.state is ConversationState.ACTIVE
            and presence.is_online(peer.id),
        },
        "state": _state_for(actor, conversation),
        "last_seq": conversation.last_seq,
        "read_seq": read_seq,
        "unread": unread,
        "last_message_at": (
            conversation.last_message_at.isoformat() if conversation.last_message_at else None
        ),
    }


# --- reads ---------------------------------------------------------------------------------------
def get_conversation(actor: User, conversation_id: Any) -> Conversation:
    """The conversation if ``actor`` takes part in it (or reviews for compliance); ``NotFound``
    otherwise, whatever the id, so ids reveal nothing."""
    found = db.session.get(Conversation, conversation_id) if _is_id(conversation_id) else None
    policy.require_visible(
        found is not None and policy.can_view_conversation(actor, found), "That conversation"
    )
    assert found is not None
    return found


def get_own_conversation(actor: User, conversation_id: Any) -> Conversation:
    """The conversation if ``actor`` takes part in it: ``NotFound`` for outsiders,
    ``PermissionDenied`` for compliance, who reads conversations but never takes part."""
    conversation = get_conversation(actor, conversation_id)
    policy.require(
        policy.takes_part_in_conversation(actor, conversation),
        "Compliance reads conversations in the review pages; it does not take part in them.",
    )
    return conversation


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def list_conversations(actor: User) -> list[dict[str, Any]]:
    """The actor's own conversations (as participant), most recent first."""
    rows = db.session.scalars(
        select(Conversation)
        .where((Conversation.hcp_id == actor.id) | (Conversation.staff_id == actor.id))
        .order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc())
    ).all()
    return [serialize_conversation(actor, c) for c in rows]


def unread_total(actor: User) -> int:
    """Unread messages across the actor's conversations (the navigation bar's badge)."""
    return sum(c["unread"] for c in list_conversations(actor))


def messages_after(
    actor: User, conversation_id: Any, after_seq: Any, *, limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], bool]:
    """Stored messages after ``after_seq``, in sequence order, a page at a time:
    ``(messages, more)``. Replay after a reconnect and the first load both use this."""
    conversation = get_conversation(actor, conversation_id)
    if not isinstance(after_seq, int) or isinstance(after_seq, bool) or after_seq < 0:
        raise InvalidInput("after_seq must be a sequence number (0 for the start).")
    rows = db.session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.seq > after_seq)
        .order_by(Message.seq)
        .limit(limit + 1)
    ).all()
    now = utcnow()
    page = [serialize_message(m, now=now) for m in rows[:limit]]
    return with_pv_cases(actor, conversation, page), len(rows) > limit


def message_id_at(actor: User, conversation_id: Any, seq: Any) -> int:
    """The id of message ``seq`` of a conversation ``actor`` may read (``NotFound`` otherwise)."""
    conversation = get_conversation(actor, conversation_id)
    found = (
        db.session.scalar(
            select(Message.id).where(Message.conversation_id == conversation.id, Message.seq == seq)
        )
        if _is_id(seq)
        else None
    )
    if found is None:
        raise NotFound("That message was not found.")
    return int(found)


def messages_before(
    actor: User, conversation_id: Any, before_seq: Any, *, limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], bool]:
    """Scroll-back: up to ``limit`` messages before ``before_seq``, in sequence order."""
    conversation = get_conversation(actor, conversation_id)
    if not isinstance(before_seq, int) or isinstance(before_seq, bool) or before_seq < 1:
        raise InvalidInput("before_seq must be a sequence number.")
    rows = db.session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.seq < before_seq)
        .order_by(Message.seq.desc())
        .limit(limit + 1)
    ).all()
    now = utcnow()
    page = list(reversed(rows[:limit]))
    payloads = [serialize_message(m, now=now) for m in page]
    return with_pv_cases(actor, conversation, payloads), len(rows) > limit


def latest_messages(
    actor: User, conversation_id: Any, *, limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], bool]:
    """The last page of a conversation (what the page shows first)."""
    conversation = get_conversation(actor, conversation_id)
    return messages_before(actor, conversation.id, conversation.last_seq + 1, limit=limit)


# --- consent and invitations ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TeamMember:
    user: User
    conversation: Conversation | None
    invitation: Invitation | None


def my_team(hcp: User) -> list[TeamMember]:
    """The reps and MSLs covering the HCP's territory, with any conversation or pending
    invitation between them."""
    members = []
    for staff in field_team_for(hcp):
        conversation = _conversation_between(hcp.id, staff.id)
        invitation = db.session.scalar(
            select(Invitation).where(
                Invitation.hcp_id == hcp.id,
                Invitation.staff_id == staff.id,
                Invitation.status == InvitationStatus.PENDING,
            )
        )
        members.append(TeamMember(staff, conversation, invitation))
    return members


def _conversation_between(hcp_id: int, staff_id: int) -> Conversation | None:
    return db.session.scalar(
        select(Conversation).where(Conversation.hcp_id == hcp_id, Conversation.staff_id == staff_id)
    )


def _open_consent(conversation: Conversation) -> ConsentPeriod | None:
    return db.session.scalar(
        select(ConsentPeriod).where(
            ConsentPeriod.conversation_id == conversation.id,
            ConsentPeriod.withdrawn_at.is_(None),
        )
    )


def consent_wording() -> Any:
    """The chat consent wording HCPs are shown now (versioned)."""
    return current_wording(CONSENT_PURPOSE)


def _opt_in(
    hcp: User, staff: User, *, wording_id: Any, via: str, conversation: Conversation | None
) -> Conversation:
    wording = consent_wording()
    if wording_id != wording.id:
        raise InvalidInput(
            "The consent wording has changed: read it again and confirm.", field="consent"
        )
    now = utcnow()
    if conversation is None:
        conversation = Conversation(hcp_id=hcp.id, staff_id=staff.id, created_at=now)
        db.session.add(conversation)
        db.session.flush()
    if _open_consent(conversation) is not None:
        raise Conflict("You are already chatting with this person.")
    conversation.state = ConversationState.ACTIVE
    conversation.ended_at = None
    consent = ConsentPeriod(
        conversation_id=conversation.id, hcp_id=hcp.id, staff_id=staff.id,
        wording_id=wording.id, granted_at=now, granted_via=via,
    )  # fmt: skip
    db.session.add(consent)
    db.session.flush()
    audit.record(
        hcp, "chat.consent_given", conversation, staff=staff.id, wording=wording.id,
        wording_version=wording.version, via=via,
    )  # fmt: skip
    state = {"conversation_id": conversation.id, "state": "active"}
    _emit("conversation_started", state, user_room(staff.id))
    _emit("conversation_started", state, user_room(hcp.id))
    return conversation


def start_chat(hcp: User, staff_id: int, *, wording_id: Any) -> Conversation:
    """The HCP opts in to chat with a rep or MSL of their territory, agreeing to the current
    consent wording. Opting in again after ending opens a new consent period in the same
    history. Audit: ``chat.consent_given``."""
    staff = db.session.get(User, staff_id)
    policy.require_visible(staff is not None and policy.can_chat_with(hcp, staff), "That colleague")
    assert staff is not None
    conversation = _conversation_between(hcp.id, staff.id)
    pending = _pending_invitation(hcp.id, staff.id)
    if pending is not None:
        pending.status = InvitationStatus.ACCEPTED
        pending.decided_at = utcnow()
    try:
        conversation = _opt_in(
            hcp, staff, wording_id=wording_id, via="hcp_started", conversation=conversation
        )
    except PortalError:
        db.session.rollback()  # nothing of a refused opt-in is kept (the invitation stays pending)
        raise
    db.session.commit()
    return conversation


def _pending_invitation(hcp_id: int, staff_id: int) -> Invitation | None:
    return db.session.scalar(
        select(Invitation).where(
            Invitation.hcp_id == hcp_id,
            Invitation.staff_id == staff_id,
            Invitation.status == InvitationStatus.PENDING,
        )
    )


def invitable_hcps(staff: User) -> list[User]:
    """Verified HCPs of the staff member's territories (whom they may invite)."""
    from portal.models import HcpProfile, Verification

    territory_ids = [t.id for t in staff.territories]
    if not territory_ids or staff.role not in policy.FIELD_ROLES:
        return []
    return list(
        db.session.scalars(
            select(User)
            .join(HcpProfile, HcpProfile.user_id == User.id)
            .where(
                HcpProfile.territory_id.in_(territory_ids),
                HcpProfile.verification == Verification.VERIFIED,
                User.suspended.is_(False),
            )
            .order_by(User.name)
        )
    )


def invite(staff: User, hcp_id: int, *, note: str = "") -> Invitation:
    """A rep or MSL invites an HCP of their territory to chat. One pending invitation per pair;
    after a decline, no new invitation from that person for ``CHAT_DECLINE_COOLDOWN_DAYS``; an
    HCP holds at most ``CHAT_MAX_PENDING_INVITATIONS`` pending invitations (their cap on
    unsolicited contact). Audit: ``chat.invited``. Notifies the HCP (no text in the e-mail)."""
    hcp = db.session.get(User, hcp_id)
    policy.require_visible(hcp is not None and policy.can_invite_to_chat(staff, hcp), "That HCP")
    assert hcp is not None
    if len(note) > 500:
        raise InvalidInput("Keep the note under 500 characters.", field="note")
    conversation = _conversation_between(hcp.id, staff.id)
    if conversation is not None and conversation.state is ConversationState.ACTIVE:
        raise Conflict("You are already chatting with this HCP.")
    if _pending_invitation(hcp.id, staff.id) is not None:
        raise Conflict("An invitation to this HCP is already waiting for an answer.")
    config = current_app.config
    cooldown = dt.timedelta(days=config["CHAT_DECLINE_COOLDOWN_DAYS"])
    declined = db.session.scalar(
        select(func.max(Invitation.decided_at)).where(
            Invitation.hcp_id == hcp.id,
            Invitation.staff_id == staff.id,
            Invitation.status == InvitationStatus.DECLINED,
        )
    )
    now = utcnow()
    if declined is not None and declined + cooldown > now:
        raise Conflict(
            "This HCP declined your last invitation; you can invite them again after "
            f"{(declined + cooldown).strftime('%d %b %Y')}."
        )
    pending_total = db.session.scalar(
        select(func.count()).select_from(Invitation).where(
            Invitation.hcp_id == hcp.id, Invitation.status == InvitationStatus.PENDING
        )
    ) or 0  # fmt: skip
    if pending_total >= config["CHAT_MAX_PENDING_INVITATIONS"]:
        raise Conflict("This HCP has enough invitations waiting; try again later.")
    invitation = Invitation(hcp_id=hcp.id, staff_id=staff.id, note=note.strip(), created_at=now)
    db.session.add(invitation)
    if conversation is None:
        conversation = Conversation(
            hcp_id=hcp.id, staff_id=staff.id, state=ConversationState.INVITED, created_at=now
        )
        db.session.add(conversation)
    else:
        conversation.state = ConversationState.INVITED
    db.session.flush()
    audit.record(staff, "chat.invited", invitation, hcp=hcp.id)
    notifications.notify(
        [hcp], kind="chat_invitation", title=f"{staff.name} invited you to chat",
        endpoint="chat.team",
    )  # fmt: skip
    db.session.commit()
    return invitation


def _my_invitation(hcp: User, invitation_id: int) -> Invitation:
    invitation = db.session.get(Invitation, invitation_id)
    policy.require_visible(
        invitation is not None and invitation.hcp_id == hcp.id, "That invitation"
    )
    assert invitation is not None
    if invitation.status is not InvitationStatus.PENDING:
        raise Conflict("This invitation has already been answered.")
    return invitation


def accept_invitation(hcp: User, invitation_id: int, *, wording_id: Any) -> Conversation:
    """The HCP accepts an invitation: that is their opt-in, with the wording they saw.
    Audit: ``chat.invitation_accepted`` and ``chat.consent_given``."""
    invitation = _my_invitation(hcp, invitation_id)
    staff = invitation.staff
    policy.require(policy.can_chat_with(hcp, staff), "This colleague no longer covers you.")
    invitation.status = InvitationStatus.ACCEPTED
    invitation.decided_at = utcnow()
    audit.record(hcp, "chat.invitation_accepted", invitation)
    try:
        conversation = _opt_in(
            hcp, staff, wording_id=wording_id, via="invitation",
            conversation=_conversation_between(hcp.id, staff.id),
        )  # fmt: skip
    except PortalError:
        db.session.rollback()  # the invitation stays pending, its acceptance unaudited
        raise
    db.session.commit()
    return conversation


def decline_invitation(hcp: User, invitation_id: int) -> Invitation:
    """The HCP declines; the same colleague cannot invite again for a while.
    Audit: ``chat.invitation_declined``."""
    invitation = _my_invitation(hcp, invitation_id)
    invitation.status = InvitationStatus.DECLINED
    invitation.decided_at = utcnow()
    conversation = _conversation_between(hcp.id, invitation.staff_id)
    if conversation is not None and conversation.state is ConversationState.INVITED:
        conversation.state = ConversationState.ENDED
    audit.record(hcp, "chat.invitation_declined", invitation)
    db.session.commit()
    return invitation


def end_chat(hcp: User, conversation_id: Any, *, via: str = "conversation") -> Conversation:
    """The HCP ends the chat, at once: the consent period closes, the server refuses staff
    messages from this instant, every live socket of the staff member leaves the conversation's
    room (in every process), and both sides get ``conversation_ended``. The staff member is asked
    to attest for safety for the messages not attested yet (a notification).
    Audit: ``chat.consent_withdrawn``."""
    conversation = get_conversation(hcp, conversation_id)
    policy.require(policy.can_end_conversation(hcp, conversation), "This chat is not active.")
    now = utcnow()
    consent = _open_consent(conversation)
    if consent is not None:
        consent.withdrawn_at = now
        consent.withdrawn_via = via
    conversation.state = ConversationState.ENDED
    conversation.ended_at = now
    audit.record(hcp, "chat.consent_withdrawn", conversation, via=via, staff=conversation.staff_id)
    attestations.ask_for_attestation(conversation)
    ended = {"conversation_id": conversation.id}
    _emit("conversation_ended", ended, user_room(conversation.staff_id))
    _emit("conversation_ended", ended, user_room(conversation.hcp_id))
    staff_id, conversation_room = conversation.staff_id, room(conversation.id)
    call_after_commit(
        db.session(), lambda: presence.remove_user_from_room(staff_id, conversation_room)
    )
    db.session.commit()
    return conversation


def end_all_chats(hcp: User) -> int:
    """ "End every chat" from the HCP's settings; returns how many were ended."""
    active = db.session.scalars(
        select(Conversation.id).where(
            Conversation.hcp_id == hcp.id, Conversation.state == ConversationState.ACTIVE
        )
    ).all()
    for conversation_id in active:
        end_chat(hcp, conversation_id, via="settings")
    return len(active)


# --- messages ------------------------------------------------------------------------------------
def check_body(body: Any) -> str:
    """A message text: not blank (``InvalidInput``), at most ``MAX_BODY`` characters
    (``TooLong``)."""
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("Write a message first.", field="body")
    if len(body) > MAX_BODY:
        raise TooLong(f"Messages are limited to {MAX_BODY:,} characters.", field="body")
    return body


def check_client_id(client_id: Any) -> str:
    """The client's message id in canonical UUID form (``InvalidInput`` otherwise)."""
    if not isinstance(client_id, str):
        raise InvalidInput("client_id must be a UUID string.", field="client_id")
    try:
        return str(uuid.UUID(client_id))
    except ValueError as exc:
        raise InvalidInput("client_id must be a UUID string.", field="client_id") from exc


def restricted_phrases() -> list[RestrictedPhrase]:
    return list(
        db.session.scalars(
            select(RestrictedPhrase)
            .where(RestrictedPhrase.active.is_(True))
            .order_by(RestrictedPhrase.id)
        )
    )


def active_phrases() -> list[str]:
    """The texts of the restricted phrases in force, in the order they were added."""
    return list(
        db.session.scalars(
            select(RestrictedPhrase.phrase)
            .where(RestrictedPhrase.active.is_(True))
            .order_by(RestrictedPhrase.id)
        )
    )


def restricted_hit(body: str, phrases: Sequence[str]) -> detection.Hit | None:
    """The first of the restricted ``phrases`` in a staff member's ``body``, if any."""
    return detection.keyword_hit(body, phrases) if phrases else None


def _check_restricted(actor: User, conversation: Conversation, body: str) -> None:
    hit = restricted_hit(body, active_phrases())
    if hit is None:
        return
    # The refusal is itself a record: committed on its own, the message is not stored.
    db.session.rollback()
    audit.record(
        actor, "chat.message_refused", conversation, phrase=hit.phrase, matched=hit.matched
    )
    db.session.commit()
    raise Restricted(
        f"Not sent: '{hit.matched}' is a restricted phrase ({hit.phrase}). Please rephrase.",
        hit.phrase,
    )


def _existing(sender_id: int, client_id: str) -> Message | None:
    return db.session.scalar(
        select(Message).where(Message.sender_id == sender_id, Message.client_id == client_id)
    )


def send_message(
    actor: User,
    conversation_id: Any,
    *,
    client_id: Any,
    body: Any = "",
    material_id: Any = None,
    rate_checked: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Store a message with the conversation's next sequence number, then (after commit) emit it
    to the conversation's room. Returns ``(MESSAGE, created)``.

    Idempotent: the same ``client_id`` from the same sender returns the first message and stores
    nothing. Staff need the HCP's open consent (``ConsentRequired``), may not use restricted
    phrases (``Restricted``, audited) and share only material their role may share. Every
    message is checked for a possible adverse event: a hit flags it and opens a PV case in the
    same transaction. Audit: ``chat.message_sent``. ``rate_checked``: the caller already counted
    this send against the rate limit (:mod:`chat.sending`).
    """
    cid = check_client_id(client_id)
    conversation = get_own_conversation(actor, conversation_id)
    if not policy.can_send_in_conversation(actor, conversation):
        # A retry of a message stored before the chat ended still gets its acknowledgement.
        earlier = _existing(actor.id, cid)
        if earlier is not None and earlier.conversation_id == conversation.id:
            return serialize_message(earlier), False
        raise ConsentRequired(
            "This chat has ended: the HCP has to opt in again before messages can be sent."
        )
    now = utcnow()
    material = None
    if material_id is not None:
        material = _shareable(actor, conversation, material_id, now)
        text = material.title
        kind = MessageKind.MATERIAL
    else:
        text = check_body(body)
        kind = MessageKind.TEXT
    is_staff = actor.id == conversation.staff_id
    if is_staff and kind is MessageKind.TEXT:
        _check_restricted(actor, conversation, text)
    if not rate_checked:
        check_rate(actor.id)
    seq = db.session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id)
        .values(last_seq=Conversation.last_seq + 1, last_message_at=now)
        .returning(Conversation.last_seq)
    ).scalar_one()
    finding = safety.detect(text) if kind is MessageKind.TEXT else None
    message = Message(
        conversation_id=conversation.id, seq=seq, client_id=cid, sender_id=actor.id, kind=kind,
        body=text, material_id=material.id if material else None, sent_at=now,
        flags=["adverse_event"] if finding and finding.flagged else [],
    )  # fmt: skip
    db.session.add(message)
    try:
        db.session.flush()
    except IntegrityError:
        # The same client id was stored before (a retry), or raced in from another connection:
        # the first one stands, and nothing of this attempt (not even its number) is kept.
        db.session.rollback()
        earlier = _existing(actor.id, cid)
        if earlier is None:
            raise
        get_conversation(actor, earlier.conversation_id)
        return serialize_message(earlier), False
    audit.record(
        actor, "chat.message_sent", message, conversation=conversation.id, seq=seq,
        kind=kind.value, flags=message.flags,
    )  # fmt: skip
    if finding is not None and finding.flagged:
        safety.open_case(
            actor, source=safety.CaseSource.CHAT, source_ref=f"C-{conversation.id}#{seq}",
            text=text, reasons=finding.reasons,
            reporter=conversation.hcp if not is_staff else actor, received_at=now,
            conversation_id=conversation.id, message_id=message.id,
        )  # fmt: skip
    payload = serialize_message(message, now=now)
    _emit("message", payload, room(conversation.id))
    if finding is not None and finding.flagged:
        _tell_staff_of_case(conversation, message)
    _maybe_email(conversation, conversation.staff_id if not is_staff else conversation.hcp_id, now)
    db.session.commit()
    if finding is not None and finding.flagged:
        # The sender's acknowledgement is theirs alone: it may name the case (staff only).
        return with_pv_cases(actor, conversation, [payload])[0], True
    return payload, True


def _shareable(actor: User, conversation: Conversation, material_id: Any, now: dt.datetime) -> Any:
    """The material the staff participant shares with this chat's HCP, or ``InvalidInput``
    saying why not (content's rule: :func:`portal.policy.can_share_material_with`)."""
    from content import services as content_services

    if actor.id != conversation.staff_id:
        raise InvalidInput("Only the colleague in this chat shares material.", field="material_id")
    material = content_services.get_shareable_material(actor, material_id, conversation.hcp)
    # The chat's own policy (participant, active consent, this HCP) has the last word.
    policy.require(policy.can_share_in_chat(actor, conversation, material, now))
    return material


def shareable_materials(actor: User, conversation_id: Any) -> list[dict[str, Any]]:
    """The share list: what the staff participant may share with this chat's HCP (their
    products and side's classification, the HCP's audience, country and dates). Empty for the
    HCP, and while the chat is not active."""
    from content import services as content_services

    conversation = get_conversation(actor, conversation_id)
    if actor.id != conversation.staff_id or not policy.can_send_in_conversation(
        actor, conversation
    ):
        return []
    return [
        {"id": m.id, "title": m.title, "classification": str(m.classification)}
        for m in content_services.shareable_materials(actor, conversation.hcp)
    ]


def _maybe_email(conversation: Conversation, recipient_id: int, now: dt.datetime) -> None:
    # At most one "new message" e-mail per conversation and period, only when the recipient has
    # no live connection; it never contains the text (minimum necessary).
    if presence.is_online(recipient_id):
        return
    recipient = conversation.hcp if recipient_id == conversation.hcp_id else conversation.staff
    state = _read_state(conversation.id, recipient.id)
    period = dt.timedelta(minutes=current_app.config["CHAT_EMAIL_INTERVAL_MINUTES"])
    if state.emailed_at is not None and state.emailed_at + period > now:
        return
    state.emailed_at = now
    mail.enqueue(
        recipient.email,
        "You have a new chat message",
        f"Hello {recipient.name},\n\nYou have a new message in the portal's secure chat.\n\n"
        f"Sign in to read it:\n{external_url('chat.index', conversation=conversation.id)}\n\n"
        "For your privacy, this e-mail never contains the message itself.\n",
    )


_rate: dict[str, Any] = {}


def check_rate(user_id: int) -> None:
    """Count one send of ``user_id`` against ``CHAT_RATE_LIMIT`` (``RateLimited`` when over)."""
    from limits import parse
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return
    uri = config["RATELIMIT_STORAGE_URI"]
    limiter = _rate.get(uri)
    if limiter is None:
        limiter = _rate[uri] = MovingWindowRateLimiter(storage_from_string(uri))
    item = parse(config["CHAT_RATE_LIMIT"])
    if not limiter.hit(item, "chat-send", str(user_id)):
        raise RateLimited("You are sending messages too fast; wait a moment and retry.")


def mark_read(actor: User, conversation_id: Any, seq: Any) -> dict[str, Any] | None:
    """Record that ``actor`` read up to ``seq`` (never backwards); tells the room."""
    return _receipt(actor, conversation_id, seq, kind="read")


def mark_delivered(actor: User, conversation_id: Any, seq: Any) -> dict[str, Any] | None:
    """Record that a live client of ``actor`` received up to ``seq``; tells the room."""
    return _receipt(actor, conversation_id, seq, kind="delivered")


def _receipt(actor: User, conversation_id: Any, seq: Any, *, kind: str) -> dict[str, Any] | None:
    conversation = get_own_conversation(actor, conversation_id)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise InvalidInput("seq must be a sequence number.", field="seq")
    seq = min(seq, conversation.last_seq)
    state = _read_state(conversation.id, actor.id)
    changed = False
    if kind == "read" and seq > state.read_seq:
        state.read_seq = seq
        changed = True
    if seq > state.delivered_seq:
        state.delivered_seq = seq
        changed = kind == "delivered" or changed
    if not changed:
        db.session.rollback()
        return None
    receipt = {"conversation_id": conversation.id, "user_id": actor.id, "seq": seq, "kind": kind}
    _emit("receipt", receipt, room(conversation.id))
    db.session.commit()
    return receipt


def receipts(actor: User, conversation_id: Any) -> dict[str, Any]:
    """Both participants' delivered and read sequences (for the page's first paint)."""
    conversation = get_conversation(actor, conversation_id)
    out = {}
    for user_id in (conversation.hcp_id, conversation.staff_id):
        state = db.session.get(ReadState, (conversation.id, user_id))
        out[str(user_id)] = {
            "delivered_seq": state.delivered_seq if state else 0,
            "read_seq": state.read_seq if state else 0,
        }
    return out


def _own_message(actor: User, message_id: Any) -> tuple[Message, Conversation]:
    message = db.session.get(Message, message_id) if _is_id(message_id) else None
    if message is None:
        raise NotFound("That message was not found.")
    conversation = get_conversation(actor, message.conversation_id)
    if message.sender_id != actor.id:
        raise PermissionDenied("You can only change your own messages.")
    if message.deleted_at is not None or message.kind is not MessageKind.TEXT:
        raise InvalidInput("This message can no longer be changed.")
    return message, conversation


def edit_message(actor: User, message_id: Any, body: Any) -> dict[str, Any]:
    """Change one's own message: the original is kept for compliance; participants see
    "edited". Staff edits pass the restricted-phrase check too; an edit describing a possible
    adverse event flags the message and opens a PV case. Audit: ``chat.message_edited``."""
    message, conversation = _own_message(actor, message_id)
    if not policy.can_send_in_conversation(actor, conversation):
        raise ConsentRequired("This chat has ended.")
    text = check_body(body)
    if actor.id == conversation.staff_id:
        _check_restricted(actor, conversation, text)
    db.session.add(MessageRevision(message_id=message.id, kind="edit", previous_body=message.body))
    message.body = text
    message.edited_at = now = utcnow()
    audit.record(actor, "chat.message_edited", message, conversation=conversation.id)
    # An edit is something said too: a possible adverse event it adds reaches PV like a new
    # message would (a message already flagged has its case; PV sees the edit there).
    finding = safety.detect(text)
    if finding.flagged and "adverse_event" not in (message.flags or []):
        message.flags = [*(message.flags or []), "adverse_event"]
        is_staff = actor.id == conversation.staff_id
        safety.open_case(
            actor, source=safety.CaseSource.CHAT, source_ref=f"C-{conversation.id}#{message.seq}",
            text=text, reasons=finding.reasons,
            reporter=conversation.hcp if not is_staff else actor, received_at=now,
            conversation_id=conversation.id, message_id=message.id,
        )  # fmt: skip
    payload = serialize_message(message)
    _emit("message_updated", payload, room(conversation.id))
    if finding.flagged:
        _tell_staff_of_case(conversation, message)
    db.session.commit()
    return with_pv_cases(actor, conversation, [payload])[0]


def delete_message(actor: User, message_id: Any) -> dict[str, Any]:
    """Delete one's own message for the participants; the original stays for compliance.
    Audit: ``chat.message_deleted``."""
    message, conversation = _own_message(actor, message_id)
    db.session.add(
        MessageRevision(message_id=message.id, kind="delete", previous_body=message.body)
    )
    message.deleted_at = utcnow()
    audit.record(actor, "chat.message_deleted", message, conversation=conversation.id)
    payload = serialize_message(message)
    _emit("message_updated", payload, room(conversation.id))
    db.session.commit()
    return payload


# --- compliance ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ReviewRow:
    conversation: Conversation
    messages: int
    consents: int
    last_from: User | None


def review_list(actor: User) -> list[ReviewRow]:
    """Every conversation, most recent first, for compliance review: how many messages and
    consent periods, and who wrote last."""
    policy.require_visible(policy.can_review_chats(actor), "Chat review")
    conversations = db.session.scalars(
        select(Conversation).order_by(
            Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc()
        )
    ).all()
    consents = dict(
        db.session.execute(
            select(ConsentPeriod.conversation_id, func.count()).group_by(
                ConsentPeriod.conversation_id
            )
        ).all()
    )
    last_senders = dict(
        db.session.execute(
            select(Message.conversation_id, Message.sender_id).join(
                Conversation,
                (Conversation.id == Message.conversation_id)
                & (Message.seq == Conversation.last_seq),
            )
        ).all()
    )
    rows = []
    for c in conversations:
        sender_id = last_senders.get(c.id)
        rows.append(
            ReviewRow(
                conversation=c,
                messages=c.last_seq,  # sequences are gap-free from 1
                consents=consents.get(c.id, 0),
                last_from=None
                if sender_id is None
                else (c.hcp if sender_id == c.hcp_id else c.staff),
            )
        )
    return rows


def _reviewable_conversation(actor: User, conversation_id: Any) -> Conversation:
    """The conversation if ``actor`` may read its review transcript: compliance, or PV when a
    PV case came from it (:func:`portal.policy.can_read_chat_transcript`); ``NotFound``
    otherwise, whatever the id."""
    found = db.session.get(Conversation, conversation_id) if _is_id(conversation_id) else None
    holds_case = found is not None and safety.conversation_holds_case(found.id)
    policy.require_visible(
        found is not None
        and policy.can_read_chat_transcript(actor, found, holds_pv_case=holds_case),
        "That conversation",
    )
    assert found is not None
    return found


def transcript(actor: User, conversation_id: Any) -> tuple[Conversation, list[Message]]:
    """A conversation with every message and its revisions (originals included): compliance
    reads every conversation, Pharmacovigilance those a PV case came from (read-only, both)."""
    conversation = _reviewable_conversation(actor, conversation_id)
    messages = list(
        db.session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.seq)
        )
    )
    return conversation, messages


def consent_history(actor: User, conversation_id: Any) -> list[ConsentPeriod]:
    """The conversation's consent periods, for those who read its review transcript."""
    conversation = _reviewable_conversation(actor, conversation_id)
    return list(
        db.session.scalars(
            select(ConsentPeriod)
            .where(ConsentPeriod.conversation_id == conversation.id)
            .order_by(ConsentPeriod.id)
        )
    )


# --- restricted phrases (administration) ------------------------------------------------------
def add_restricted_phrase(actor: User, phrase: str, *, reason: str = "") -> RestrictedPhrase:
    """Audit: ``chat.phrase_added``."""
    policy.require(policy.can_manage_restricted_phrases(actor))
    cleaned = " ".join(phrase.split())
    if not cleaned or len(cleaned) > 100:
        raise InvalidInput("A phrase has 1 to 100 characters.", field="phrase")
    if len(reason) > 300:
        raise InvalidInput("Keep the reason under 300 characters.", field="reason")
    exists = db.session.scalar(
        select(RestrictedPhrase).where(func.lower(RestrictedPhrase.phrase) == cleaned.lower())
    )
    if exists is not None:
        raise InvalidInput("That phrase is already on the list.", field="phrase")
    row = RestrictedPhrase(phrase=cleaned, reason=reason.strip())
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "chat.phrase_added", row, phrase=cleaned)
    db.session.commit()
    return row


def remove_restricted_phrase(actor: User, phrase_id: int) -> None:
    """Audit: ``chat.phrase_removed`` (the row stays, inactive, for the record)."""
    policy.require(policy.can_manage_restricted_phrases(actor))
    row = db.session.get(RestrictedPhrase, phrase_id)
    if row is None or not row.active:
        raise NotFound("That phrase was not found.")
    row.active = False
    audit.record(actor, "chat.phrase_removed", row, phrase=row.phrase)
    db.session.commit()


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


def ensure_default_restricted_phrases() -> None:
    """Seed the starting list once (no actor; idempotent; commits)."""
    if db.session.scalar(select(func.count()).select_from(RestrictedPhrase)):
        return
    for phrase, reason in DEFAULT_RESTRICTED_PHRASES:
        db.session.add(RestrictedPhrase(phrase=phrase, reason=reason))
    db.session.commit()


def is_participant_role(user: User) -> bool:
    return user.role is Role.HCP or user.role in policy.FIELD_ROLES


def has_active_chat(hcp: User) -> bool:
    """Whether the HCP has at least one chat they opted in to (offered as a reply channel for
    their questions)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.hcp_id == hcp.id, Conversation.state == ConversationState.ACTIVE)
        )
        or 0
    ) > 0
