"""Administration pages: users, HCP verification, staff assignments, suspension."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from portal import inputs, policy
from portal.admin.forms import (
    AssignmentForm,
    ConfirmForm,
    CreateStaffForm,
    ReasonForm,
    UserSearchForm,
)
from portal.errors import PortalError
from portal.forms import attach_errors, choices
from portal.models import Role, User
from portal.services import sessions, two_factor, users
from portal.throttles import Throttle, throttled

blueprint = Blueprint("admin", __name__)


def _actor() -> User:
    actor: User = current_user._get_current_object()
    policy.require_visible(policy.can_view_users(actor))
    return actor


def _assignment_form(
    form_cls: type[AssignmentForm] = AssignmentForm, **kwargs: object
) -> AssignmentForm:
    form = form_cls(**kwargs)
    form.set_choices(users.list_teams(), users.list_territories(), users.list_products())
    return form


def _assignment_from(form: AssignmentForm) -> users.StaffAssignment:
    return users.StaffAssignment(
        role=form.role.data or "",
        team_keys=form.teams.data or [],
        lead_team_keys=form.lead_teams.data or [],
        territory_ids=form.territories.data or [],
        product_ids=form.products.data or [],
    )


@blueprint.route("/users")
@login_required
def user_list() -> str:
    actor = _actor()
    form = UserSearchForm(request.args)
    form.role.choices = choices(((r.value, r.label) for r in Role), blank="Any role")
    page = users.search_users(
        actor,
        text=form.q.data or "",
        role=form.role.data if form.role.data in set(Role) else "",
        status=form.status.data or "",
        page=inputs.query_page(),
    )
    return render_template("portal/admin/users.html", form=form, page=page)


@blueprint.route("/users/new", methods=["GET", "POST"])
@throttled(Throttle.STAFF_INVITATIONS)
@login_required
def create_user() -> Response | str:
    actor = _actor()
    policy.require(policy.can_create_staff(actor))
    form = _assignment_form(CreateStaffForm)
    if form.validate_on_submit():
        assert isinstance(form, CreateStaffForm)
        try:
            user = users.create_staff(
                actor,
                email=form.email.data or "",
                name=form.name.data or "",
                assignment=_assignment_from(form),
            )
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            flash(
                f"{user.name}'s account is created; an email invites them to choose a password.",
                "success",
            )
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("portal/admin/user_new.html", form=form)


@blueprint.route("/users/<int:user_id>")
@login_required
def user_detail(user_id: int) -> str:
    actor = _actor()
    user = users.get_user(actor, user_id)
    assignment = _assignment_form(
        role=user.role.value,
        teams=[m.team.key.value for m in user.memberships],
        lead_teams=[m.team.key.value for m in user.memberships if m.is_lead],
        territories=[t.id for t in user.territories],
        products=[p.id for p in user.products],
    )
    return render_template(
        "portal/admin/user_detail.html",
        user=user,
        assignment=assignment,
        reason_form=ReasonForm(),
        confirm_form=ConfirmForm(),
    )


@blueprint.route("/users/<int:user_id>/assignment", methods=["POST"])
@login_required
def update_assignment(user_id: int) -> Response | str:
    actor = _actor()
    user = users.get_user(actor, user_id)
    form = _assignment_form()
    if form.validate_on_submit():
        try:
            users.update_staff(actor, user, _assignment_from(form))
        except PortalError as exc:
            flash(exc.message, "danger")
        else:
            flash("Assignment saved.", "success")
    else:
        flash("The assignment could not be saved: " + "; ".join(_errors(form)), "danger")
    return redirect(url_for("admin.user_detail", user_id=user.id))


def _errors(form: AssignmentForm | ReasonForm | ConfirmForm) -> list[str]:
    messages = [
        str(m)
        for errors in form.errors.values()
        for m in (errors if isinstance(errors, list) else [errors])
    ]
    return messages or ["please check the form"]


@blueprint.route("/users/<int:user_id>/verify", methods=["POST"])
@login_required
def verify(user_id: int) -> Response:
    actor = _actor()
    user = users.get_user(actor, user_id)
    if ConfirmForm().validate_on_submit():
        users.verify_hcp(actor, user)
        flash(f"{user.name} is verified and has been told by email.", "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@blueprint.route("/users/<int:user_id>/reject", methods=["POST"])
@login_required
def reject(user_id: int) -> Response:
    actor = _actor()
    user = users.get_user(actor, user_id)
    form = ReasonForm()
    if form.validate_on_submit():
        users.reject_hcp(actor, user, reason=form.reason.data or "")
        flash(f"{user.name}'s registration is rejected; they will see your reason.", "warning")
    else:
        flash("Give the HCP a reason: " + "; ".join(_errors(form)), "danger")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@blueprint.route("/users/<int:user_id>/suspend", methods=["POST"])
@login_required
def suspend(user_id: int) -> Response:
    actor = _actor()
    user = users.get_user(actor, user_id)
    form = ReasonForm()
    if form.validate_on_submit():
        users.suspend_user(actor, user, reason=form.reason.data or "")
        flash(f"{user.name} is suspended and signed out everywhere.", "warning")
    else:
        flash("Give a reason: " + "; ".join(_errors(form)), "danger")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@blueprint.route("/users/<int:user_id>/reactivate", methods=["POST"])
@login_required
def reactivate(user_id: int) -> Response:
    actor = _actor()
    user = users.get_user(actor, user_id)
    if ConfirmForm().validate_on_submit():
        users.reactivate_user(actor, user)
        flash(f"{user.name} can sign in again.", "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@blueprint.route("/users/<int:user_id>/sessions/revoke", methods=["POST"])
@login_required
def revoke_sessions(user_id: int) -> Response:
    actor = _actor()
    user = users.get_user(actor, user_id)
    if ConfirmForm().validate_on_submit():
        sessions.revoke_all_by_administrator(actor, user)
        flash(f"{user.name} is signed out of every session.", "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@blueprint.route("/users/<int:user_id>/two-factor/reset", methods=["POST"])
@login_required
def reset_two_factor(user_id: int) -> Response:
    actor = _actor()
    user = users.get_user(actor, user_id)
    if ConfirmForm().validate_on_submit():
        two_factor.reset(actor, user)
        flash(
            f"{user.name}'s two-factor sign-in is reset and every session ended; they set it up "
            "again at their next sign-in.",
            "success",
        )
    return redirect(url_for("admin.user_detail", user_id=user.id))
