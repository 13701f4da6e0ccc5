"""Administration pages: users, HCP verification, staff assignments, suspension."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

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

_ActionForm = TypeVar("_ActionForm", ConfirmForm, ReasonForm)


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


def _user_action(
    user_id: int,
    form_cls: type[_ActionForm],
    apply: Callable[[User, User, _ActionForm], object],
    *,
    done: str,
    category: str = "success",
    invalid: str | None = None,
) -> Response:
    """One administrator action on a user, posted from their page, which it returns to.

    Looks the user up as the actor sees them (404 otherwise); when the form validates, calls
    ``apply(actor, user, form)`` and flashes ``done`` (``{name}`` is the user's name) in
    ``category``; when it does not and ``invalid`` is given, flashes ``invalid`` followed by the
    form's errors. The service's own errors are left to the app's error handlers.
    """
    actor = _actor()
    user = users.get_user(actor, user_id)
    form = form_cls()
    if form.validate_on_submit():
        apply(actor, user, form)
        flash(done.format(name=user.name), category)
    elif invalid is not None:
        flash(invalid + "; ".join(_errors(form)), "danger")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@blueprint.route("/users/<int:user_id>/verify", methods=["POST"])
@login_required
def verify(user_id: int) -> Response:
    return _user_action(
        user_id,
        ConfirmForm,
        lambda actor, user, _form: users.verify_hcp(actor, user),
        done="{name} is verified and has been told by email.",
    )


@blueprint.route("/users/<int:user_id>/reject", methods=["POST"])
@login_required
def reject(user_id: int) -> Response:
    return _user_action(
        user_id,
        ReasonForm,
        lambda actor, user, form: users.reject_hcp(actor, user, reason=form.reason.data or ""),
        done="{name}'s registration is rejected; they will see your reason.",
        category="warning",
        invalid="Give the HCP a reason: ",
    )


@blueprint.route("/users/<int:user_id>/suspend", methods=["POST"])
@login_required
def suspend(user_id: int) -> Response:
    return _user_action(
        user_id,
        ReasonForm,
        lambda actor, user, form: users.suspend_user(actor, user, reason=form.reason.data or ""),
        done="{name} is suspended and signed out everywhere.",
        category="warning",
        invalid="Give a reason: ",
    )


@blueprint.route("/users/<int:user_id>/reactivate", methods=["POST"])
@login_required
def reactivate(user_id: int) -> Response:
    return _user_action(
        user_id,
        ConfirmForm,
        lambda actor, user, _form: users.reactivate_user(actor, user),
        done="{name} can sign in again.",
    )


@blueprint.route("/users/<int:user_id>/sessions/revoke", methods=["POST"])
@login_required
def revoke_sessions(user_id: int) -> Response:
    return _user_action(
        user_id,
        ConfirmForm,
        lambda actor, user, _form: sessions.revoke_all_by_administrator(actor, user),
        done="{name} is signed out of every session.",
    )


@blueprint.route("/users/<int:user_id>/two-factor/reset", methods=["POST"])
@login_required
def reset_two_factor(user_id: int) -> Response:
    return _user_action(
        user_id,
        ConfirmForm,
        lambda actor, user, _form: two_factor.reset(actor, user),
        done="{name}'s two-factor sign-in is reset and every session ended; they set it up "
        "again at their next sign-in.",
    )
