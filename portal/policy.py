"""Every permission decision, in one place.

Functions here are pure: they look at the actor and the object and answer. ``can_*`` returns a
bool; ``require`` turns a refusal into :class:`~portal.errors.PermissionDenied` (or
:class:`~portal.errors.NotFound` where the object must stay invisible). Administrators get no
bypass: they pass where a rule names them.
"""

from __future__ import annotations

from typing import Any

from portal.errors import NotFound, PermissionDenied
from portal.models.reference import Role, Side, Verification

SIDE_OF_ROLE: dict[Role, Side] = {
    Role.HCP: Side.OUTSIDE,
    Role.REP: Side.COMMERCIAL,
    Role.MARKET_ACCESS: Side.COMMERCIAL,
    Role.MSL: Side.MEDICAL,
    Role.MEDICAL_INFORMATION: Side.MEDICAL,
    Role.PHARMACOVIGILANCE: Side.MEDICAL,
    Role.QUALITY: Side.MEDICAL,
    Role.CONTENT_MANAGER: Side.NEUTRAL,
    Role.MLR_REVIEWER: Side.NEUTRAL,
    Role.COMPLIANCE: Side.NEUTRAL,
    Role.ADMIN: Side.NEUTRAL,
}

# Roles that talk to HCPs on the company's behalf (chat, answers) and cover territories.
FIELD_ROLES = frozenset({Role.REP, Role.MSL})
TERRITORY_ROLES = frozenset({Role.REP, Role.MARKET_ACCESS, Role.MSL})


def works_by_territory(actor: Any) -> bool:
    """Reps, market access and MSLs cover territories and products; others work company-wide."""
    return _role(actor) in TERRITORY_ROLES


def side_of(role: Role) -> Side:
    """Which side of the commercial/medical firewall ``role`` works on."""
    return SIDE_OF_ROLE[role]


def _role(actor: Any) -> Role | None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    role: Role = actor.role
    return role


def _active(actor: Any) -> bool:
    return _role(actor) is not None and not actor.suspended


def is_staff(actor: Any) -> bool:
    role = _role(actor)
    return role is not None and role is not Role.HCP


def is_medical(actor: Any) -> bool:
    role = _role(actor)
    return role is not None and side_of(role) is Side.MEDICAL


def is_commercial(actor: Any) -> bool:
    role = _role(actor)
    return role is not None and side_of(role) is Side.COMMERCIAL


def is_read_only(actor: Any) -> bool:
    """Compliance auditors see everything and change nothing."""
    return _role(actor) is Role.COMPLIANCE


def can_view_side(actor: Any, side: Side) -> bool:
    """May ``actor`` read records produced on ``side`` of the firewall (notes, interactions)?

    Commercial roles never see medical records; medical roles may see commercial ones; compliance
    sees everything; records of neutral functions are visible to all staff.
    """
    role = _role(actor)
    if role is None or not is_staff(actor):
        return False
    if role is Role.COMPLIANCE:
        return True
    return side_reads_side(side_of(role), side)


def side_reads_side(reader: Side, side: Side) -> bool:
    """May someone working on ``reader``'s side read records produced on ``side``? Medical
    records stay on the medical side; commercial records may be read by both sides; records of
    neutral functions by all staff. (The rule of :func:`can_view_side`, by side alone.)"""
    if side is Side.MEDICAL:
        return reader is Side.MEDICAL
    if side is Side.COMMERCIAL:
        return reader in (Side.COMMERCIAL, Side.MEDICAL)
    return True


def can_see_professional_content(actor: Any) -> bool:
    """Verified HCPs and staff see professional content; pending or rejected HCPs do not."""
    role = _role(actor)
    if role is None or not _active(actor):
        return False
    if role is Role.HCP:
        profile = actor.hcp_profile
        return profile is not None and profile.verification is Verification.VERIFIED
    return True


def can_administer(actor: Any) -> bool:
    """May ``actor`` open the administration pages at all?"""
    return _role(actor) is Role.ADMIN and _active(actor)


def can_view_users(actor: Any) -> bool:
    """Administrators manage accounts; compliance auditors may look, read-only."""
    return _role(actor) in (Role.ADMIN, Role.COMPLIANCE) and _active(actor)


def can_verify_hcp(actor: Any, hcp: Any) -> bool:
    """An administrator may verify or reject an HCP whose verification is pending."""
    return (
        can_administer(actor)
        and hcp is not None
        and hcp.role is Role.HCP
        and hcp.hcp_profile is not None
        and hcp.hcp_profile.verification is Verification.PENDING
    )


def can_create_staff(actor: Any) -> bool:
    return can_administer(actor)


def can_edit_staff(actor: Any, target: Any) -> bool:
    """Roles, teams, territories and products of staff are set by administrators.

    Nobody changes their own role: an administrator cannot lock themselves out or grant
    themselves another role unnoticed.
    """
    return (
        can_administer(actor)
        and target is not None
        and target.role is not Role.HCP
        and target.id != actor.id
    )


def can_suspend_user(actor: Any, target: Any) -> bool:
    """Administrators suspend and reactivate accounts, never their own."""
    return can_administer(actor) and target is not None and target.id != actor.id


def can_manage_sign_in(actor: Any, target: Any) -> bool:
    """Administrators end a colleague's sessions and reset their two-factor enrolment, never
    their own (everyone manages their own sessions from their sessions page)."""
    return can_suspend_user(actor, target)


def can_turn_off_two_factor(actor: Any, *, staff_must_enrol: bool) -> bool:
    """Someone turns off their own second factor: an HCP, who chose to turn it on. Staff may
    not while every staff role must enrol (``TWO_FACTOR_REQUIRED``, passed as
    ``staff_must_enrol``); a lost phone is an administrator's reset (:func:`can_manage_sign_in`).
    """
    return _active(actor) and (_role(actor) is Role.HCP or not staff_must_enrol)


