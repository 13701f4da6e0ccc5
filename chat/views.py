"""Chat pages: "My team" (opt in, invitations), the conversation page, the HCP's chat settings.

Thin on purpose: each view parses its form, finds the actor and calls one service; refusals are
flashed (``NotFound`` stays a 404, so ids reveal nothing). Everything live goes over the
Socket.IO namespace ``/chat`` (:mod:`chat.events`); the page only paints the first state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from chat import consent, conversations, history, messages, receipts
from chat.forms import AttestForm, ButtonForm, ConsentForm, EndForm, InviteForm, as_int
from chat.models import Conversation
from portal import inputs, policy
from portal.errors import InvalidInput, NotFound, PortalError
from portal.forms import attach_errors
from portal.models import Role, User
from portal.safety import attestations
from portal.throttles import Throttle, throttled

blueprint = Blueprint("chat", __name__)


def _actor() -> User:
    actor: User = current_user._get_current_object()
    return actor


def _require_chat_user(actor: User) -> None:
    """Chat is for verified HCPs and the reps and MSLs who talk with them."""
    policy.require_visible(policy.can_use_chat(actor), "That page")


def _require_hcp(actor: User) -> None:
    _require_chat_user(actor)
    policy.require_visible(actor.role is Role.HCP, "That page")


def _form_problem(form: Any) -> str:
    for errors in form.errors.values():
        for error in errors:
            return str(error)
    return gettext("Please try again.")


def _refused(exc: PortalError, endpoint: str, **values: Any) -> Response:
    """A service's refusal: flashed on the page the person came from; not found stays 404."""
    if isinstance(exc, NotFound):
        raise exc
    flash(exc.message, "danger")
    return redirect(url_for(endpoint, **values))


# --- home page panel -----------------------------------------------------------------------------
ATTESTATIONS_SHOWN = 10  # the oldest; the panel says how many more wait


def home_panel(user: User) -> tuple[str, dict[str, Any]] | None:
    """Staff home: the chats whose safety attestation is due (hidden when none is; the service
    answers none for anyone but staff)."""
    waiting, total = attestations.awaiting_attestation(user, limit=ATTESTATIONS_SHOWN)
    if not waiting:
        return None
    return "chat/panels/attestations.html", {"conversations": waiting, "total": total}


# --- the conversation page -----------------------------------------------------------------------
@blueprint.route("/")
@login_required
def index() -> str:
    actor = _actor()
    _require_chat_user(actor)
    listed = conversations.list_conversations(actor)
    selected: Conversation | None = None
    wanted = request.args.get("conversation")
    if wanted is not None:
        selected = conversations.get_conversation(actor, as_int(wanted))
        # Compliance reads through the review pages; this page is for the two participants.
        policy.require_visible(
            policy.takes_part_in_conversation(actor, selected), "That conversation"
        )
    elif listed:
        selected = conversations.get_conversation(actor, listed[0]["id"])
    page: list[dict[str, Any]] = []
    more = False
    read_states: dict[str, Any] = {}
    materials: list[dict[str, Any]] = []
    if selected is not None:
        page, more = history.latest_messages(actor, selected.id)
        read_states = receipts.receipts(actor, selected.id)
        materials = messages.shareable_materials(actor, selected.id)
    current = next((c for c in listed if selected and c["id"] == selected.id), None)
    attest_due = selected is not None and attestations.attestation_due(actor, selected.id)
    data = {
        "me": {"id": actor.id, "name": actor.name, "role": actor.role.value},
        "is_hcp": actor.role is Role.HCP,
        "conversations": listed,
        "selected": selected.id if selected else None,
        "messages": page,
        "more": more,
        "receipts": read_states,
        "max_length": messages.MAX_BODY,
        "team_url": url_for(".team"),
    }
    if selected is not None and policy.can_attest_conversation(actor, selected):
        # Staff report messages to PV (POST, with the page's CSRF token) and attest for safety.
        data["chat_url"] = url_for(".index")
        data["csrf_token"] = generate_csrf()
        data["attested_seq"] = selected.attested_seq
        data["attest_url"] = url_for(".attest", conversation_id=selected.id)
    return render_template(
        "chat/index.html",
        data=data,
        conversations=listed,
        selected=selected,
        current=current,
        materials=materials,
        end_form=EndForm(),
        max_length=messages.MAX_BODY,
        attest_due=attest_due,
    )


