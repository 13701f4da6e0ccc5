"""Self-service account life: HCP registration, sign-in, email confirmation, password reset."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import audit, realtime
from portal.errors import AccountLocked, Conflict, InvalidInput, PermissionDenied
from portal.extensions import db
from portal.models import HcpProfile, Profession, Role, User, Verification, utcnow
from portal.models.reference import COUNTRIES, SPECIALTIES
from portal.npi import normalize_npi, npi_problem
from portal.services import mail, passwords, tokens
from portal.services.territories import find_territory_for
from portal.urls import external_url

BAD_CREDENTIALS = "Email or password is incorrect."


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


def _confirmation_mail(user: User) -> None:
    link = external_url("auth.confirm_email", token=tokens.make_confirm_token(user.id, user.email))
    mail.enqueue(
        user.email,
        "Confirm your email address for the HCP portal",
        f"Hello {user.name},\n\nPlease confirm your email address by opening this link:\n{link}\n\n"
        "If you did not register, you can ignore this message.",
    )


def register_hcp(data: Registration) -> User:
    """Create a pending HCP account from the registration form.

    Anyone may call it. Raises :class:`InvalidInput` (with ``field``) for a bad field and
    :class:`Conflict` for an email or NPI already registered. Writes ``hcp.registered`` to the audit
    trail and queues the email-confirmation mail, in one transaction.
    """
    email, npi, licence = _validate_registration(data)
    if find_user_by_email(email) is not None:
        raise Conflict(
            "An account with this email address already exists. Sign in or reset your password.",
            field="email",
        )
    if npi and db.session.scalar(select(HcpProfile.user_id).where(HcpProfile.npi == npi)):
        raise Conflict(
            "This NPI is already registered to another account. Contact support if it is yours.",
            field="npi",
        )
    user = User(
        email=email,
        name=data.name.strip(),
        password_hash=passwords.hash_password(data.password),
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
    except IntegrityError as exc:
        # Two registrations raced past the checks above: the unique constraints decide.
        db.session.rollback()
        raise Conflict("This email address or NPI is already registered.", field="email") from exc
    return user


def authenticate(email: str, password: str, *, remote_addr: str | None = None) -> User:
    """Check credentials and return the user; commits the outcome either way.

    Raises :class:`InvalidInput` with one message for an unknown email or a wrong password (no
    account enumeration), :class:`AccountLocked` while locked out after ``LOGIN_MAX_FAILURES``
    failures in a row, and :class:`PermissionDenied` for a suspended account (told only to someone
    who knows the password). Audits ``auth.login``, ``auth.login_failed`` and ``auth.locked``.
    """
    config = current_app.config
    now = utcnow()
    user = find_user_by_email(email) if email else None
    if user is None:
        passwords.check_password(None, password)  # same work as a real check
        raise InvalidInput(BAD_CREDENTIALS)
    if user.locked_until is not None and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise AccountLocked(
            f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''} "
            "or reset your password."
        )
    if not passwords.check_password(user.password_hash, password):
        user.failed_logins += 1
        audit.record(user, "auth.login_failed", user, failures=user.failed_logins, ip=remote_addr)
        locked = user.failed_logins >= config["LOGIN_MAX_FAILURES"]
        if locked:
            user.locked_until = now + dt.timedelta(minutes=config["LOGIN_LOCKOUT_MINUTES"])
            user.failed_logins = 0
            audit.record(
                user, "auth.locked", user, until=user.locked_until.isoformat(), ip=remote_addr
            )
        db.session.commit()
        if locked:
            raise AccountLocked(
                f"Too many failed sign-ins. The account is locked for "
                f"{config['LOGIN_LOCKOUT_MINUTES']} minutes; you can reset your password meanwhile."
            )
        raise InvalidInput(BAD_CREDENTIALS)
    if user.suspended:
        audit.record(user, "auth.login_refused", user, reason="suspended", ip=remote_addr)
        db.session.commit()
        raise PermissionDenied("This account is suspended. Contact your administrator.")
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
    if welcome:
        subject = "Your HCP portal account: choose a password"
        intro = "An administrator created an account for you. Choose your password here:"
    else:
        subject = "Reset your HCP portal password"
        intro = "Someone (hopefully you) asked to reset your password. Choose a new one here:"
    mail.enqueue(
        user.email,
        subject,
        f"Hello {user.name},\n\n{intro}\n{link}\n\nThe link works once and expires soon. "
        "If you did not ask for this, ignore this message: your password is unchanged.",
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

    Ends every other session (``session_version`` bumps) and lifts a lockout. Raises
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
