"""Self-service account life: HCP registration, sign-in, email confirmation, password reset."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import audit, i18n, realtime, session_sockets
from portal.errors import InvalidInput, PermissionDenied
from portal.extensions import db, limiter
from portal.models import HcpProfile, Profession, Role, User, UserSession, Verification, utcnow
from portal.models.reference import COUNTRIES, SPECIALTIES
from portal.npi import normalize_npi, npi_problem
from portal.services import mail, passwords, sessions, tokens
from portal.services.territories import find_territory_for
from portal.urls import external_url

BAD_CREDENTIALS = "Email or password is incorrect."

log = logging.getLogger(__name__)


def parse_session_id(value: str) -> tuple[int, int] | None:
    """A signed-in session's ``"<user id>:<session version>"`` (``User.get_id``) as numbers."""
    ident, _, version = value.partition(":")
    if not ident.isdigit() or not version.isdigit():
        return None
    return int(ident), int(version)


def session_is_current(user: Any, session_version: int) -> bool:
    """Whether a session opened at ``session_version`` still stands for ``user``: the account
    exists, is not suspended, and no password reset or "sign out everywhere" came since."""
    return user is not None and user.session_version == session_version and not user.suspended


def normalize_email(raw: str, *, check_deliverability: bool = False) -> str:
    """The address as stored (lower-cased), or :class:`InvalidInput` saying what is wrong."""
    try:
        result = validate_email(raw.strip(), check_deliverability=check_deliverability)
    except EmailNotValidError as exc:
        raise InvalidInput(str(exc), field="email") from exc
    return result.normalized.lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


@dataclasses.dataclass
class Registration:
    """What an HCP enters on the registration form."""

    name: str
    email: str
    password: str
    profession: str
    specialty: str
    institution: str
    country: str
    postal_code: str
    npi: str = ""
    licence_number: str = ""


def _registration_problems(data: Registration) -> dict[str, str]:
    """Every bad field of a registration, in words for the form."""
    problems: dict[str, str] = {}
    if not data.name.strip():
        problems["name"] = "Enter your name."
    try:
        email = normalize_email(data.email)
    except InvalidInput as exc:
        problems["email"] = exc.message
        email = data.email
    problem = passwords.password_problem(
        data.password, min_length=current_app.config["PASSWORD_MIN_LENGTH"], email=email
    )
    if problem:
        problems["password"] = problem
    if data.profession not in set(Profession):
        problems["profession"] = "Choose your profession from the list."
    if data.specialty not in SPECIALTIES:
        problems["specialty"] = "Choose your specialty from the list."
    if not data.institution.strip():
        problems["institution"] = "Enter the institution where you practise."
    if data.country not in COUNTRIES:
        problems["country"] = "Choose your country from the list."
    if not data.postal_code.strip():
        problems["postal_code"] = "Enter your postal code."
    if data.country == "US":
        npi_error = npi_problem(data.npi)
        if npi_error:
            problems["npi"] = npi_error
    elif not data.licence_number.strip():
        problems["licence_number"] = "Enter your professional licence or registration number."
    return problems


def _validate_registration(data: Registration) -> tuple[str, str | None, str | None]:
    """Check every field; returns (email, npi, licence) as stored, or raises with all problems."""
    problems = _registration_problems(data)
    if problems:
        field, message = next(iter(problems.items()))
        raise InvalidInput(message, field=field, errors=problems)
    email = normalize_email(data.email)
    if data.country == "US":
        return email, normalize_npi(data.npi), None
    return email, None, data.licence_number.strip()


def _recipients_language(user: User | None) -> contextlib.AbstractContextManager[None]:
    """Write a mail in its recipient's language: their chosen one, else the language of the
    request that causes it (a new registrant has chosen none yet, but read the form in it)."""
    locale = user.locale if user is not None else None
    return i18n.for_user(locale or i18n.current_locale(), user.timezone if user else None)


def _confirmation_mail(user: User) -> None:
    link = external_url("auth.confirm_email", token=tokens.make_confirm_token(user.id, user.email))
    with _recipients_language(user):
        mail.enqueue(
            user.email,
            gettext("Confirm your email address for the HCP portal"),
            gettext(
                "Hello %(name)s,\n\nPlease confirm your email address by opening this link:\n"
                "%(link)s\n\nIf you did not register, you can ignore this message.",
                name=user.name,
                link=link,
            ),
        )