def can_view_audit_trail(actor: Any) -> bool:
    return _role(actor) in (Role.COMPLIANCE, Role.ADMIN) and _active(actor)


def require(allowed: bool, message: str = "You are not allowed to do that.") -> None:
    """Raise :class:`PermissionDenied` unless ``allowed``."""
    if not allowed:
        raise PermissionDenied(message)


def require_visible(allowed: bool, what: str = "That page") -> None:
    """Raise :class:`NotFound` unless ``allowed``: objects one may not see do not exist for them."""
    if not allowed:
        raise NotFound(f"{what} was not found.")


# --- Content library (materials) ------------------------------------------------------------
# Materials are duck-typed here (``status``, ``classification``, ``author_id``, dates, audience)
# so the core does not depend on the content package.

LIBRARY_MANAGERS = frozenset({Role.CONTENT_MANAGER, Role.MLR_REVIEWER, Role.COMPLIANCE})


def audience_matches(profile: Any, material: Any) -> bool:
    """Is ``material`` meant for this HCP profile? An empty audience list means everyone."""
    if profile is None:
        return False
    return (
        (not material.professions or profile.profession.value in material.professions)
        and (not material.specialties or profile.specialty in material.specialties)
        and (not material.countries or profile.country in material.countries)
    )


def can_manage_library(actor: Any) -> bool:
    """Content managers, MLR reviewers and compliance see every material in every state."""
    return _role(actor) in LIBRARY_MANAGERS and _active(actor)


def can_view_material(actor: Any, material: Any, now: Any) -> bool:
    """May ``actor`` open ``material`` now?

    HCPs: verified, the material published and in date, and meant for their profession,
    specialty and country. Managers of the library: any state. Medical staff: published material.
    Commercial staff: published promotional material only (they may not share the rest).
    """
    role = _role(actor)
    if role is None or not _active(actor):
        return False
    if can_manage_library(actor):
        return True
    if not material.is_live_at(now):
        return False
    if role is Role.HCP:
        return can_see_professional_content(actor) and audience_matches(actor.hcp_profile, material)
    if is_commercial(actor):
        return str(material.classification) == "promotional"
    return is_medical(actor)


def can_browse_library(actor: Any) -> bool:
    """Verified HCPs, medical and commercial staff and library managers have a library."""
    if not can_see_professional_content(actor):
        return False
    return (
        _role(actor) is Role.HCP
        or is_medical(actor)
        or is_commercial(actor)
        or can_manage_library(actor)
    )


def can_author_material(actor: Any) -> bool:
    return _role(actor) is Role.CONTENT_MANAGER and _active(actor)


def can_edit_material(actor: Any, material: Any) -> bool:
    """Only drafts can change; an approved version is never edited (make a new version)."""
    return can_author_material(actor) and str(material.status) == "draft"


def can_submit_material(actor: Any, material: Any) -> bool:
    return can_edit_material(actor, material)


def can_review_material(actor: Any, material: Any) -> bool:
    """An MLR reviewer who is not the author may decide on a version in review (return it to
    draft at any time)."""
    return (
        _role(actor) is Role.MLR_REVIEWER
        and _active(actor)
        and str(material.status) == "in_review"
        and material.author_id != actor.id
    )


def can_approve_material(actor: Any, material: Any, now: Any) -> bool:
    """Approval also needs a version that has not already expired."""
    return can_review_material(actor, material) and material.expires_at > now


def can_withdraw_material(actor: Any, material: Any) -> bool:
    return (
        _role(actor) in (Role.CONTENT_MANAGER, Role.MLR_REVIEWER)
        and _active(actor)
        and str(material.status) == "approved"
    )


def can_version_material(actor: Any, material: Any) -> bool:
    """A new version starts from an approved one (published, scheduled or expired)."""
    return can_author_material(actor) and str(material.status) == "approved"


# --- Sharing material with an HCP --------------------------------------------------------------
# A material reaches an HCP through a colleague (a chat card, an attachment to an answer) only
# when both halves hold: the colleague may share it, and the HCP may see it exactly as the library
# shows it to them. ``content.services.shareable_clause`` is the same rule in SQL.


def _team_product_ids(actor: Any) -> set[int]:
    return {
        product.id
        for membership in actor.memberships
        for colleague in membership.team.memberships
        for product in colleague.user.products
    }


def covered_product_ids(actor: Any) -> frozenset[int] | None:
    """The products whose material ``actor`` may share; ``None`` means every product.

    Reps and market access: the products assigned to them, nothing else (a rep with none
    promotes nothing). Medical roles: theirs and their teams' (a colleague answers for a
    teammate's product). A company-wide medical team (Medical Information, Pharmacovigilance,
    Quality) none of whose members has a product assigned answers for the whole portfolio.
    Everyone else: none.
    """
    if not _active(actor) or not (is_medical(actor) or is_commercial(actor)):
        return frozenset()
    own = {product.id for product in actor.products}
    if is_commercial(actor):
        return frozenset(own)
    covered = own | _team_product_ids(actor)
    if not covered and not works_by_territory(actor):
        return None
    return frozenset(covered)


def can_share_material(actor: Any, material: Any, now: Any) -> bool:
    """The colleague's half of sharing: may ``actor`` hand ``material`` to anyone at all?

    Published, in date material only; of a product they cover (:func:`covered_product_ids`);
    promotional material by commercial roles, anything by medical roles (off-label rule:
    medical/scientific material is medical's, never the commercial side's).
    """
    if not material.is_live_at(now) or not _active(actor):
        return False
    if not (
        is_medical(actor)
        or (is_commercial(actor) and str(material.classification) == "promotional")
    ):
        return False
    covered = covered_product_ids(actor)
    return covered is None or material.product_id in covered


