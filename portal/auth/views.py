"""Sign in and out, HCP registration, email confirmation, password reset and change, and the
signed-in user's sessions and two-factor settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext, lazy_gettext, ngettext, refresh
from flask_login import current_user, login_required, logout_user
from werkzeug.wrappers import Response

from portal import i18n
from portal.auth.forms import (
    ChangePasswordForm,
    EnrolForm,
    ForgotPasswordForm,
    LanguageForm,
    LoginForm,
    NewRecoveryCodesForm,
    RegistrationForm,
    ResendConfirmationForm,
    ResetPasswordForm,
    SessionActionForm,
    TurnOffTwoFactorForm,
    TwoFactorCodeForm,
)
from portal.errors import AccountLocked, Conflict, InvalidInput, PermissionDenied, PortalError
from portal.extensions import limiter
from portal.forms import attach_errors
from portal.models import TwoFactor, User, UserSession
from portal.security import safe_next
from portal.services import accounts, preferences, sessions, two_factor
from portal.throttles import Key, Throttle, throttled

blueprint = Blueprint("auth", __name__)


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


# Between the password and the second factor the browser holds only this signed marker: who
# passed the password step, when, and where to go next. No session record exists yet.
PENDING = "two_factor_pending"
PENDING_SECONDS = 600
PENDING_TRIES = 5


def _start_session(user: User) -> None:
    """Open a server-side session and put only its random token in the cookie."""
    token = sessions.start(
        user, ip=request.remote_addr, user_agent=request.headers.get("User-Agent", "")
    )
    # A fresh session on every sign-in: nothing planted before login survives it (fixation).
    session.clear()
    session.permanent = True
    session["_user_id"] = token  # what Flask-Login hands the user loader
    session["_fresh"] = True


def _after_password(user: User, destination: str) -> Response:
    """The password is right: open the session, or ask for the second factor first."""
    if not two_factor.is_enrolled(user) and not two_factor.is_required(user):
        _start_session(user)
        return redirect(destination)
    session.clear()
    session[PENDING] = {
        "user": user.id,
        "version": user.session_version,
        "at": int(time.time()),
        "next": destination,
        "tries": 0,
    }
    if two_factor.is_enrolled(user):
        return redirect(url_for("auth.two_factor_step"))
    return redirect(url_for("auth.enrol_at_sign_in"))


def _pending_user() -> User | None:
    """Who passed the password step in this browser, if it was recently."""
    marker: Any = session.get(PENDING)
    if not isinstance(marker, dict):
        return None
    started = marker.get("at")
    if not isinstance(started, int) or time.time() - started > PENDING_SECONDS:
        session.pop(PENDING, None)
        return None
    user = two_factor.find_user_for_second_step(marker.get("user"), marker.get("version"))
    if user is None:
        session.pop(PENDING, None)
    return user


def _finish_second_step(user: User) -> Response:
    marker = session.get(PENDING) or {}
    destination = safe_next(marker.get("next"), url_for("main.home"))
    _start_session(user)
    return redirect(destination)


def current_session() -> UserSession:
    """The signed-in request's session record (set by the user loader)."""
    assert current_user.is_authenticated
    record: UserSession = g.portal_session
    return record


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
            return _after_password(user, destination)
    return render_template("portal/auth/login.html", form=form)


