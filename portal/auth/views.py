"""Sign in and out, HCP registration, email confirmation, password reset."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from portal.auth.forms import (
    ForgotPasswordForm,
    LoginForm,
    RegistrationForm,
    ResendConfirmationForm,
    ResetPasswordForm,
)
from portal.errors import AccountLocked, InvalidInput, PermissionDenied, PortalError
from portal.extensions import limiter
from portal.forms import attach_errors
from portal.security import safe_next
from portal.services import accounts

blueprint = Blueprint("auth", __name__)


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _start_session(user: accounts.User) -> None:
    # A fresh session on every sign-in: nothing planted before login survives it (fixation).
    session.clear()
    session.permanent = True
    login_user(user)


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(
                form.email.data or "", form.password.data or "", remote_addr=request.remote_addr
            )
        except (InvalidInput, AccountLocked, PermissionDenied) as exc:
            form.form_errors.append(exc.message)
        else:
            destination = safe_next(request.args.get("next"), url_for("main.home"))
            _start_session(user)
            return redirect(destination)
    return render_template("portal/auth/login.html", form=form)


@blueprint.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    accounts.record_logout(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("auth.login"))


@blueprint.route("/register", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def register() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = RegistrationForm()
    if form.validate_on_submit():
        data = accounts.Registration(
            name=form.name.data or "",
            email=form.email.data or "",
            password=form.password.data or "",
            profession=form.profession.data or "",
            specialty=form.specialty.data or "",
            institution=form.institution.data or "",
            country=form.country.data or "",
            postal_code=form.postal_code.data or "",
            npi=form.npi.data or "",
            licence_number=form.licence_number.data or "",
        )
        try:
            user = accounts.register_hcp(data)
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            _start_session(user)
            flash(
                "Your account is created. We sent you an email to confirm your address; an "
                "administrator will verify your professional details.",
                "success",
            )
            return redirect(url_for("main.home"))
    return render_template("portal/auth/register.html", form=form)


@blueprint.route("/confirm/<token>")
def confirm_email(token: str) -> Response | str:
    try:
        accounts.confirm_email(token)
    except InvalidInput as exc:
        flash(exc.message, "danger")
    else:
        flash("Your email address is confirmed.", "success")
    return redirect(url_for("main.home"))


@blueprint.route("/confirm/resend", methods=["POST"])
@login_required
@limiter.limit("5 per hour")
def resend_confirmation() -> Response:
    form = ResendConfirmationForm()
    if form.validate_on_submit():
        accounts.resend_confirmation(current_user._get_current_object())
        flash("We sent the confirmation email again.", "info")
    return redirect(url_for("main.home"))


@blueprint.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def forgot_password() -> Response | str:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data or "")
        flash(
            "If an account exists for that address, we sent it a link to reset the password.",
            "info",
        )
        return redirect(url_for("auth.login"))
    return render_template("portal/auth/forgot.html", form=form)


@blueprint.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Response | str:
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data or "")
        except InvalidInput as exc:
            if exc.field == "password":
                form.password.errors = [*form.password.errors, exc.message]
            else:
                flash(exc.message, "danger")
                return redirect(url_for("auth.forgot_password"))
        else:
            if current_user.is_authenticated:
                logout_user()
            session.clear()
            flash("Your password is set. Sign in with it now.", "success")
            return redirect(url_for("auth.login"))
    return render_template("portal/auth/reset.html", form=form)