def can_share_material_with(staff: Any, material: Any, hcp: Any, now: Any) -> bool:
    """May ``staff`` share ``material`` with ``hcp`` now (a chat card, an answer's attachment)?

    Both halves: ``staff`` may share it (:func:`can_share_material`: their products, their side's
    classification, published and in date) and ``hcp`` may see it (:func:`can_view_material`:
    verified, and the material meant for their profession, specialty and country). Off-audience
    promotion is a regulatory breach, so every list that offers a material and every service
    that accepts one asks this.
    """
    return (
        is_staff(staff)
        and can_share_material(staff, material, now)
        and _role(hcp) is Role.HCP
        and can_view_material(hcp, material, now)
    )


# --- Questions ---------------------------------------------------------------------------------
# Questions and PV cases are duck-typed too (``hcp_id``, ``owner_team``, ``category``, ...).

QUESTION_ROLES = frozenset(
    {
        Role.MEDICAL_INFORMATION,
        Role.MSL,
        Role.REP,
        Role.MARKET_ACCESS,
        Role.PHARMACOVIGILANCE,
        Role.QUALITY,
    }
)
COMMERCIAL_QUEUE_TEAMS = frozenset({"sales", "market_access"})


def _team_keys(actor: Any) -> set[str]:
    return {str(m.team.key) for m in actor.memberships}


def can_ask_question(actor: Any) -> bool:
    """Verified HCPs ask questions; pending or rejected ones cannot yet."""
    return _role(actor) is Role.HCP and can_see_professional_content(actor)


def can_view_question_queue(actor: Any) -> bool:
    """Staff of the answering teams work queues; compliance reads them all."""
    return _active(actor) and _role(actor) in (QUESTION_ROLES | {Role.COMPLIANCE})


def _is_medical_question(question: Any) -> bool:
    # A question moved to medical because a follow-up brought medical content stays medical: its
    # thread now holds words the commercial side must never read.
    return bool(
        question.category.is_medical
        or question.off_label_flag
        or getattr(question, "moved_to_medical", False)
    )


def can_view_question(actor: Any, question: Any) -> bool:
    """Who may open a question at all (everyone else gets 404).

    The HCP who asked; compliance; medical staff of the answering teams (medical may see
    commercial interactions); commercial staff only for a commercial question their own team
    owns, never a medical or off-label one (the firewall); and whoever it is assigned to.
    """
    role = _role(actor)
    if role is None or not _active(actor):
        return False
    if role is Role.HCP:
        return bool(question.hcp_id == actor.id)
    if role is Role.COMPLIANCE:
        return True
    if role not in QUESTION_ROLES:
        return False
    if is_medical(actor):
        return True
    return (
        str(question.owner_team) in COMMERCIAL_QUEUE_TEAMS
        and not _is_medical_question(question)
        and (str(question.owner_team) in _team_keys(actor) or question.assignee_id == actor.id)
    )


def can_work_question(actor: Any, question: Any) -> bool:
    """Claim, reply, reassign, escalate, close: a member of the owning team (or the assignee),
    while the question is not closed. Compliance only reads."""
    return (
        can_view_question(actor, question)
        and is_staff(actor)
        and not is_read_only(actor)
        and str(question.status) != "closed"
        and (str(question.owner_team) in _team_keys(actor) or question.assignee_id == actor.id)
    )


def can_claim_question(actor: Any, question: Any) -> bool:
    return can_work_question(actor, question) and question.assignee_id != actor.id


def can_add_question_note(actor: Any, question: Any) -> bool:
    """Any answering-team staff who can see the question may leave an internal note."""
    return (
        can_view_question(actor, question)
        and _role(actor) in QUESTION_ROLES
        and str(question.status) != "closed"
    )


def can_view_question_note(actor: Any, note: Any) -> bool:
    """Internal notes stay on their writer's side of the firewall (compliance reads all)."""
    role = _role(actor)
    if role is None or not is_staff(actor):
        return False
    return role is Role.COMPLIANCE or side_of(role) is note.side


def can_reassign_question(actor: Any, question: Any, to_team: Any) -> bool:
    """To another answering team; medical and off-label questions never to a commercial one."""
    if not can_work_question(actor, question) or str(to_team) == str(question.owner_team):
        return False
    return not (str(to_team) in COMMERCIAL_QUEUE_TEAMS and _is_medical_question(question))


def can_escalate_question(actor: Any, question: Any) -> bool:
    return can_work_question(actor, question) and question.escalated_at is None


def can_close_question(actor: Any, question: Any) -> bool:
    """The HCP may close their own question; the owning team may close it once handled."""
    if str(question.status) == "closed":
        return False
    if _role(actor) is Role.HCP:
        return can_view_question(actor, question)
    return can_work_question(actor, question)


def can_view_question_move(actor: Any, *, from_team: Any, from_assignee_id: int | None) -> bool:
    """Whether ``actor`` keeps a trace of a question the routing engine moved away from a team:
    its members and whoever had it assigned. The trace is the reference, the date and where it
    went, never the text (the firewall decides whether they may still open the question)."""
    return (
        is_staff(actor)
        and _active(actor)
        and (str(from_team) in _team_keys(actor) or from_assignee_id == actor.id)
    )


def can_follow_up_question(actor: Any, question: Any) -> bool:
    """The HCP adds to their question until it is closed."""
    return (
        _role(actor) is Role.HCP
        and can_view_question(actor, question)
        and str(question.status) != "closed"
    )