@blueprint.route("/<int:conversation_id>/messages/<int:seq>/report-pv", methods=["POST"])
@throttled(Throttle.PV_REPORTS)
@login_required
def report_message(conversation_id: int, seq: int) -> tuple[Response, int]:
    """One click on a message: its words go to Pharmacovigilance at once (JSON for chat.js;
    refusals answer JSON too, through the error handlers)."""
    actor = _actor()
    message_id = history.message_id_at(actor, conversation_id, seq)
    report = attestations.report_to_pv(
        actor, message_id=message_id, note=request.form.get("note", "")
    )
    body = {
        "ok": True,
        "case": report.case.reference,
        "created": report.created,
        "message": report.message,
    }
    return jsonify(body), 201 if report.created else 200


@blueprint.route("/<int:conversation_id>/attest", methods=["GET", "POST"])
@login_required
def attest(conversation_id: int) -> Response | str:
    """The staff participant's safety attestation for the messages not attested yet."""
    actor = _actor()
    conversation, messages = attestations.unattested_messages(actor, conversation_id)
    back = url_for(".index", conversation=conversation.id)
    if not messages:
        flash("Every message of this chat is attested already.", "info")
        return redirect(back)
    form = AttestForm()
    if form.validate_on_submit():
        attestation = form.to_attestation()
        try:
            if attestation is None:
                raise InvalidInput(attestations.CHOOSE, field="attestation")
            row = attestations.attest_conversation(
                actor, conversation.id, adverse_event=attestation.adverse_event,
                product_complaint=attestation.product_complaint,
                through_seq=as_int(form.through_seq.data),
            )  # fmt: skip
        except InvalidInput as exc:
            attach_errors(form, exc)
        except PortalError as exc:
            if isinstance(exc, NotFound):
                raise
            flash(exc.message, "danger")
            return redirect(url_for(".attest", conversation_id=conversation.id))
        else:
            done = f"Attested for messages up to #{row.through_seq}."
            if row.case_id is not None:
                done += f" Reported to Pharmacovigilance as PV-{row.case_id:06d}."
            flash(done, "success")
            return redirect(back)
    form.through_seq.data = str(messages[-1].seq)
    return render_template(
        "chat/attest.html",
        conversation=conversation,
        messages=messages,
        form=form,
        more=conversation.last_seq > messages[-1].seq,
    )


@blueprint.route("/<int:conversation_id>/end", methods=["POST"])
@login_required
def end(conversation_id: int) -> Response:
    actor = _actor()
    form = EndForm()
    via = "settings" if form.via.data == "settings" else "conversation"
    back = (
        url_for(".settings")
        if via == "settings"
        else url_for(".index", conversation=conversation_id)
    )
    if not form.validate_on_submit():
        flash(_form_problem(form), "danger")
        return redirect(back)
    try:
        conversation = consent.end_chat(actor, conversation_id, via=via)
    except PortalError as exc:
        if isinstance(exc, NotFound):
            raise
        flash(exc.message, "danger")
        return redirect(back)
    flash(
        gettext(
            "You ended the chat with %(name)s. They can no longer write to you.",
            name=conversation.staff.name,
        ),
        "success",
    )
    return redirect(back)


