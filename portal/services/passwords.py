"""Password hashing with Argon2id.

Production uses argon2-cffi's default (RFC 9106 low-memory) parameters. The test suite sets
``PASSWORD_HASH_PROFILE = "cheapest"`` so thousands of sign-ins stay fast; hashes record their own
parameters, and a hash made with weaker ones than configured is upgraded at the next sign-in.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context

PROFILES = {
    "default": profiles.RFC_9106_LOW_MEMORY,
    "cheapest": profiles.CHEAPEST,
}


@functools.cache
def _hasher_for(profile: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(PROFILES[profile])


@functools.cache
def _dummy_hash(profile: str) -> str:
    # Checked when the account does not exist, so timing does not reveal which emails exist.
    return _hasher_for(profile).hash("not-a-real-password-for-timing")


def _profile() -> str:
    if has_app_context():
        return str(current_app.config.get("PASSWORD_HASH_PROFILE", "default"))
    return "default"


def hash_password(password: str) -> str:
    return _hasher_for(_profile()).hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    hasher = _hasher_for(_profile())
    try:
        return hasher.verify(password_hash or _dummy_hash(_profile()), password) and bool(
            password_hash
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher_for(_profile()).check_needs_rehash(password_hash)


def password_problem(password: str, *, min_length: int, email: str = "") -> str | None:
    """What is wrong with ``password``, in words for the form, or ``None``."""
    if len(password) < min_length:
        return f"Use at least {min_length} characters."
    if len(password) > 256:
        return "Use at most 256 characters."
    local = email.split("@", 1)[0].lower()
    if local and len(local) >= 4 and local in password.lower():
        return "Do not use your email address in your password."
    if len(set(password)) < 5:
        return "Use a less repetitive password."
    return None