def can_rate_answer(actor: Any, question: Any) -> bool:
    """ "Was this helpful?" once there is an answer."""
    return (
        _role(actor) is Role.HCP
        and can_view_question(actor, question)
        and question.answered_at is not None
    )


# --- Safety: attestations and colleagues' reports ----------------------------------------------
# Automatic detection is a safety net, not the control: the people who read an HCP's words close
# the loop (PRODUCT.md, Adverse events).


def must_attest_question(actor: Any) -> bool:
    """Staff who answer or close a question attest whether it held an adverse event or a product
    complaint; the HCP closing their own question does not (they are not the company)."""
    return is_staff(actor)


def can_report_to_pv(actor: Any) -> bool:
    """Anyone of the company who reads an HCP's words may report them to Pharmacovigilance at
    once. Not the HCP (they ask a question instead), and not compliance, who changes nothing."""
    return _active(actor) and is_staff(actor) and not is_read_only(actor)


def can_report_question_to_pv(actor: Any, question: Any) -> bool:
    """The question's words, for staff who may read the question (the firewall holds: a rep
    reports only the commercial questions they can open)."""
    return can_report_to_pv(actor) and can_view_question(actor, question)


def can_report_question_entry_to_pv(actor: Any, question: Any, entry: Any) -> bool:
    """A follow-up or reply of a question one may report, or an internal note one may read."""
    if not can_report_question_to_pv(actor, question) or entry.question_id != question.id:
        return False
    return str(entry.kind) != "note" or can_view_question_note(actor, entry)


def can_report_chat_message_to_pv(actor: Any, conversation: Any) -> bool:
    """The staff participant of a chat reports its messages; nobody else reads them but
    compliance, who only reviews."""
    return can_report_to_pv(actor) and takes_part_in_conversation(actor, conversation)


def can_attest_conversation(actor: Any, conversation: Any) -> bool:
    """The staff participant attests for the chat's messages (when it ends, and periodically
    while it stays open); the HCP and compliance do not."""
    return (
        _active(actor)
        and is_staff(actor)
        and not is_read_only(actor)
        and actor.id == conversation.staff_id
    )


def can_view_conversation_attestations(actor: Any, conversation: Any) -> bool:
    """A chat's attestations: compliance (in its review) and the staff participant."""
    return is_staff(actor) and can_view_conversation(actor, conversation)


def can_view_question_attestations(actor: Any, question: Any) -> bool:
    """Who attested what, when: staff who may open the question (compliance included)."""
    return is_staff(actor) and can_view_question(actor, question)


def can_view_pv_cases(actor: Any) -> bool:
    """PV cases are Pharmacovigilance's; compliance reads them. Nobody else, firewall or not."""
    return _active(actor) and _role(actor) in (Role.PHARMACOVIGILANCE, Role.COMPLIANCE)


def can_work_pv_case(actor: Any, case: Any) -> bool:
    return (
        _active(actor) and _role(actor) is Role.PHARMACOVIGILANCE and str(case.status) != "closed"
    )


def can_export_pv_cases(actor: Any) -> bool:
    """The E2B-style case export is for those who read cases: Pharmacovigilance and compliance."""
    return can_view_pv_cases(actor)


def can_ask_pv_follow_up(actor: Any, case: Any) -> bool:
    """PV asks the reporting HCP for what a report lacks, through the portal, while it works the
    case. Only an HCP reporter can be asked (a colleague who wrote the words is asked in person)."""
    reporter = case.reporter_user
    return (
        can_work_pv_case(actor, case)
        and reporter is not None
        and _role(reporter) is Role.HCP
        and not reporter.suspended
    )


def can_receive_pv_follow_ups(actor: Any) -> bool:
    """PV's follow-up questions go to HCPs, who answer them in the portal."""
    return _role(actor) is Role.HCP and _active(actor)


def can_view_pv_follow_up(actor: Any, follow_up: Any) -> bool:
    """An HCP sees the questions PV asked *them*, and nothing else of the case (not its reasons,
    notes or other follow-ups). PV and compliance read follow-ups on the case itself."""
    return can_receive_pv_follow_ups(actor) and actor.id == follow_up.hcp_id


def can_answer_pv_follow_up(actor: Any, follow_up: Any) -> bool:
    """Once: an answer is a record and is never edited."""
    return can_view_pv_follow_up(actor, follow_up) and follow_up.answered_at is None


def can_know_pv_case_reference(actor: Any, conversation: Any) -> bool:
    """Who may learn that a chat message went to PV, and under which reference (not the case
    itself): the staff participant of the conversation, so they know it is reported, and those
    who read cases. The HCP is not told: detection is the company's internal safety net."""
    if can_view_pv_cases(actor):
        return True
    return is_staff(actor) and _active(actor) and actor.id == conversation.staff_id


def can_read_chat_transcript(actor: Any, conversation: Any, *, holds_pv_case: bool) -> bool:
    """The review transcript (every message, with the originals of edits and deletions).

    Compliance reads every conversation. Pharmacovigilance reads, read-only, a conversation in
    which a PV case was opened (``holds_pv_case``): what was said around the event is part of the
    report. Nobody else, participants included (they have the chat page)."""
    if can_review_chats(actor):
        return True
    return holds_pv_case and _active(actor) and _role(actor) is Role.PHARMACOVIGILANCE


def can_manage_routing(actor: Any) -> bool:
    """Administrators edit routing rules, SLAs, holidays and label facts."""
    return can_administer(actor)


def can_view_routing(actor: Any) -> bool:
    """Compliance may read the routing set-up."""
    return _active(actor) and _role(actor) in (Role.ADMIN, Role.COMPLIANCE)


