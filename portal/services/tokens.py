"""Signed, expiring tokens for email confirmation and password reset (itsdangerous)."""

from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal.errors import InvalidInput

CONFIRM_SALT = "portal.confirm-email"
RESET_SALT = "portal.reset-password"


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _fingerprint(secret: str) -> str:
    # A reset token is bound to the password it replaces, so it works once.
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def make_confirm_token(user_id: int, email: str) -> str:
    return _serializer(CONFIRM_SALT).dumps({"u": user_id, "e": email})


def make_reset_token(user_id: int, password_hash: str) -> str:
    return _serializer(RESET_SALT).dumps({"u": user_id, "p": _fingerprint(password_hash)})


def _load(salt: str, token: str, max_age: int) -> dict:
    try:
        data = _serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise InvalidInput("This link has expired. Ask for a new one.") from exc
    except BadSignature as exc:
        raise InvalidInput("This link is not valid. Ask for a new one.") from exc
    if not isinstance(data, dict):
        raise InvalidInput("This link is not valid. Ask for a new one.")
    return data


def read_confirm_token(token: str) -> tuple[int, str]:
    data = _load(CONFIRM_SALT, token, current_app.config["EMAIL_CONFIRM_MAX_AGE"])
    return int(data["u"]), str(data["e"])


def read_reset_token(token: str) -> tuple[int, str]:
    data = _load(RESET_SALT, token, current_app.config["PASSWORD_RESET_MAX_AGE"])
    return int(data["u"]), str(data["p"])


def reset_fingerprint_matches(password_hash: str, fingerprint: str) -> bool:
    return _fingerprint(password_hash) == fingerprint