def _already_registered_mail(user: User) -> None:
    """Tell the owner of an address that someone tried to register it (caller's transaction)."""
    confirm = ""
    link = ""
    if user.email_confirmed_at is None:
        link = external_url(
            "auth.confirm_email", token=tokens.make_confirm_token(user.id, user.email)
        )
    with _recipients_language(user):
        if link:
            confirm = "\n\n" + gettext(
                "Your address is not confirmed yet. Confirm it here:\n%(link)s", link=link
            )
        mail.enqueue(
            user.email,
            gettext("Someone tried to register with your address"),
            gettext(
                "Hello %(name)s,\n\nSomeone (perhaps you) tried to register a new HCP portal "
                "account with this e-mail address, which already has an account. Nothing was "
                "changed.\n\nIf it was you, sign in, or reset your password here:\n%(link)s",
                name=user.name,
                link=external_url("auth.forgot_password"),
            )
            + confirm
            + "\n\n"
            + gettext("If it was not you, you can ignore this message."),
        )


def _npi_taken_mail(email: str, name: str) -> None:
    """Tell whoever typed ``email`` that the NPI they gave has an account (caller's
    transaction): only the owner of that mailbox learns it, never the page."""
    with _recipients_language(None):
        mail.enqueue(
            email,
            gettext("Your HCP portal registration"),
            gettext(
                "Hello %(name)s,\n\nWe could not create your account: the NPI you entered is "
                "already registered to another account. If that account is yours, sign in or "
                "reset its password here:\n%(link)s\n\nIf it is not yours, reply to this "
                "message or contact support: we will look into it.",
                name=name,
                link=external_url("auth.forgot_password"),
            ),
        )


def register_hcp(data: Registration) -> User | None:
    """Create a pending HCP account from the registration form, or tell the address's owner.

    Anyone may call it. Raises :class:`InvalidInput` (with ``field``) for a bad field. Otherwise
    the caller must answer the same whatever happened (no account enumeration): "check your
    e-mail". A new address gets a pending account, ``hcp.registered`` in the audit trail and the
    confirmation mail, and the account is returned. An address that already has an account
    creates nothing: its owner is mailed that someone tried (with a fresh confirmation link if
    the address is unconfirmed), ``auth.registration_existing`` is audited and ``None`` returned.
    An NPI already registered creates nothing either: the address typed is mailed why,
    ``auth.registration_npi_taken`` is audited and ``None`` returned. One transaction each.
    """
    email, npi, licence = _validate_registration(data)
    # Hash first, whatever happens next: a known address must cost the same time as a new one.
    password_hash = passwords.hash_password(data.password)
    existing = find_user_by_email(email)
    if existing is not None:
        _already_registered_mail(existing)
        audit.record(None, "auth.registration_existing", existing)
        db.session.commit()
        return None
    npi_owner = (
        db.session.scalar(select(HcpProfile.user_id).where(HcpProfile.npi == npi)) if npi else None
    )
    if npi_owner is not None:
        _npi_taken_mail(email, data.name.strip())
        audit.record(None, "auth.registration_npi_taken", ("users", npi_owner))
        db.session.commit()
        return None
    user = User(
        email=email,
        name=data.name.strip(),
        password_hash=password_hash,
        role=Role.HCP,
    )
    profile = HcpProfile(
        profession=Profession(data.profession),
        specialty=data.specialty,
        institution=data.institution.strip(),
        country=data.country,
        postal_code=data.postal_code.strip(),
        npi=npi,
        licence_number=licence,
        verification=Verification.PENDING,
        territory=find_territory_for(data.country, data.postal_code),
    )
    user.hcp_profile = profile
    db.session.add(user)
    try:
        db.session.flush()
        audit.record(
            user,
            "hcp.registered",
            user,
            country=data.country,
            profession=data.profession,
            specialty=data.specialty,
            territory=profile.territory.code if profile.territory else None,
        )
        _confirmation_mail(user)
        db.session.commit()
    except IntegrityError:
        # Two registrations raced past the checks above: the unique constraints decided, and
        # the loser is told nothing more than anyone else.
        db.session.rollback()
        return None
    return user