# --- my team: opt in, invitations ----------------------------------------------------------------
@blueprint.route("/team")
@login_required
def team() -> str:
    actor = _actor()
    _require_chat_user(actor)
    if actor.role is Role.HCP:
        return render_template(
            "chat/team.html",
            members=consent.my_team(actor),
            wording=consent.consent_wording(),
            form=ConsentForm(),
            decline_form=ButtonForm(),
        )
    name = request.args.get("name", "")[:100]
    invitable = consent.invitable_hcps(actor, name=name, page=inputs.query_page())
    listed = conversations.list_conversations(actor, peer_ids=[h.id for h in invitable.items])
    return render_template(
        "chat/invite.html",
        hcps=invitable.items,
        invitable=invitable,
        name=name,
        states={c["peer"]["id"]: c for c in listed},
        form=InviteForm(),
    )


def _consent_to_chat(open_chat: Callable[[User, ConsentForm], Conversation]) -> Response:
    """An HCP's consent, posted from "My team": ``open_chat(actor, form)`` opens the chat
    (a service call), whose page is shown next; a refusal is flashed on "My team"."""
    actor = _actor()
    _require_hcp(actor)
    form = ConsentForm()
    if not form.validate_on_submit():
        flash(_form_problem(form), "danger")
        return redirect(url_for(".team"))
    try:
        conversation = open_chat(actor, form)
    except PortalError as exc:
        return _refused(exc, ".team")
    flash(gettext("You can now chat with %(name)s.", name=conversation.staff.name), "success")
    return redirect(url_for(".index", conversation=conversation.id))


@blueprint.route("/start", methods=["POST"])
@throttled(Throttle.CHAT_STARTS)
@login_required
def start() -> Response:
    return _consent_to_chat(
        lambda actor, form: consent.start_chat(
            actor, as_int(form.staff_id.data) or 0, wording_id=as_int(form.wording_id.data)
        )
    )


@blueprint.route("/invitations/<int:invitation_id>/accept", methods=["POST"])
@login_required
def accept(invitation_id: int) -> Response:
    return _consent_to_chat(
        lambda actor, form: consent.accept_invitation(
            actor, invitation_id, wording_id=as_int(form.wording_id.data)
        )
    )


@blueprint.route("/invitations/<int:invitation_id>/decline", methods=["POST"])
@login_required
def decline(invitation_id: int) -> Response:
    actor = _actor()
    _require_hcp(actor)
    if not ButtonForm().validate_on_submit():
        return redirect(url_for(".team"))
    try:
        invitation = consent.decline_invitation(actor, invitation_id)
    except PortalError as exc:
        return _refused(exc, ".team")
    flash(gettext("You declined %(name)s's invitation.", name=invitation.staff.name), "success")
    return redirect(url_for(".team"))


@blueprint.route("/invite", methods=["POST"])
@throttled(Throttle.CHAT_INVITATIONS)
@login_required
def invite() -> Response:
    actor = _actor()
    _require_chat_user(actor)
    form = InviteForm()
    if not form.validate_on_submit():
        return redirect(url_for(".team"))
    try:
        invitation = consent.invite(actor, as_int(form.hcp_id.data) or 0, note=form.note.data or "")
    except PortalError as exc:
        return _refused(exc, ".team")
    flash(f"Invitation sent to {invitation.hcp.name}. They choose whether to chat.", "success")
    return redirect(url_for(".team"))


# --- the HCP's chat settings ---------------------------------------------------------------------
@blueprint.route("/settings")
@login_required
def settings() -> str:
    actor = _actor()
    _require_hcp(actor)
    active = [c for c in conversations.list_conversations(actor) if c["state"] == "active"]
    return render_template(
        "chat/settings.html",
        active=active,
        end_form=EndForm(via="settings"),
        end_all_form=ButtonForm(),
    )


@blueprint.route("/settings/end-all", methods=["POST"])
@login_required
def end_all() -> Response:
    actor = _actor()
    _require_hcp(actor)
    if not ButtonForm().validate_on_submit():
        return redirect(url_for(".settings"))
    try:
        ended = consent.end_all_chats(actor)
    except PortalError as exc:
        return _refused(exc, ".settings")
    flash(
        ngettext("You ended %(num)d chat.", "You ended %(num)d chats.", ended)
        if ended
        else gettext("No chat was active."),
        "success",
    )
    return redirect(url_for(".settings"))
