"""Domain exceptions. Services raise them; each entry point translates them once."""

from __future__ import annotations


class PortalError(Exception):
    """Base of every error a user may be told about."""

    code = "error"
    status = 400

    def __init__(
        self,
        message: str = "",
        *,
        field: str | None = None,
        errors: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.field = field
        # Every bad field at once, so a form can show them all; ``field``/``message`` is the first.
        self.errors: dict[str, str] = errors or ({field: self.message} if field else {})


class NotFound(PortalError):
    """That was not found."""

    code = "not_found"
    status = 404


class PermissionDenied(PortalError):
    """You are not allowed to do that."""

    code = "forbidden"
    status = 403


class InvalidInput(PortalError):
    """That input is not valid."""

    code = "invalid"
    status = 400


class Conflict(PortalError):
    """That conflicts with the current state."""

    code = "conflict"
    status = 409


class AccountLocked(PortalError):
    """Too many failed sign-ins: the account is locked for a while."""

    code = "locked"
    status = 429