def _address_backoff_keys(remote_addr: str) -> tuple[str, str]:
    return f"login-backoff/failures/{remote_addr}", f"login-backoff/wait/{remote_addr}"


def _address_must_wait(remote_addr: str | None) -> bool:
    """Whether the client address is inside its backoff wait (with rate limiting on)."""
    if not remote_addr or not current_app.config.get("RATELIMIT_ENABLED", True):
        return False
    try:
        return limiter.storage.get(_address_backoff_keys(remote_addr)[1]) > 0
    except Exception:
        # A storage outage must not stop sign-in: the account's own backoff (in the database)
        # still holds.
        log.exception("sign-in backoff storage unavailable")
        return False


def _count_address_failure(remote_addr: str | None) -> None:
    """Count one failure of the client address; past the threshold, start its wait."""
    config = current_app.config
    if not remote_addr or not config.get("RATELIMIT_ENABLED", True):
        return
    failures_key, wait_key = _address_backoff_keys(remote_addr)
    try:
        failures = limiter.storage.incr(
            failures_key, int(config["LOGIN_ADDRESS_WINDOW_MINUTES"]) * 60
        )
        wait = backoff_seconds(failures, threshold=int(config["LOGIN_ADDRESS_MAX_FAILURES"]))
        if wait:
            limiter.storage.clear(wait_key)
            limiter.storage.incr(wait_key, wait)
    except Exception:  # see _address_must_wait
        log.exception("sign-in backoff storage unavailable")


def backoff_seconds(failures: int, *, threshold: int) -> int:
    """How long to wait after ``failures`` failures in a row: nothing below ``threshold``, then
    2^(failures - threshold) seconds, at most ``LOGIN_LOCKOUT_MINUTES``."""
    if failures < threshold:
        return 0
    cap = int(current_app.config["LOGIN_LOCKOUT_MINUTES"]) * 60
    return int(min(2 ** min(failures - threshold, 32), cap))


