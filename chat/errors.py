"""The chat's refusals, each with the error code the protocol gives it (docs/chat-protocol.md)."""

from __future__ import annotations

from portal.errors import InvalidInput, PermissionDenied, PortalError


class ConsentRequired(PermissionDenied):
    """The conversation is not open: the HCP has not opted in, or has ended the chat."""

    code = "consent_required"


class TooLong(InvalidInput):
    code = "too_long"


class RateLimited(PortalError):
    code = "rate_limited"


class Restricted(InvalidInput):
    """A staff message containing a restricted phrase: refused, with the phrase named."""

    code = "restricted"

    def __init__(self, message: str, phrase: str, *, matched: str = "") -> None:
        super().__init__(message, field="body")
        self.phrase = phrase
        self.matched = matched or phrase


class SessionEnded(PermissionDenied):
    """The sign-in session a socket was opened with has ended (signed out, revoked, idle,
    expired, account suspended): the event is refused and the socket closed."""

    def __init__(self, message: str = "Your session has ended: sign in again.") -> None:
        super().__init__(message)


# The codes the protocol documents.
ERROR_CODES = frozenset(
    {
        "not_found", "consent_required", "too_long", "rate_limited", "invalid", "unavailable",
        "restricted", "forbidden",
    }
)  # fmt: skip


def error_code(exc: PortalError) -> str:
    """The protocol's error code for a domain exception: its own code when the protocol has
    it (``not_found``, ``forbidden``, ``too_long``...), else ``invalid`` (e.g. a conflict)."""
    return exc.code if exc.code in ERROR_CODES else "invalid"