@blueprint.route("/login/two-factor", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def two_factor_step() -> Response | str:
    """The second step of signing in, for an enrolled account."""
    user = _pending_user()
    if user is None or not two_factor.is_enrolled(user):
        return redirect(url_for("auth.login"))
    form = TwoFactorCodeForm()
    if form.validate_on_submit():
        try:
            two_factor.verify(user, form.code.data or "", ip=request.remote_addr)
        except InvalidInput as exc:
            marker = dict(session[PENDING])
            marker["tries"] = int(marker.get("tries", 0)) + 1
            if marker["tries"] >= PENDING_TRIES:
                session.pop(PENDING, None)
                flash(gettext("Too many wrong codes. Sign in again."), "danger")
                return redirect(url_for("auth.login"))
            session[PENDING] = marker
            form.code.errors = [*form.code.errors, exc.message]
        else:
            return _finish_second_step(user)
    return render_template("portal/auth/two_factor.html", form=form)


@blueprint.route("/login/enrol", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def enrol_at_sign_in() -> Response | str:
    """Staff who have not enrolled yet do it here, right after the password, before anything."""
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if two_factor.is_enrolled(user):
        return redirect(url_for("auth.two_factor_step"))
    enrolment = two_factor.begin_enrolment(user)

    def signed_in(codes: list[str]) -> str:
        marker = session.get(PENDING) or {}
        destination = safe_next(marker.get("next"), url_for("main.home"))
        _start_session(user)
        return render_template(
            "portal/account/recovery_codes.html", codes=codes, destination=destination
        )

    return _enrolment_page(user, enrolment, at_sign_in=True, enrolled=signed_in)


def _enrolment_page(
    user: User,
    enrolment: TwoFactor,
    *,
    at_sign_in: bool,
    enrolled: Callable[[list[str]], Response | str],
) -> Response | str:
    """The enrolment page (the secret, as a QR code and as text): a code from the app confirms
    the enrolment, then ``enrolled(recovery_codes)`` answers; a wrong code shows on the form."""
    form = EnrolForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.confirm_enrolment(user, form.code.data or "")
        except InvalidInput as exc:
            form.code.errors = [*form.code.errors, exc.message]
        else:
            return enrolled(codes)
    uri = two_factor.provisioning_uri(user, enrolment)
    return render_template(
        "portal/account/enrol.html",
        form=form,
        qr_svg=two_factor.qr_code_svg(uri),
        secret=enrolment.secret,
        at_sign_in=at_sign_in,
    )


@blueprint.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    sessions.sign_out(current_session())
    logout_user()
    session.clear()
    flash(gettext("You are signed out."), "success")
    return redirect(url_for("auth.login"))


# Marked for extraction here, translated where it is flashed (the request's language).
REGISTRATION_SENT = lazy_gettext(
    "Check your e-mail: we sent a message to the address you entered. Open the link in it to "
    "confirm your address, then sign in here; an administrator will verify your professional "
    "details."
)


@blueprint.route("/register", methods=["GET", "POST"])
@throttled(Throttle.REGISTRATIONS, Key.ADDRESS, Key.EMAIL)
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
            # A new account, or a mail to the owner of a known address: the answer is the same.
            accounts.register_hcp(data)
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            flash(gettext(REGISTRATION_SENT), "info")
            return redirect(url_for("auth.login"))
    return render_template("portal/auth/register.html", form=form)


@blueprint.route("/confirm/<token>")
def confirm_email(token: str) -> Response | str:
    try:
        accounts.confirm_email(token)
    except InvalidInput as exc:
        flash(exc.message, "danger")
    else:
        flash(gettext("Your email address is confirmed."), "success")
    return redirect(url_for("main.home"))


@blueprint.route("/confirm/resend", methods=["POST"])
@login_required
@limiter.limit("5 per hour")
def resend_confirmation() -> Response:
    form = ResendConfirmationForm()
    if form.validate_on_submit():
        accounts.resend_confirmation(current_user._get_current_object())
        flash(gettext("We sent the confirmation email again."), "info")
    return redirect(url_for("main.home"))


@blueprint.route("/password/forgot", methods=["GET", "POST"])
@throttled(Throttle.PASSWORD_RESETS, Key.ADDRESS, Key.EMAIL)
def forgot_password() -> Response | str:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data or "")
        flash(
            gettext(
                "If an account exists for that address, we sent it a link to reset the password."
            ),
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
            flash(gettext("Your password is set. Sign in with it now."), "success")
            return redirect(url_for("auth.login"))
    return render_template("portal/auth/reset.html", form=form)


# --- the signed-in user's own sessions and second factor -----------------------------------------
@blueprint.route("/account/sessions")
@login_required
def account_sessions() -> str:
    """Every live session of the signed-in user: device, address, when; sign out any."""
    user: User = current_user._get_current_object()
    return render_template(
        "portal/account/sessions.html",
        records=sessions.list_sessions(user),
        current_id=current_session().id,
        form=SessionActionForm(),
    )


@blueprint.route("/account/sessions/<string:session_id>/revoke", methods=["POST"])
@login_required
def revoke_session(session_id: str) -> Response:
    user: User = current_user._get_current_object()
    if SessionActionForm().validate_on_submit():
        if session_id == current_session().id:
            return logout()
        sessions.revoke_own(user, session_id)
        flash(gettext("That session is signed out."), "success")
    return redirect(url_for("auth.account_sessions"))


@blueprint.route("/account/sessions/revoke-others", methods=["POST"])
@login_required
def revoke_other_sessions() -> Response:
    user: User = current_user._get_current_object()
    if SessionActionForm().validate_on_submit():
        count = sessions.revoke_others(user, keep=current_session())
        flash(
            ngettext(
                "Signed out of %(num)d other session.",
                "Signed out of %(num)d other sessions.",
                count,
            )
            if count
            else gettext("There was no other session."),
            "success",
        )
    return redirect(url_for("auth.account_sessions"))


@blueprint.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def account_two_factor() -> Response | str:
    """Two-factor sign-in for the signed-in user: its state, or enrolment (HCPs opt in)."""
    user: User = current_user._get_current_object()
    if two_factor.is_enrolled(user):
        return _two_factor_settings(user)
    try:
        enrolment = two_factor.begin_enrolment(user)
    except Conflict:
        return redirect(url_for("auth.account_two_factor"))

    def enrolled(codes: list[str]) -> str:
        return render_template(
            "portal/account/recovery_codes.html",
            codes=codes,
            destination=url_for("auth.account_two_factor"),
        )

    return _enrolment_page(user, enrolment, at_sign_in=False, enrolled=enrolled)


def _two_factor_settings(
    user: User, *, failed: NewRecoveryCodesForm | TurnOffTwoFactorForm | None = None
) -> str:
    """The settings page of an enrolled user: codes left, new recovery codes, turning it off.
    ``failed``, a form posted from the page and not accepted, is shown (errors kept) in place of
    its blank one."""
    recovery_form = failed if isinstance(failed, NewRecoveryCodesForm) else None
    off_form = failed if isinstance(failed, TurnOffTwoFactorForm) else None
    return render_template(
        "portal/account/two_factor.html",
        recovery_left=two_factor.unused_recovery_codes(user),
        recovery_form=recovery_form or NewRecoveryCodesForm(prefix="recovery"),
        off_form=off_form or TurnOffTwoFactorForm(prefix="off"),
        can_turn_off=two_factor.can_turn_off(user),
    )


def _prove_current_code(
    form: NewRecoveryCodesForm | TurnOffTwoFactorForm,
    action: Callable[[User, str], Response | str],
) -> Response | str:
    """A settings-page action that proves a current code: ``action(user, code)`` once ``form``
    validates, answering with what it returns. Its refusal (``InvalidInput``: a wrong or used code)
    shows under the form on the settings page; a user not enrolled is sent to enrol."""
    user: User = current_user._get_current_object()
    if not two_factor.is_enrolled(user):
        return redirect(url_for("auth.account_two_factor"))
    if form.validate_on_submit():
        try:
            return action(user, form.code.data or "")
        except InvalidInput as exc:
            attach_errors(form, exc)
    return _two_factor_settings(user, failed=form)


@blueprint.route("/account/two-factor/recovery-codes", methods=["POST"])
@login_required
@limiter.limit(_login_limit, methods=["POST"])
def new_recovery_codes() -> Response | str:
    """Replace every recovery code, proving a current code; the new ones are shown once."""

    def replace(user: User, code: str) -> str:
        codes = two_factor.regenerate_recovery_codes(user, code, ip=request.remote_addr)
        return render_template(
            "portal/account/recovery_codes.html",
            codes=codes,
            destination=url_for("auth.account_two_factor"),
            replaced=True,
        )

    return _prove_current_code(NewRecoveryCodesForm(prefix="recovery"), replace)


@blueprint.route("/account/two-factor/turn-off", methods=["POST"])
@login_required
@limiter.limit(_login_limit, methods=["POST"])
def turn_off_two_factor() -> Response | str:
    """An HCP turns their second factor off, proving a current code (staff are refused: 403)."""

    def turn_off(user: User, code: str) -> Response:
        two_factor.turn_off(user, code, ip=request.remote_addr)
        flash(gettext("Two-factor sign-in is off: your password alone signs you in."), "success")
        return redirect(url_for("auth.account_sessions"))

    return _prove_current_code(TurnOffTwoFactorForm(prefix="off"), turn_off)


# --- the signed-in user's password ----------------------------------------------------------------
@blueprint.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit(_login_limit, methods=["POST"])
def change_password() -> Response | str:
    """Change the password, proving the current one; every other session is signed out."""
    user: User = current_user._get_current_object()
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(
                user,
                form.current_password.data or "",
                form.password.data or "",
                keep=current_session(),
                remote_addr=request.remote_addr,
            )
        except InvalidInput as exc:
            attach_errors(form, exc)
        else:
            flash(
                gettext("Your password is changed. Every other session is signed out."), "success"
            )
            return redirect(url_for("auth.account_sessions"))
    return render_template("portal/account/password.html", form=form)


# --- the signed-in user's language and time zone --------------------------------------------------
def _zone_choices(browser_zone: str | None) -> list[tuple[str, str] | tuple[str, list]]:
    """ "Follow my browser", then every common zone grouped by its region ("Europe")."""
    follow = gettext("Use my browser's time zone")
    if browser_zone:
        follow = gettext("Use my browser's time zone (now %(zone)s)", zone=browser_zone)
    groups: dict[str, list[tuple[str, str]]] = {}
    for zone in i18n.common_timezones():
        region, _, place = zone.partition("/")
        groups.setdefault(region if place else gettext("Universal"), []).append(
            (zone, place.replace("_", " ") or zone)
        )
    return [(preferences.BROWSER, follow), *[(region, zones) for region, zones in groups.items()]]


@blueprint.route("/account/language", methods=["GET", "POST"])
@login_required
def account_language() -> Response | str:
    """Choose the language of pages and mail, and the time zone dates are shown in."""
    user: User = current_user._get_current_object()
    form = LanguageForm()
    if request.method == "GET":
        form.locale.data = user.locale or preferences.BROWSER
        form.timezone.data = user.timezone or preferences.BROWSER
    form.locale.choices = [
        (preferences.BROWSER, gettext("Use my browser's language")),
        *i18n.languages().items(),
    ]
    form.timezone.choices = _zone_choices(i18n.browser_timezone())
    if form.validate_on_submit():
        try:
            preferences.set_language_and_timezone(
                user, locale=form.locale.data, timezone=form.timezone.data
            )
        except InvalidInput as exc:
            attach_errors(form, exc)
        else:
            # The confirmation already speaks the language just chosen.
            refresh()
            flash(gettext("Your language and time zone are saved."), "success")
            return redirect(url_for("auth.account_language"))
    return render_template("portal/account/language.html", form=form)
