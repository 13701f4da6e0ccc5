"""Consent and invitations: an HCP opts in to chat with a rep or MSL of their territory (or
accepts their invitation) and may end the chat at any moment.

A conversation is open only while the HCP's consent period is: every message needs it
(:func:`portal.policy.can_send_in_conversation`). Each opt-in records the consent wording the HCP
agreed to; each change is audited in its own transaction and told to both participants after
commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from chat import presence
from chat.conversations import emit, get_conversation, room, user_room
from chat.models import ConsentPeriod, Conversation, ConversationState, Invitation, InvitationStatus
from portal import audit, policy, webhooks
from portal.accounts import contact_rule
from portal.accounts.models import ContactChannel, ContactKind
from portal.errors import Conflict, InvalidInput
from portal.extensions import db
from portal.models import User, utcnow
from portal.pagination import Page, paginate
from portal.realtime import call_after_commit
from portal.safety import attestations
from portal.services import notifications
from portal.services.consent import current_wording
from portal.services.coverage import field_team_for
from portal.unit_of_work import transactional

CONSENT_PURPOSE = "chat"


@dataclasses.dataclass(frozen=True)
class TeamMember:
    user: User
    conversation: Conversation | None
    invitation: Invitation | None


def my_team(hcp: User) -> list[TeamMember]:
    """The reps and MSLs covering the HCP's territory, with any conversation or pending
    invitation between them."""
    return [
        TeamMember(staff, _conversation_between(hcp.id, staff.id), _pending(hcp.id, staff.id))
        for staff in field_team_for(hcp)
    ]


def _conversation_between(hcp_id: int, staff_id: int) -> Conversation | None:
    return db.session.scalar(
        select(Conversation).where(Conversation.hcp_id == hcp_id, Conversation.staff_id == staff_id)
    )


def _pending(hcp_id: int, staff_id: int) -> Invitation | None:
    return db.session.scalar(
        select(Invitation).where(
            Invitation.hcp_id == hcp_id,
            Invitation.staff_id == staff_id,
            Invitation.status == InvitationStatus.PENDING,
        )
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


# --- opting in -----------------------------------------------------------------------------------
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
    webhooks.publish(
        webhooks.WebhookEvent.CONSENT_GIVEN,
        {
            "conversation_id": conversation.id,
            "consent_id": consent.id,
            "hcp_id": hcp.id,
            "staff_id": staff.id,
            "given_at": now,
            "via": via,
        },
        side=policy.side_of(staff.role),
    )
    state = {"conversation_id": conversation.id, "state": "active"}
    emit("conversation_started", state, user_room(staff.id))
    emit("conversation_started", state, user_room(hcp.id))
    return conversation


@transactional
def start_chat(hcp: User, staff_id: int, *, wording_id: Any) -> Conversation:
    """The HCP opts in to chat with a rep or MSL of their territory, agreeing to the current
    consent wording. Opting in again after ending opens a new consent period in the same
    history; a pending invitation from that colleague counts as accepted. A refusal keeps
    nothing (the invitation stays pending). Audit: ``chat.consent_given``. Events:
    ``conversation_started`` to both participants."""
    staff = db.session.get(User, staff_id)
    policy.require_visible(staff is not None and policy.can_chat_with(hcp, staff), "That colleague")
    assert staff is not None
    pending = _pending(hcp.id, staff.id)
    if pending is not None:
        pending.status = InvitationStatus.ACCEPTED
        pending.decided_at = utcnow()
    return _opt_in(
        hcp, staff, wording_id=wording_id, via="hcp_started",
        conversation=_conversation_between(hcp.id, staff.id),
    )  # fmt: skip


INVITABLE_PAGE_SIZE = 50


def invitable_hcps(staff: User, *, name: str = "", page: int = 1) -> Page[User]:
    """Verified HCPs of the staff member's territories (whom they may invite), by name, one page
    at a time (a territory holds thousands); ``name`` keeps those whose name contains it."""
    from portal.models import HcpProfile, Verification

    territory_ids = [t.id for t in staff.territories]
    if not territory_ids or staff.role not in policy.FIELD_ROLES:
        return Page(items=[], page=1, pages=1, total=0)
    where = [
        HcpProfile.territory_id.in_(territory_ids),
        HcpProfile.verification == Verification.VERIFIED,
        User.suspended.is_(False),
    ]
    if name.strip():
        where.append(User.name.icontains(name.strip()[:100], autoescape=True))
    return paginate(
        select(User)
        .join(HcpProfile, HcpProfile.user_id == User.id)
        .options(contains_eager(User.hcp_profile))
        .where(*where)
        .order_by(User.name, User.id),
        page=page,
        page_size=INVITABLE_PAGE_SIZE,
    )


@transactional
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
    if _pending(hcp.id, staff.id) is not None:
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
    # An invitation is an unsolicited contact: the HCP's channels, quiet hours, pause, the
    # company's gap between contacts and their cap decide (raises ContactRefused, naming why).
    contact_rule.claim(
        staff, hcp, ContactChannel.CHAT, kind=ContactKind.CHAT_INVITATION,
        subject="chat_invitation", subject_id=invitation.id, at=now,
    )  # fmt: skip
    audit.record(staff, "chat.invited", invitation, hcp=hcp.id)
    notifications.notify(
        [hcp], kind="chat_invitation",
        title=lazy_gettext("%(name)s invited you to chat", name=staff.name),
        endpoint="chat.team",
    )  # fmt: skip
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


@transactional
def accept_invitation(hcp: User, invitation_id: int, *, wording_id: Any) -> Conversation:
    """The HCP accepts an invitation: that is their opt-in, with the wording they saw. A refusal
    keeps the invitation pending and its acceptance unaudited.
    Audit: ``chat.invitation_accepted`` and ``chat.consent_given``."""
    invitation = _my_invitation(hcp, invitation_id)
    staff = invitation.staff
    policy.require(policy.can_chat_with(hcp, staff), "This colleague no longer covers you.")
    invitation.status = InvitationStatus.ACCEPTED
    invitation.decided_at = utcnow()
    audit.record(hcp, "chat.invitation_accepted", invitation)
    return _opt_in(
        hcp, staff, wording_id=wording_id, via="invitation",
        conversation=_conversation_between(hcp.id, staff.id),
    )  # fmt: skip


@transactional
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
    return invitation


# --- ending --------------------------------------------------------------------------------------
@transactional
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
    webhooks.publish(
        webhooks.WebhookEvent.CONSENT_WITHDRAWN,
        {
            "conversation_id": conversation.id,
            "hcp_id": conversation.hcp_id,
            "staff_id": conversation.staff_id,
            "withdrawn_at": now,
            "via": via,
        },
        side=policy.side_of(conversation.staff.role),
    )
    attestations.ask_for_attestation(conversation)
    ended = {"conversation_id": conversation.id}
    emit("conversation_ended", ended, user_room(conversation.staff_id))
    emit("conversation_ended", ended, user_room(conversation.hcp_id))
    staff_id, conversation_room = conversation.staff_id, room(conversation.id)
    call_after_commit(
        db.session(), lambda: presence.remove_user_from_room(staff_id, conversation_room)
    )
    return conversation


@transactional
def end_all_chats(hcp: User) -> int:
    """ "End every chat" from the HCP's settings, all in one unit of work; returns how many were
    ended. Audit: ``chat.consent_withdrawn`` for each."""
    active = db.session.scalars(
        select(Conversation.id).where(
            Conversation.hcp_id == hcp.id, Conversation.state == ConversationState.ACTIVE
        )
    ).all()
    for conversation_id in active:
        end_chat(hcp, conversation_id, via="settings")
    return len(active)
