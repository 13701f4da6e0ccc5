"""Two-factor sign-in: TOTP (RFC 6238) codes from an authenticator app, with single-use
recovery codes.

Every staff role must enrol when ``TWO_FACTOR_REQUIRED`` is on (the default); HCPs may turn it on
for themselves, and off again. A TOTP code is accepted once: the last accepted time step is
remembered, so a code seen over someone's shoulder cannot be replayed within its window. Recovery
codes are stored as scrypt hashes and each works once; the enrolled user may replace them all.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from portal import audit, policy
from portal.errors import Conflict, InvalidInput
from portal.extensions import db
from portal.models import RecoveryCode, TwoFactor, User, utcnow
from portal.services import accounts, mail, sessions
from portal.urls import external_url

RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
# Recovery codes carry 50 random bits: a moderate scrypt cost is plenty and keeps sign-in quick.
_RECOVERY_HASH = "scrypt:16384:8:1"
BAD_CODE = "That code is not right. Try the current code, or a recovery code."


def find_enrolment(user: User) -> TwoFactor | None:
    """``user``'s enrolment, confirmed or under way, or ``None``."""
    return db.session.get(TwoFactor, user.id)


def is_enrolled(user: User) -> bool:
    """Whether ``user`` signs in with a second factor."""
    enrolment = find_enrolment(user)
    return enrolment is not None and enrolment.confirmed_at is not None


def find_user_for_second_step(user_id: object, session_version: object) -> User | None:
    """The account that passed the password step in this browser, if it still may sign in: it
    exists, is active, and no password reset or "sign out everywhere" came since."""
    if not isinstance(user_id, int) or not isinstance(session_version, int):
        return None
    user = db.session.get(User, user_id)
    if user is None or user.suspended or user.session_version != session_version:
        return None
    return user


def is_required(user: User) -> bool:
    """Whether ``user`` must enrol before doing anything: every staff role, while
    ``TWO_FACTOR_REQUIRED`` is on."""
    return not user.is_hcp and bool(current_app.config["TWO_FACTOR_REQUIRED"])


def begin_enrolment(user: User) -> TwoFactor:
    """Start (or continue) ``user``'s enrolment: a fresh secret, not yet in force.

    Raises :class:`Conflict` when already enrolled. Nothing is audited until confirmation.
    """
    enrolment = find_enrolment(user)
    if enrolment is not None and enrolment.confirmed_at is not None:
        raise Conflict("Two-factor sign-in is already on for this account.")
    if enrolment is None:
        enrolment = TwoFactor(user_id=user.id, secret=pyotp.random_base32())
        db.session.add(enrolment)
        db.session.commit()
    return enrolment


def provisioning_uri(user: User, enrolment: TwoFactor) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    return pyotp.TOTP(enrolment.secret).provisioning_uri(
        name=user.email, issuer_name=str(current_app.config["TWO_FACTOR_ISSUER"])
    )


