"""Outreach pages (``/outreach``): a colleague shares a material with an HCP or proposes a
meeting; the HCP reads what was shared with them and asks their rep or MSL for a meeting; both
answer, cancel and download meetings.

Thin on purpose: each view parses its form, finds the actor and calls one service of
:mod:`portal.accounts.outreach`. A refusal of the contact rule is shown on the form, input kept,
with status 409; bad input re-renders the form with its errors; ``NotFound`` stays a 404 and
``PermissionDenied`` a 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Optional

from portal import inputs, policy
from portal.accounts import contact_rule, coordination, outreach
from portal.accounts.models import ContactChannel, MeetingMode
from portal.errors import PermissionDenied, PortalError
from portal.forms import LocalDateTimeField, attach_errors, choices
from portal.models import User
from portal.services import coverage
from portal.throttles import Throttle, throttled
from portal.unit_of_work import unit_of_work

blueprint = Blueprint("outreach", __name__)


# --- forms ---------------------------------------------------------------------------------------
class ShareForm(FlaskForm):
    material_id = HiddenField()
    note = TextAreaField("Note for the HCP (optional)")
    submit = SubmitField("Share")


class MeetingForm(FlaskForm):
    """A meeting request or proposal: the mode, up to three start times typed in the reader's
    own zone, a short topic; ``staff_id`` for an HCP's request (whom they ask)."""

    staff_id = SelectField(_l("With"), coerce=str, validate_choice=False)
    mode = RadioField(_l("How"), validate_choice=False)
    slot_1 = LocalDateTimeField(_l("First choice"), validators=[Optional()])
    slot_2 = LocalDateTimeField(_l("Second choice, optional"), validators=[Optional()])
    slot_3 = LocalDateTimeField(_l("Third choice, optional"), validators=[Optional()])
    topic = StringField(_l("Topic (optional, no patient details)"))
    submit = SubmitField(_l("Send"))

    def setup(self, *, team: list[User] | None = None) -> None:
        # Built for each request, in its language.
        self.mode.choices = choices((m.value, m.label) for m in MeetingMode)
        self.staff_id.choices = choices(
            ((str(u.id), f"{u.name} ({u.role.label})") for u in team or ()),
            blank=_l("Choose someone of your team"),
        )

    def to_input(self) -> outreach.MeetingInput:
        return outreach.MeetingInput(
            mode=self.mode.data or "",
            slots=[self.slot_1.data, self.slot_2.data, self.slot_3.data],
            topic=self.topic.data or "",
            staff_id=inputs.find_id(self.staff_id.data),
        )


class AcceptForm(FlaskForm):
    slot = RadioField(_l("Choose a time"), validate_choice=False)
    submit = SubmitField(_l("Accept"))


class ButtonForm(FlaskForm):
    """A button that posts nothing but the CSRF token (decline, cancel, seen)."""

    submit = SubmitField(_l("Confirm"))


# --- helpers -------------------------------------------------------------------------------------
def _actor() -> User:
    actor: User = current_user._get_current_object()
    return actor


def _refusal_status(exc: PortalError) -> int:
    """A refused contact or a state that changed: 409; bad input: the form again (200)."""
    if exc.status in (403, 404):
        raise exc
    return 409 if exc.status == 409 else 200


def _terms(staff: User, hcp: User, channels: list[ContactChannel]) -> dict[str, Any]:
    """What a colleague sees before contacting an HCP: who else is in touch, which channels
    the HCP accepts, and the rule's answer now for each channel this page would use."""
    terms = contact_rule.terms_of(hcp)
    return {
        "warning": coordination.warning(staff, hcp),
        "accepted": [c for c in ContactChannel if c in terms.channels],
        "decisions": {c: contact_rule.check(staff, hcp, c) for c in channels},
        "terms": terms,
    }


# --- the colleague: share a material -------------------------------------------------------------
@blueprint.route("/hcps/<int:hcp_id>/share", methods=["GET", "POST"])
@throttled(Throttle.OUTREACH)
@login_required
def share(hcp_id: int) -> Response | tuple[str, int]:
    actor = _actor()
    hcp = outreach.get_contactable_hcp(actor, hcp_id)
    q = request.args.get("q", "")[: outreach.SEARCH_MAX]
    page = inputs.query_page()
    form = ShareForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                shared = outreach.share_material(
                    actor, hcp.id, inputs.find_id(form.material_id.data),
                    note=form.note.data or "",
                )  # fmt: skip
            except PortalError as exc:
                status = _refusal_status(exc)
                attach_errors(form, exc)
            else:
                mailed = " They were also sent an e-mail with its title and a link." if (
                    shared.emailed
                ) else ""  # fmt: skip
                flash(f"Material shared with {hcp.name}.{mailed}", "success")
                return redirect(url_for("hcps.detail", hcp_id=hcp.id))
        else:
            form.form_errors.append("That form could not be read: try again.")
            status = 400
    materials = outreach.shareable_materials(actor, hcp, q=q, page=page)
    shared_before = outreach.last_shared(hcp, (m.family_id or m.id for m in materials.items))
    return render_template(
        "accounts/share.html",
        hcp=hcp,
        form=form,
        q=q,
        materials=materials,
        shared_before=shared_before,
        chosen=inputs.find_id(form.material_id.data),
        **_terms(actor, hcp, [ContactChannel.PORTAL]),
    ), status