# --- Chat ----------------------------------------------------------------------------------------
# Conversations are duck-typed (``hcp_id``, ``staff_id``, ``state``).


def can_chat_with(hcp: Any, staff: Any) -> bool:
    """A verified HCP may opt in to chat with an active rep or MSL who covers their territory."""
    if not can_see_professional_content(hcp) or _role(hcp) is not Role.HCP:
        return False
    if staff is None or _role(staff) not in FIELD_ROLES or staff.suspended:
        return False
    territory = hcp.hcp_profile.territory if hcp.hcp_profile else None
    return territory is not None and any(t.id == territory.id for t in staff.territories)


def can_invite_to_chat(staff: Any, hcp: Any) -> bool:
    """Reps and MSLs invite the HCPs of their own territories (the HCP still has to opt in)."""
    return _active(staff) and can_chat_with(hcp, staff)


def can_view_conversation(actor: Any, conversation: Any) -> bool:
    """The two participants, and compliance (read-only). Nobody else, not even by id: reps and
    MSLs never see each other's conversations."""
    role = _role(actor)
    if role is None or not _active(actor):
        return False
    if role is Role.COMPLIANCE:
        return True
    return actor.id in (conversation.hcp_id, conversation.staff_id)


def takes_part_in_conversation(actor: Any, conversation: Any) -> bool:
    """The HCP and the staff member of a conversation take part in it (send, receipts, live
    room); compliance may read it, in the review pages, but never takes part."""
    return _active(actor) and actor.id in (conversation.hcp_id, conversation.staff_id)


def can_send_in_conversation(actor: Any, conversation: Any) -> bool:
    """Participants send only while the HCP's consent is open (the conversation is active)."""
    return takes_part_in_conversation(actor, conversation) and str(conversation.state) == "active"


def can_end_conversation(actor: Any, conversation: Any) -> bool:
    """Only the HCP ends a chat, at any moment."""
    return (
        _role(actor) is Role.HCP
        and _active(actor)
        and actor.id == conversation.hcp_id
        and str(conversation.state) == "active"
    )


def can_share_in_chat(actor: Any, conversation: Any, material: Any, now: Any) -> bool:
    """Staff share, into their own active chat, material they may share with that HCP
    (:func:`can_share_material_with`)."""
    return (
        is_staff(actor)
        and can_send_in_conversation(actor, conversation)
        and actor.id == conversation.staff_id
        and can_share_material_with(actor, material, conversation.hcp, now)
    )


def screens_restricted_phrases(sender: Any) -> bool:
    """Whose chat messages are screened for restricted phrases (promotional superlatives,
    unapproved claims): staff, who speak for the company, and only they. An HCP's words are
    never blocked. Applies to what they write (messages and edits), not to an approved
    material they share."""
    return is_staff(sender)


def can_review_chats(actor: Any) -> bool:
    """Compliance auditors read every conversation, with the originals of edits and deletions."""
    return _role(actor) is Role.COMPLIANCE and _active(actor)


def can_manage_restricted_phrases(actor: Any) -> bool:
    return can_administer(actor)


def can_use_chat(actor: Any) -> bool:
    """Chat is for verified HCPs and the reps and MSLs who talk with them."""
    role = _role(actor)
    return (
        (role is Role.HCP or role in FIELD_ROLES)
        and _active(actor)
        and can_see_professional_content(actor)
    )


def can_view_restricted_phrases(actor: Any) -> bool:
    """Administrators maintain the list; compliance reads it."""
    return can_manage_restricted_phrases(actor) or can_review_chats(actor)


# --- The account team: the HCP record, contact and outreach --------------------------------------
# HCPs are duck-typed users (``role``, ``hcp_profile.territory``); notes, shares and meetings carry
# ``side`` (the writer's side of the firewall), ``hcp_id`` and ``staff_id``/``author_id``.

# Company-wide medical teams: they answer any HCP, so they may read any HCP's record.
COMPANY_WIDE_MEDICAL = frozenset({Role.MEDICAL_INFORMATION, Role.PHARMACOVIGILANCE, Role.QUALITY})
# Who records interactions with HCPs and reaches out to them.
CONTACT_ROLES = frozenset({Role.REP, Role.MARKET_ACCESS, Role.MSL})


def _covers_hcp(actor: Any, hcp: Any) -> bool:
    """Whether a territory role covers ``hcp``'s territory."""
    profile = getattr(hcp, "hcp_profile", None)
    territory = profile.territory if profile is not None else None
    return territory is not None and any(t.id == territory.id for t in actor.territories)


def can_view_hcp_record(actor: Any, hcp: Any) -> bool:
    """Who may open an HCP's page (``/hcps/<id>``) and its timeline (everyone else: 404).

    Reps, market access and MSLs: the HCPs of their territories. Medical Information,
    Pharmacovigilance and Quality: any HCP (they answer the whole company's). Compliance: any,
    read-only. Nobody else, and never an HCP (not even about themselves: their own account
    page shows them what we hold). What each viewer sees on it is :func:`can_view_side`'s.
    """
    role = _role(actor)
    if role is None or not _active(actor) or _role(hcp) is not Role.HCP:
        return False
    if role is Role.COMPLIANCE or role in COMPANY_WIDE_MEDICAL:
        return True
    return role in CONTACT_ROLES and _covers_hcp(actor, hcp)


def can_view_hcp_roster(actor: Any) -> bool:
    """Reps, market access and MSLs list their territories' HCPs (``/hcps/``)."""
    return _active(actor) and _role(actor) in CONTACT_ROLES