def qr_code_svg(uri: str) -> str:
    """``uri`` as an SVG QR code, drawn here (no remote service; no script or inline style)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2, title="QR code"))


def _normalize(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())[:32]


def _matching_step(enrolment: TwoFactor, code: str) -> int | None:
    """The time step (-1, 0 or +1 around now, for clock drift) whose code is ``code``."""
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(enrolment.secret)
    now_step = totp.timecode(utcnow())
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(
            RecoveryCode(
                user_id=user.id, code_hash=generate_password_hash(raw, method=_RECOVERY_HASH)
            )
        )
    return codes


def confirm_enrolment(user: User, code: str) -> list[str]:
    """Put ``user``'s enrolment in force once they type a current code from their app.

    Returns the ten recovery codes, in clear for this one time only (stored hashed). Raises
    :class:`InvalidInput` for a wrong code, :class:`Conflict` without an enrolment under way.
    Audits ``two_factor.enrolled``.
    """
    enrolment = find_enrolment(user)
    if enrolment is None or enrolment.confirmed_at is not None:
        raise Conflict("Start two-factor enrolment again.")
    step = _matching_step(enrolment, _normalize(code))
    if step is None:
        raise InvalidInput(
            "That code is not right. Check your phone's clock and type the current code.",
            field="code",
        )
    enrolment.confirmed_at = utcnow()
    enrolment.last_used_step = step
    codes = _new_recovery_codes(user)
    audit.record(user, "two_factor.enrolled", user)
    db.session.commit()
    return codes


def _use_recovery_code(user: User, code: str) -> int | None:
    """Spend a recovery code; the number left, or ``None`` if ``code`` is none of them."""
    unused: Sequence[RecoveryCode] = db.session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    for row in unused:
        if check_password_hash(row.code_hash, code):
            row.used_at = utcnow()
            return len(unused) - 1
    return None


def verify(user: User, code: str, *, ip: str | None = None) -> None:
    """The second step of signing in: a current TOTP code or an unused recovery code.

    Raises :class:`InvalidInput` for a wrong code, a TOTP code already used (replay) or a spent
    recovery code. Audits ``auth.two_factor`` (method), ``two_factor.recovery_code_used``
    (codes left) or ``auth.two_factor_failed`` (reason), and commits either way.
    """
    enrolment = find_enrolment(user)
    if enrolment is None or enrolment.confirmed_at is None:
        raise InvalidInput(BAD_CODE, field="code")
    normalized = _normalize(code)
    step = _matching_step(enrolment, normalized)
    if step is not None:
        if step <= enrolment.last_used_step:
            audit.record(user, "auth.two_factor_failed", user, reason="code reused", ip=ip)
            db.session.commit()
            raise InvalidInput("That code was used already. Wait for the next one.", field="code")
        enrolment.last_used_step = step
        audit.record(user, "auth.two_factor", user, method="totp", ip=ip)
        db.session.commit()
        return
    left = _use_recovery_code(user, normalized) if len(normalized) == 10 else None
    if left is not None:
        audit.record(user, "two_factor.recovery_code_used", user, remaining=left, ip=ip)
        db.session.commit()
        return
    audit.record(user, "auth.two_factor_failed", user, reason="wrong code", ip=ip)
    db.session.commit()
    raise InvalidInput(BAD_CODE, field="code")


def unused_recovery_codes(user: User) -> int:
    """How many recovery codes ``user`` has left."""
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def reset(actor: User, user: User) -> None:
    """An administrator clears a colleague's enrolment (a lost phone): they enrol again at their
    next sign-in, and every session they have ends now.

    Administrators only, never on themselves. Audits ``two_factor.reset`` and
    ``session.revoked``; the sessions' sockets close after commit.
    """
    policy.require(
        policy.can_manage_sign_in(actor, user), "You cannot reset this account's sign-in."
    )
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(TwoFactor).where(TwoFactor.user_id == user.id))
    user.session_version += 1
    sessions.revoke_all(actor, user, reason=sessions.Reason.TWO_FACTOR_RESET)
    audit.record(actor, "two_factor.reset", user)
    db.session.commit()


# --- the signed-in user manages their own enrolment -----------------------------------------------
WRONG_CURRENT_CODE = "That code is not right. Type the current code from your authenticator app."


def can_turn_off(user: User) -> bool:
    """Whether ``user`` may turn off their own second factor (see
    :func:`portal.policy.can_turn_off_two_factor`)."""
    return policy.can_turn_off_two_factor(
        user, staff_must_enrol=bool(current_app.config["TWO_FACTOR_REQUIRED"])
    )


def _check_current_code(user: User, code: str, *, purpose: str, ip: str | None) -> TwoFactor:
    """Prove a current TOTP code (recovery codes do not count here) before changing ``user``'s
    enrolment; the locked, confirmed enrolment.

    A wrong code counts as a failed sign-in toward the account's backoff; it and a replayed one
    are audited ``auth.two_factor_failed`` (with ``purpose``) and committed, then
    :class:`InvalidInput` (``field="code"``) is raised. Inside a backoff wait the code is refused
    unchecked. Raises
    :class:`Conflict` when ``user`` is not enrolled. Never commits on success.
    """
    enrolment = db.session.scalar(
        select(TwoFactor).where(TwoFactor.user_id == user.id).with_for_update()
    )
    if enrolment is None or enrolment.confirmed_at is None:
        db.session.rollback()
        raise Conflict("Two-factor sign-in is not on for this account.")
    if accounts.must_wait_before_check(user, remote_addr=ip):
        db.session.rollback()
        raise InvalidInput(accounts.TOO_MANY_TRIES, field="code")
    step = _matching_step(enrolment, _normalize(code))
    if step is None:
        wait = accounts.count_failed_check(user, remote_addr=ip)
        audit.record(
            user,
            "auth.two_factor_failed",
            user,
            reason="wrong code",
            purpose=purpose,
            failures=user.failed_logins,
            wait_seconds=wait,
            ip=ip,
        )
        db.session.commit()
        raise InvalidInput(WRONG_CURRENT_CODE, field="code")
    if step <= enrolment.last_used_step:
        # Not a guess (it was right a moment ago), so not counted; but never accepted twice.
        audit.record(
            user, "auth.two_factor_failed", user, reason="code reused", purpose=purpose, ip=ip
        )
        db.session.commit()
        raise InvalidInput("That code was used already. Wait for the next one.", field="code")
    enrolment.last_used_step = step
    user.failed_logins = 0
    user.locked_until = None
    return enrolment


def regenerate_recovery_codes(user: User, code: str, *, ip: str | None = None) -> list[str]:
    """Signed-in, enrolled ``user`` replaces their recovery codes, proving a current code from
    their app: every old code stops working and ten new ones are returned, in clear for this one
    time only (stored hashed).

    Raises :class:`InvalidInput` for a wrong, replayed or throttled code (see
    :func:`_check_current_code`), :class:`Conflict` when not enrolled. Audits
    ``two_factor.recovery_codes_regenerated``.
    """
    _check_current_code(user, code, purpose="new recovery codes", ip=ip)
    codes = _new_recovery_codes(user)
    audit.record(user, "two_factor.recovery_codes_regenerated", user, ip=ip)
    db.session.commit()
    return codes


def _turned_off_mail(user: User) -> None:
    link = external_url("auth.forgot_password")
    mail.enqueue(
        user.email,
        "Two-factor sign-in is off for your HCP portal account",
        f"Hello {user.name},\n\nTwo-factor sign-in was just turned off for your HCP portal "
        "account: from now on your password alone signs you in.\n\nIf you did not do this, "
        f"reset your password now and turn it on again:\n{link}",
    )


def turn_off(user: User, code: str, *, ip: str | None = None) -> None:
    """Signed-in ``user`` turns off their own second factor, proving a current code from their
    app. Only who :func:`portal.policy.can_turn_off_two_factor` allows: an HCP (who chose to turn
    it on), never staff while ``TWO_FACTOR_REQUIRED`` is on.

    The secret and every recovery code are deleted; a notice mail is queued. Raises
    :class:`PermissionDenied` for staff, :class:`Conflict` when not enrolled,
    :class:`InvalidInput` for a wrong, replayed or throttled code. Audits
    ``two_factor.turned_off``.
    """
    policy.require(can_turn_off(user), "Your role must sign in with a second factor.")
    _check_current_code(user, code, purpose="turn off", ip=ip)
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(TwoFactor).where(TwoFactor.user_id == user.id))
    audit.record(user, "two_factor.turned_off", user, ip=ip)
    _turned_off_mail(user)
    db.session.commit()