def authenticate(email: str, password: str, *, remote_addr: str | None = None) -> User:
    """Check credentials and return the user; commits the outcome either way.

    Raises :class:`InvalidInput` with one message, :data:`BAD_CREDENTIALS`, for everything a
    stranger might try to tell apart: an unknown address, a wrong password, an attempt inside a
    backoff wait, a new registration whose address is not confirmed yet. Each costs one
    password hash.

    Repeated failures slow attempts down instead of locking the owner out: after
    ``LOGIN_MAX_FAILURES`` failures in a row on an account (``LOGIN_ADDRESS_MAX_FAILURES`` from
    one client address) every further attempt waits :func:`backoff_seconds` after the last
    failure; an attempt inside the wait is refused without checking the password and does not
    count. The right password after the wait signs in. Raises :class:`PermissionDenied` for a
    suspended account (told only to someone who knows the password). Audits ``auth.login``,
    ``auth.login_failed``, ``auth.login_throttled`` and ``auth.login_refused``.
    """
    now = utcnow()
    user = None
    if email:
        # Locked while the password is checked, so parallel guesses queue up behind the count.
        user = db.session.scalar(
            select(User)
            .where(func.lower(User.email) == email.strip().lower())
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    account_waits = user is not None and user.locked_until is not None and user.locked_until > now
    address_waits = _address_must_wait(remote_addr)
    if user is None or account_waits or address_waits:
        passwords.check_password(None, password)  # the same work as a real check
        if user is not None:
            audit.record(user, "auth.login_throttled", user, ip=remote_addr)
            db.session.commit()
        elif not address_waits:
            _count_address_failure(remote_addr)
        raise InvalidInput(BAD_CREDENTIALS)
    if not passwords.check_password(user.password_hash, password):
        wait = count_failed_check(user, remote_addr=remote_addr)
        audit.record(
            user,
            "auth.login_failed",
            user,
            failures=user.failed_logins,
            wait_seconds=wait,
            ip=remote_addr,
        )
        db.session.commit()
        raise InvalidInput(BAD_CREDENTIALS)
    if user.suspended:
        audit.record(user, "auth.login_refused", user, reason="suspended", ip=remote_addr)
        db.session.commit()
        raise PermissionDenied("This account is suspended. Contact your administrator.")
    if user.email_confirmed_at is None and user.last_login_at is None:
        # A new registration signs in once its address is confirmed. Told apart from a wrong
        # password, this would tell whoever just "registered" a known address with a password
        # of their choosing that the address had an account. (Accounts that signed in before
        # this rule keep signing in.)
        audit.record(user, "auth.login_refused", user, reason="unconfirmed", ip=remote_addr)
        db.session.commit()
        raise InvalidInput(BAD_CREDENTIALS)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    audit.record(user, "auth.login", user, ip=remote_addr)
    db.session.commit()
    return user


def record_logout(user: User) -> None:
    """Audit a sign-out (``auth.logout``)."""
    audit.record(user, "auth.logout", user)
    db.session.commit()


def confirm_email(token: str) -> User:
    """Mark the address in ``token`` as confirmed. Raises :class:`InvalidInput` for a bad or
    expired link, or one for an address the account no longer has. Audits ``auth.email_confirmed``.
    """
    user_id, email = tokens.read_confirm_token(token)
    user = db.session.get(User, user_id)
    if user is None or user.email != email:
        raise InvalidInput("This link is not valid any more. Ask for a new one.")
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
        audit.record(user, "auth.email_confirmed", user)
        db.session.commit()
    return user


def resend_confirmation(user: User) -> None:
    """Queue a new confirmation mail for ``user`` if the address is not yet confirmed."""
    if user.email_confirmed_at is not None:
        return
    _confirmation_mail(user)
    audit.record(user, "auth.confirmation_resent", user)
    db.session.commit()


def _reset_mail(user: User, *, welcome: bool = False) -> None:
    link = external_url(
        "auth.reset_password", token=tokens.make_reset_token(user.id, user.password_hash)
    )
    with _recipients_language(user):
        if welcome:
            subject = gettext("Your HCP portal account: choose a password")
            intro = gettext(
                "An administrator created an account for you. Choose your password here:"
            )
        else:
            subject = gettext("Reset your HCP portal password")
            intro = gettext(
                "Someone (hopefully you) asked to reset your password. Choose a new one here:"
            )
        mail.enqueue(
            user.email,
            subject,
            gettext("Hello %(name)s,", name=user.name)
            + f"\n\n{intro}\n{link}\n\n"
            + gettext(
                "The link works once and expires soon. If you did not ask for this, ignore this "
                "message: your password is unchanged."
            ),
        )


def request_password_reset(email: str) -> None:
    """Queue a reset link if ``email`` has an account; says nothing either way (no enumeration).

    Audits ``auth.reset_requested`` for a known account.
    """
    user = find_user_by_email(email) if email else None
    if user is None or user.suspended:
        return
    _reset_mail(user)
    audit.record(user, "auth.reset_requested", user)
    db.session.commit()


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link; the link then stops working.

    Ends every session (``session_version`` bumps; ``session.revoked`` for each, their sockets
    disconnected) and lifts a lockout. Raises
    :class:`InvalidInput` for a bad, expired or used link or a weak password. Audits
    ``auth.password_reset``.
    """
    user_id, fingerprint = tokens.read_reset_token(token)
    user = db.session.get(User, user_id)
    if user is None or not tokens.reset_fingerprint_matches(user.password_hash, fingerprint):
        raise InvalidInput("This link has already been used or is not valid. Ask for a new one.")
    problem = passwords.password_problem(
        new_password, min_length=current_app.config["PASSWORD_MIN_LENGTH"], email=user.email
    )
    if problem:
        raise InvalidInput(problem, field="password")
    user.password_hash = passwords.hash_password(new_password)
    user.session_version += 1
    sessions.revoke_all(user, user, reason=sessions.Reason.PASSWORD_RESET)
    user.failed_logins = 0
    user.locked_until = None
    if user.email_confirmed_at is None:
        # Following a link sent to the address proves it is theirs.
        user.email_confirmed_at = utcnow()
    audit.record(user, "auth.password_reset", user)
    realtime.close_sockets_after_commit(db.session(), user.id)
    db.session.commit()
    return user


def welcome_staff_mail(user: User) -> None:
    """Queue the "choose your password" mail for a new staff account (caller's transaction)."""
    _reset_mail(user, welcome=True)


# --- the signed-in user checks a secret again (password change, two-factor settings) -------------
TOO_MANY_TRIES = "Too many wrong attempts. Wait a few minutes, then try again."
WRONG_PASSWORD = "That is not your current password."  # noqa: S105 (a message, not a password)


def must_wait_before_check(user: User, *, remote_addr: str | None) -> bool:
    """Whether a password or code that signed-in ``user`` typed must be refused unchecked: the
    account (or the client address) is inside a sign-in backoff wait (:func:`authenticate`).

    Takes ``user``'s row lock in the caller's transaction, as sign-in does, so parallel guesses
    queue up behind the count; the caller commits or rolls back.
    """
    db.session.scalar(
        select(User)
        .where(User.id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if user.locked_until is not None and user.locked_until > utcnow():
        return True
    return _address_must_wait(remote_addr)


def count_failed_check(user: User, *, remote_addr: str | None) -> int:
    """Count a wrong password or code typed by signed-in ``user`` as a failed sign-in: the same
    per-account and per-address backoff (a stolen session cannot guess faster than a stranger at
    the sign-in page). In the caller's transaction (after :func:`must_wait_before_check`).
    Returns the wait now in force, in seconds."""
    user.failed_logins += 1
    wait = backoff_seconds(
        user.failed_logins, threshold=int(current_app.config["LOGIN_MAX_FAILURES"])
    )
    user.locked_until = utcnow() + dt.timedelta(seconds=wait) if wait else None
    _count_address_failure(remote_addr)
    return wait


def _password_changed_mail(user: User) -> None:
    with _recipients_language(user):
        mail.enqueue(
            user.email,
            gettext("Your HCP portal password was changed"),
            gettext(
                "Hello %(name)s,\n\nThe password of your HCP portal account was just changed, "
                "and every other session of the account was signed out.\n\nIf you did not change "
                "it, reset your password now and tell your administrator or our support:\n"
                "%(link)s",
                name=user.name,
                link=external_url("auth.forgot_password"),
            ),
        )


def change_password(
    user: User,
    current_password: str,
    new_password: str,
    *,
    keep: UserSession,
    remote_addr: str | None = None,
) -> None:
    """Signed-in ``user`` changes their own password, proving the current one first.

    ``keep`` is the session asking (it must be ``user``'s): it stays open; every other session
    of ``user`` ends, and ``session_version`` moves on so that a sign-in half done elsewhere
    with the old password (the second-factor step) is void too. The kept session's sockets are
    disconnected after commit so they reconnect under the new version.

    Raises :class:`InvalidInput` with ``field="current_password"`` for a wrong current
    password (counted as a failed sign-in toward the account's and address's backoff; audited
    ``auth.password_change_failed``) or an attempt inside a backoff wait (refused unchecked), and
    with ``field="password"`` for a weak new password or the current one again; nothing else
    changes then. On success audits ``user.password_changed`` and ``session.revoked`` for each
    ended session, clears the sign-in failure count and queues a notice mail to the user, all in
    one transaction.
    """
    if keep.user_id != user.id:
        raise PermissionDenied("That is not your session.")
    if must_wait_before_check(user, remote_addr=remote_addr):
        db.session.rollback()
        raise InvalidInput(TOO_MANY_TRIES, field="current_password")
    if not passwords.check_password(user.password_hash, current_password):
        wait = count_failed_check(user, remote_addr=remote_addr)
        audit.record(
            user,
            "auth.password_change_failed",
            user,
            failures=user.failed_logins,
            wait_seconds=wait,
            ip=remote_addr,
        )
        db.session.commit()
        raise InvalidInput(WRONG_PASSWORD, field="current_password")
    problem = passwords.password_problem(
        new_password, min_length=current_app.config["PASSWORD_MIN_LENGTH"], email=user.email
    )
    if problem is None and new_password == current_password:
        problem = "Choose a password other than your current one."
    if problem:
        db.session.rollback()
        raise InvalidInput(problem, field="password")
    user.password_hash = passwords.hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    user.session_version += 1
    sessions.revoke_all(user, user, reason=sessions.Reason.PASSWORD_CHANGED, keep=keep)
    # The kept session's sockets proved the old session_version at connect and would be refused
    # from now on: closed, the browser reconnects them with its (still valid) cookie.
    session_sockets.disconnect_after_commit(db.session(), [keep.id])
    audit.record(user, "user.password_changed", user, ip=remote_addr)
    _password_changed_mail(user)
    db.session.commit()