def can_contact_hcp(actor: Any, hcp: Any) -> bool:
    """Reps, market access and MSLs reach out (share, propose a meeting, invite, log a call) to
    the verified HCPs of their territories. Whether *now*, by *this* channel, is the contact
    rule's question (:mod:`portal.accounts.contact_rule`)."""
    return (
        _role(actor) in CONTACT_ROLES
        and _active(actor)
        and can_see_professional_content(hcp)
        and can_view_hcp_record(actor, hcp)
    )


def can_write_call_note(actor: Any, hcp: Any) -> bool:
    """Those who talk to HCPs record their interactions: reps, market access and MSLs for the
    HCPs of their territories, Medical Information for any HCP. Compliance only reads."""
    role = _role(actor)
    if not _active(actor) or _role(hcp) is not Role.HCP:
        return False
    if role is Role.MEDICAL_INFORMATION:
        return True
    return role in CONTACT_ROLES and can_view_hcp_record(actor, hcp)


def can_view_side_record(actor: Any, record: Any) -> bool:
    """A call note, share, meeting, plan note or contact in full (its text, its author's name):
    viewers on its side of the firewall or allowed to read that side (:func:`can_view_side`).
    Others learn only that it exists, with its team and date."""
    return can_view_side(actor, record.side)


def can_read_question_on_record(actor: Any, question: Any) -> bool:
    """The text of an HCP's question on their record: medical questions (and any moved to
    medical) for medical roles and compliance only; commercial ones for commercial and medical
    roles too. A rep learns of a medical question only that it exists, its team and date."""
    role = _role(actor)
    if role is None or not is_staff(actor) or not _active(actor):
        return False
    if role is Role.COMPLIANCE or is_medical(actor):
        return True
    return is_commercial(actor) and not _is_medical_question(question)


def can_read_chat_on_record(actor: Any, conversation: Any) -> bool:
    """A chat's content on an HCP's record: its staff participant, and compliance (read-only).
    Everyone else who may open the record sees that the chat exists and its dates."""
    role = _role(actor)
    if role is None or not _active(actor):
        return False
    return role is Role.COMPLIANCE or actor.id == conversation.staff_id


def can_request_meeting(hcp: Any, staff: Any) -> bool:
    """An HCP asks a rep or MSL of their territory for a call or visit (their own contact:
    never blocked by the contact rule)."""
    return can_chat_with(hcp, staff)


def can_answer_meeting(actor: Any, meeting: Any) -> bool:
    """The party who did not ask accepts or declines, while the request waits."""
    return (
        _active(actor)
        and str(meeting.state) == "requested"
        and actor.id in (meeting.hcp_id, meeting.staff_id)
        and actor.id != meeting.requested_by_id
    )


def can_cancel_meeting(actor: Any, meeting: Any) -> bool:
    """Either party cancels a meeting that is waiting or accepted."""
    return (
        _active(actor)
        and str(meeting.state) in ("requested", "accepted")
        and actor.id in (meeting.hcp_id, meeting.staff_id)
    )


def can_set_contact_preferences(actor: Any, hcp: Any) -> bool:
    """The HCP sets their own terms (an administrator never does it for them)."""
    return _role(actor) is Role.HCP and _active(actor) and actor.id == hcp.id


def can_write_plan_note(actor: Any, hcp: Any) -> bool:
    """Who plans the next interaction with an HCP (``/hcps/<id>/plan``): whoever records
    interactions with them (:func:`can_write_call_note`: reps, market access and MSLs of the
    HCP's territory, Medical Information). Compliance reads plan notes, never writes one."""
    return can_write_call_note(actor, hcp)


# --- Call notes (portal.accounts.call_notes) ------------------------------------------------------
def records_inbound_only(actor: Any) -> bool:
    """Medical Information answers the HCPs who call it and never reaches out: every interaction
    it records was asked for by the HCP (never counted against their cap, never refused by the
    contact rule)."""
    return _role(actor) is Role.MEDICAL_INFORMATION


def can_view_call_note(actor: Any, note: Any) -> bool:
    """A call note in full (its text, its author): whoever may open the HCP's record and read
    its side of the firewall (a rep never reads an MSL's or Medical Information's notes; medical
    roles read the commercial side's; compliance reads all)."""
    return can_view_hcp_record(actor, note.hcp) and can_view_side_record(actor, note)


def can_complete_follow_up(actor: Any, note: Any) -> bool:
    """Only the note's author marks its follow-up done."""
    return _active(actor) and not is_read_only(actor) and actor.id == note.author_id


def can_ask_on_behalf(staff: Any, hcp: Any) -> bool:
    """Those who record interactions with an HCP (:func:`can_write_call_note`) file the medical
    questions the HCP asked them, for a verified HCP (who may ask questions themselves)."""
    return can_write_call_note(staff, hcp) and can_ask_question(hcp)


# --- Outreach: shared materials and meetings (portal.accounts.outreach) ---------------------------
def can_view_shared_with_me(actor: Any) -> bool:
    """A verified HCP reads the materials colleagues shared with them (``/outreach/shared``)."""
    return _role(actor) is Role.HCP and can_see_professional_content(actor)


def can_view_meetings(actor: Any) -> bool:
    """Who has a meetings page: verified HCPs (they ask their rep or MSL for a call) and the
    staff who meet HCPs (reps, market access, MSLs)."""
    if _role(actor) is Role.HCP:
        return can_see_professional_content(actor)
    return _active(actor) and _role(actor) in CONTACT_ROLES


def takes_part_in_meeting(actor: Any, meeting: Any) -> bool:
    """A meeting (its times, topic, calendar file) is its two participants' only: everyone else
    gets 404."""
    return _active(actor) and actor.id in (meeting.hcp_id, meeting.staff_id)