# --- meetings: the colleague proposes, the HCP asks ----------------------------------------------
def _meeting_page(
    form: MeetingForm, run: Callable[[], Any], render: Callable[[int], tuple[str, int]], done: str
) -> Response | tuple[str, int]:
    """A meeting form: on a valid POST ``run()`` the service; success flashes ``done`` and goes
    to the meetings page, a refusal shows the form again with it."""
    if request.method != "POST":
        return render(200)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            form.form_errors.append(gettext("That form could not be read: try again."))
            return render(400)
        return render(200)
    try:
        run()
    except PortalError as exc:
        status = _refusal_status(exc)
        attach_errors(form, exc)
        return render(status)
    flash(done, "success")
    return redirect(url_for(".meetings"))


@blueprint.route("/hcps/<int:hcp_id>/meeting", methods=["GET", "POST"])
@throttled(Throttle.MEETINGS)
@login_required
def propose_meeting(hcp_id: int) -> Response | tuple[str, int]:
    actor = _actor()
    hcp = outreach.get_contactable_hcp(actor, hcp_id)
    form = MeetingForm()
    form.setup()  # its colleague field is the HCP's only: not shown here, and ignored

    def render(status: int) -> tuple[str, int]:
        channels = sorted({m.channel for m in MeetingMode})
        return render_template(
            "accounts/meeting_form.html",
            form=form,
            hcp=hcp,
            staff_view=True,
            **_terms(actor, hcp, channels),
        ), status

    return _meeting_page(
        form,
        lambda: outreach.propose_meeting(actor, hcp.id, form.to_input()),
        render,
        f"Meeting proposed to {hcp.name}. They choose one of your times or decline.",
    )


@blueprint.route("/meetings/request", methods=["GET", "POST"])
@throttled(Throttle.MEETINGS)
@login_required
def request_meeting() -> Response | tuple[str, int]:
    actor = _actor()
    policy.require_visible(policy.can_view_meetings(actor) and actor.is_hcp, "That page")
    team = [s for s in coverage.field_team_for(actor) if policy.can_request_meeting(actor, s)]
    form = MeetingForm()
    form.setup(team=team)
    if request.method == "GET":
        wanted = inputs.query_id("staff")
        if wanted is not None:
            form.staff_id.data = str(wanted)

    def render(status: int) -> tuple[str, int]:
        return render_template(
            "accounts/meeting_form.html", form=form, team=team, staff_view=False
        ), status

    return _meeting_page(
        form,
        lambda: outreach.request_meeting(actor, form.to_input()),
        render,
        gettext("Your request was sent. You will be told when they answer."),
    )


@blueprint.route("/meetings")
@login_required
def meetings() -> str:
    actor = _actor()
    found = outreach.my_meetings(actor, page=inputs.query_page())
    return render_template(
        "accounts/meetings.html",
        meetings=found,
        slot_times=outreach.slot_times,
        has_calendar=outreach.can_download_calendar,
        accept_form=AcceptForm(),
        button_form=ButtonForm(),
        is_hcp=actor.is_hcp,
    )


def _meeting_action(action: Callable[[User], str]) -> Response:
    """A button on the meetings page: one service call, its outcome flashed; not a participant:
    404, not allowed: 403."""
    actor = _actor()
    if not ButtonForm().validate_on_submit():
        flash(gettext("That form could not be read: try again."), "danger")
        return redirect(url_for(".meetings"))
    try:
        with unit_of_work():
            message = action(actor)
    except PermissionDenied:
        raise
    except PortalError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "danger")
    else:
        flash(message, "success")
    return redirect(url_for(".meetings"))


@blueprint.route("/meetings/<int:meeting_id>/accept", methods=["POST"])
@throttled(Throttle.MEETINGS)
@login_required
def accept_meeting(meeting_id: int) -> Response:
    slot = request.form.get("slot", "")[:64]

    def run(actor: User) -> str:
        meeting = outreach.accept_meeting(actor, meeting_id, slot=slot)
        return gettext(
            "Meeting booked with %(name)s. The calendar invitation is on its way by e-mail.",
            name=(meeting.staff if actor.is_hcp else meeting.hcp).name,
        )

    return _meeting_action(run)


@blueprint.route("/meetings/<int:meeting_id>/decline", methods=["POST"])
@throttled(Throttle.MEETINGS)
@login_required
def decline_meeting(meeting_id: int) -> Response:
    def run(actor: User) -> str:
        outreach.decline_meeting(actor, meeting_id)
        return gettext("You declined the meeting. They were told.")

    return _meeting_action(run)


@blueprint.route("/meetings/<int:meeting_id>/cancel", methods=["POST"])
@throttled(Throttle.MEETINGS)
@login_required
def cancel_meeting(meeting_id: int) -> Response:
    def run(actor: User) -> str:
        outreach.cancel_meeting(actor, meeting_id)
        return gettext("The meeting is cancelled. The other person was told.")

    return _meeting_action(run)


@blueprint.route("/meetings/<int:meeting_id>.ics")
@login_required
def meeting_ics(meeting_id: int) -> Response:
    text, mime_type = outreach.calendar_file(_actor(), meeting_id)
    return Response(
        text,
        content_type=f"{mime_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="meeting-{meeting_id}.ics"'},
    )


# --- the HCP: what was shared with them ----------------------------------------------------------
@blueprint.route("/shared")
@login_required
def shared_with_me() -> str:
    found = outreach.shared_with_me(_actor(), page=inputs.query_page())
    return render_template("accounts/shared_with_me.html", shared=found)


# --- the colleague's worklist: engagement seen ---------------------------------------------------
@blueprint.route("/shares/<int:share_id>/seen", methods=["POST"])
@login_required
def share_seen(share_id: int) -> Response:
    actor = _actor()
    if ButtonForm().validate_on_submit():
        outreach.acknowledge_share(actor, share_id)
    else:
        flash("That form could not be read: try again.", "danger")
    return redirect(url_for("main.home"))