def can_acknowledge_share(actor: Any, share: Any) -> bool:
    """The colleague who shared a material marks the HCP's engagement with it seen (their
    worklist); nobody else."""
    return _active(actor) and is_staff(actor) and actor.id == share.staff_id


# --- The signed-in person's own account (portal.accounts.profile) --------------------------------
def can_rename_account(actor: Any, user: Any) -> bool:
    """Everyone signed in corrects their own name (HCP and staff alike); nobody renames another
    person here. Professional details and staff assignments are not theirs to change: those
    decide what content they see and are changed by re-verification or an administrator."""
    return _active(actor) and actor.id == user.id


# --- insight and integration ----------------------------------------------------------------------
def can_manage_api_tokens(actor: Any) -> bool:
    """Administrators create and revoke the integration clients' API tokens."""
    return can_administer(actor)


def can_view_api_tokens(actor: Any) -> bool:
    """Administrators see the API tokens' list; compliance auditors may look, read-only (names,
    scopes, use: never a secret, which nobody can see after its creation)."""
    return _active(actor) and _role(actor) in (Role.ADMIN, Role.COMPLIANCE)


def can_manage_webhooks(actor: Any) -> bool:
    """Administrators subscribe URLs to events and see the deliveries."""
    return can_administer(actor)


def can_view_webhooks(actor: Any) -> bool:
    """Administrators, and compliance read-only, see the subscriptions and their deliveries
    (never a subscription's secret: that is shown to the administrator who sets it)."""
    return _active(actor) and _role(actor) in (Role.ADMIN, Role.COMPLIANCE)


def question_side(question: Any) -> Side:
    """The side of the firewall a question belongs to: medical for a medical or off-label
    question (or one a follow-up made medical), commercial otherwise."""
    return Side.MEDICAL if _is_medical_question(question) else Side.COMMERCIAL


def webhook_receives(scopes: Any, event: str, side: Side | None = None) -> bool:
    """May a webhook subscription holding ``scopes`` (API scopes, as a token's) receive
    ``event``? The firewall of the API, for pushed events: ``pv_case.*`` with ``read:pv`` only;
    a question event with the scope of the question's ``side`` (``read:medical`` for a medical
    question, ``read:commercial`` for a commercial one); consent events with either read scope,
    or ``read:medical`` alone when the colleague is on the medical side;
    ``material.withdrawn`` (and the test ``ping``) with any scope."""
    from portal.api.models import ApiScope

    held = set(scopes)
    if event.startswith("pv_case."):
        return ApiScope.READ_PV in held
    if event.startswith("question."):
        wanted = ApiScope.READ_MEDICAL if side is Side.MEDICAL else ApiScope.READ_COMMERCIAL
        return side is not None and wanted in held
    if event.startswith("consent."):
        # The side of the colleague the HCP chats with: a chat with a medical colleague (who
        # they are, that it began or ended) reaches ``read:medical`` only, as the API names a
        # colleague only to a token reading their side; a commercial one either read scope.
        if side is Side.MEDICAL:
            return ApiScope.READ_MEDICAL in held
        return bool({ApiScope.READ_COMMERCIAL, ApiScope.READ_MEDICAL} & held)
    return True


def token_has_scope(token: Any, scope: Any) -> bool:
    """Does an active API token hold ``scope``?"""
    return token is not None and token.revoked_at is None and scope in token.scope_set


def token_sides(token: Any) -> frozenset[Side]:
    """Which sides of the firewall an API token reads: ``read:commercial`` the commercial side,
    ``read:medical`` the medical side. Scopes add up; neither implies the other (a CRM of the
    sales force gets ``read:commercial`` alone and never a medical record)."""
    from portal.api.models import ApiScope

    sides = set()
    if token_has_scope(token, ApiScope.READ_COMMERCIAL):
        sides.add(Side.COMMERCIAL)
    if token_has_scope(token, ApiScope.READ_MEDICAL):
        sides.add(Side.MEDICAL)
    return frozenset(sides)


def token_can_read_pv(token: Any) -> bool:
    """PV cases are read with ``read:pv`` only (no other scope implies it)."""
    from portal.api.models import ApiScope

    return token_has_scope(token, ApiScope.READ_PV)


def token_can_read_records(token: Any) -> bool:
    """HCPs, interactions and questions are read with ``read:commercial`` or ``read:medical``
    (what of them, :func:`token_can_view_side` and :func:`token_can_read_question` say)."""
    return bool(token_sides(token))


def token_can_read_materials(token: Any) -> bool:
    """Published materials are read with any read scope."""
    return bool(token_sides(token)) or token_can_read_pv(token)


def token_reads_medical_materials(token: Any) -> bool:
    """Medical/scientific materials, besides promotional ones: a token reading the medical side
    (``read:medical``, ``read:pv``), as medical roles see them; a ``read:commercial`` token
    alone sees what reps see, promotional material only."""
    return Side.MEDICAL in token_sides(token) or token_can_read_pv(token)


def token_can_view_side(token: Any, side: Side) -> bool:
    """Records produced on ``side`` of the firewall (call notes, shares, meetings, invitations,
    names of colleagues), in full, for an API token, as :func:`can_view_side` for staff:
    medical records with ``read:medical`` only; commercial ones with either read scope (the
    medical side may see commercial interactions); neutral ones with either."""
    sides = token_sides(token)
    if side is Side.MEDICAL:
        return Side.MEDICAL in sides
    return bool(sides)


def token_can_read_question(token: Any, question: Any) -> bool:
    """A question's text, category, product, routing and replies for an API token: any question
    with ``read:medical``; a commercial one (never medical, off-label or moved to medical) that a
    commercial team owns with ``read:commercial``. Otherwise only that it exists: its team,
    status and times."""
    sides = token_sides(token)
    if Side.MEDICAL in sides:
        return True
    # As for commercial staff (can_view_question): a commercial question their teams own. A
    # question of a commercial category that Medical Information owns (an HCP who chose no
    # category, a hand-over) holds medical colleagues' answers.
    return (
        Side.COMMERCIAL in sides
        and not _is_medical_question(question)
        and str(question.owner_team) in COMMERCIAL_QUEUE_TEAMS
    )


def token_can_read_chat(token: Any, conversation: Any) -> bool:
    """A chat's consent details on an HCP's record (who with, when granted and withdrawn; never
    its messages, which the API does not serve): a token that may read the staff member's side
    (:func:`token_can_view_side`)."""
    return token_can_view_side(token, side_of(conversation.staff.role))


def token_can_write_call_notes(token: Any) -> bool:
    """A CRM records call notes with ``write:interactions`` (for a staff author whom
    :func:`can_write_call_note` allows)."""
    from portal.api.models import ApiScope

    return token_has_scope(token, ApiScope.WRITE_INTERACTIONS)


def insight_sides(actor: Any) -> frozenset[Side]:
    """Which sides' figures ``actor`` sees on the insight dashboards: administrators and
    compliance see the whole company; a team lead sees their own side of the firewall only
    (a sales or market-access lead the commercial side, a medical team's lead the medical
    side). Everyone else sees no dashboard."""
    role = _role(actor)
    if role is None or not _active(actor):
        return frozenset()
    if role in (Role.ADMIN, Role.COMPLIANCE):
        return frozenset({Side.COMMERCIAL, Side.MEDICAL})
    if role is Role.HCP or not any(m.is_lead for m in actor.memberships):
        return frozenset()
    side = side_of(role)
    return frozenset({side}) if side in (Side.COMMERCIAL, Side.MEDICAL) else frozenset()


def can_view_insights(actor: Any) -> bool:
    """Administrators, compliance and team leads open ``/insights``."""
    return bool(insight_sides(actor))


def token_can_write_for(token: Any, author: Any) -> bool:
    """May a CRM's token record a note in ``author``'s name? A note belongs to its writer's
    side: a medical colleague's note (an MSL's visit, its safety attestation) is a medical
    record, written only by a client trusted with the medical side (``read:medical`` besides
    ``write:interactions``); a commercial colleague's by any client holding
    ``write:interactions``."""
    if not token_can_write_call_notes(token):
        return False
    return side_of(author.role) is not Side.MEDICAL or Side.MEDICAL in token_sides(token)


def insight_record_sides(viewer_sides: frozenset[Side]) -> frozenset[Side]:
    """Whose records a dashboard viewer who sees ``viewer_sides`` (:func:`insight_sides`) may
    have counted: records made on a side one of theirs may read (:func:`side_reads_side`: a
    medical lead's figures include commercial colleagues' chats and contacts; a commercial
    lead's never include medical ones)."""
    return frozenset(
        side
        for side in (Side.COMMERCIAL, Side.MEDICAL)
        if any(side_reads_side(mine, side) for mine in viewer_sides)
    )


# --- records and privacy -------------------------------------------------------------------------
# Supervisory exports
def can_run_supervisory_export(actor: Any) -> bool:
    """Compliance auditors run supervisory exports, see every run and download them.

    An export holds every side's records (medical conversations, MSL notes, PV cases): only
    the role that reads everything may take them out. Administrators manage people and rules,
    not records, so they are not among them (PRODUCT.md: compliance has "exports").
    """
    return _role(actor) is Role.COMPLIANCE and _active(actor)


# Data rights
def can_use_data_rights(actor: Any) -> bool:
    """An HCP (verified or not: a pending registration holds personal data too) downloads what
    the portal holds about them and asks to delete their account. Staff exercise their rights
    through the company (their records are the company's record of work), so the pages do not
    exist for them."""
    return _role(actor) is Role.HCP and _active(actor)


def can_erase_person(actor: Any, person: Any) -> bool:
    """Who may erase ``person``: the HCP themselves, or an administrator (never their own
    account). Only HCPs are erased: a staff member's name on what they did is part of the
    attributable record (21 CFR Part 11 spirit), so a departing colleague is suspended instead.
    A legal hold is not a policy question: erasure keeps the request pending (portal.privacy)."""
    if person is None or person.role is not Role.HCP:
        return False
    if actor is not None and getattr(actor, "id", None) == person.id:
        return can_use_data_rights(actor)
    return can_administer(actor) and actor.id != person.id


def can_view_erasure_requests(actor: Any) -> bool:
    """Administrators act on pending erasure requests; compliance may read the list."""
    return can_view_users(actor)


# Retention and legal holds
# Retention periods are set by administrators (they run the system) and read by compliance;
# legal holds are placed and released by compliance alone: a hold is a preservation order that
# changes no record, and it must bind the administrators who run erasures (an administrator who
# could release a hold could erase the person it protects). Administrators see the holds.


def can_view_retention(actor: Any) -> bool:
    """Administrators and compliance open the retention page (periods, holds, purge runs)."""
    return _role(actor) in (Role.ADMIN, Role.COMPLIANCE) and _active(actor)


def can_edit_retention_periods(actor: Any) -> bool:
    """Only administrators change how long records are kept (each change audited)."""
    return _role(actor) is Role.ADMIN and _active(actor)


def can_manage_legal_holds(actor: Any) -> bool:
    """Only compliance places and releases legal holds (see the note above)."""
    return _role(actor) is Role.COMPLIANCE and _active(actor)
