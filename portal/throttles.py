"""Throttles on the routes that create records: per user, per client address, per e-mail address.

One HCP session once created 728 questions in 48 seconds (730 e-mails, 729 staff notifications).
Every route that inserts rows on someone's behalf carries :func:`throttled` with the name of its
throttle; the limits are configuration (``THROTTLES``, defaults in :mod:`portal.config`, listed in
the README). The counters live in Flask-Limiter's storage, Redis when ``REDIS_URL`` is set, so
every process counts against one budget. A throttle spans every route that carries its name
(reporting to PV from a question or from a chat spends one budget).

Only what was done counts: a request is counted when it created something (a redirect or
``201``), not when a form came back with a problem to fix. Once the budget is spent the request
is refused before the view runs: a friendly 429 page that says when to try again and gives back
the text the person typed, so nothing is lost (JSON for the chat's scripts).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_limiter import RequestLimit
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from portal.extensions import limiter

F = TypeVar("F", bound=Callable[..., Any])


class Throttle(enum.StrEnum):
    """The budgets; each is a key of the ``THROTTLES`` setting."""

    QUESTIONS = "questions"
    FOLLOW_UPS = "follow-ups"
    ANSWERS = "answers"
    CHAT_INVITATIONS = "chat-invitations"
    CHAT_STARTS = "chat-starts"
    UPLOADS = "uploads"
    PV_REPORTS = "pv-reports"
    PV_FOLLOW_UPS = "pv-follow-ups"
    PV_ANSWERS = "pv-answers"
    STAFF_INVITATIONS = "staff-invitations"
    REGISTRATIONS = "registrations"
    PASSWORD_RESETS = "password-resets"  # noqa: S105 - a name, not a password
    CALL_NOTES = "call-notes"
    OUTREACH = "outreach"
    MEETINGS = "meetings"
    PREFERENCES = "preferences"
    WEBHOOKS = "webhooks"
    API_TOKENS = "api-tokens"
    EXPORTS = "exports"  # supervisory exports (portal/records)
    RETENTION = "retention"  # retention periods and legal holds (portal/retention)


class Key(enum.StrEnum):
    """Whose budget a request spends."""

    USER = "user"
    ADDRESS = "address"
    EMAIL = "email"


# What the refusal page says was done too often.
WHAT = {
    Throttle.QUESTIONS: "asked many questions",
    Throttle.FOLLOW_UPS: "added many follow-ups",
    Throttle.ANSWERS: "written many answers and notes",
    Throttle.CHAT_INVITATIONS: "sent many chat invitations",
    Throttle.CHAT_STARTS: "started many chats",
    Throttle.UPLOADS: "uploaded many materials",
    Throttle.PV_REPORTS: "sent many reports to Pharmacovigilance",
    Throttle.PV_FOLLOW_UPS: "sent many follow-up questions",
    Throttle.PV_ANSWERS: "sent many answers to Pharmacovigilance",
    Throttle.STAFF_INVITATIONS: "invited many colleagues",
    Throttle.REGISTRATIONS: "sent many registrations",
    Throttle.PASSWORD_RESETS: "asked for many password resets",
    Throttle.CALL_NOTES: "recorded many interactions and plans",
    Throttle.OUTREACH: "shared many materials",
    Throttle.MEETINGS: "sent many meeting requests and answers",
    Throttle.PREFERENCES: "changed your account many times",
    Throttle.WEBHOOKS: "created many webhook subscriptions and test events",
    Throttle.API_TOKENS: "created many API tokens",
    Throttle.EXPORTS: "started many exports",
    Throttle.RETENTION: "changed retention periods and legal holds many times",
}

# Form fields never echoed back on the refusal page.
_NOT_ECHOED = {"csrf_token", "password", "confirm", "current_password", "submit"}


def _limit_of(name: Throttle, key: Key) -> str:
    return str(current_app.config["THROTTLES"].get(name.value, {}).get(key.value) or "")


def _email_key() -> str:
    # The address as typed, lower-cased: a registration or reset mail per address is bounded
    # whichever client sends the forms, and known and unknown addresses count alike.
    return "email:" + (request.form.get("email") or "").strip().lower()


# The throttles of forms that strangers send; every other one is for signed-in people only
# (a stranger's POST there is turned away by the sign-in check and spends nothing).
ANONYMOUS = {Throttle.REGISTRATIONS, Throttle.PASSWORD_RESETS}


def _exempt(name: Throttle, key: Key) -> bool:
    if not _limit_of(name, key):
        return True
    if key is Key.EMAIL:
        return not (request.form.get("email") or "").strip()
    return name not in ANONYMOUS and not current_user.is_authenticated


def _created(response: Response) -> bool:
    """Count what was done (a redirect after success, or ``201``), not a form sent back."""
    return response.status_code in (201, 302, 303)


_KEY_FUNCS: dict[Key, Callable[[], str]] = {
    Key.USER: lambda: f"user:{getattr(current_user, 'id', '')}",
    Key.ADDRESS: get_remote_address,
    Key.EMAIL: _email_key,
}


def throttled(name: Throttle, *keys: Key) -> Callable[[F], F]:
    """Decorate a view: its POSTs spend the ``name`` budget of each of ``keys`` (default: the
    user's and the client address's). Place it below ``@blueprint.route`` and above
    ``@login_required``."""
    chosen = keys or (Key.USER, Key.ADDRESS)

    def decorate(view: F) -> F:
        wrapped: Callable[..., Any] = view
        for key in chosen:
            wrapped = limiter.shared_limit(
                functools.partial(_limit_of, name, key),
                scope=f"throttle:{name.value}:{key.value}",
                key_func=_KEY_FUNCS[key],
                methods=["POST"],
                exempt_when=functools.partial(_exempt, name, key),
                deduct_when=_created,
                on_breach=functools.partial(_refusal, name),
            )(wrapped)
        return cast(F, wrapped)

    return decorate


def _retry_after(limit: RequestLimit) -> int:
    return max(1, math.ceil(limit.reset_at - time.time()))


def _wait_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{math.ceil(minutes / 60)} hours"


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or (best == "application/json" and request.accept_mimetypes[best] > 0)


def _refusal(name: Throttle, limit: RequestLimit) -> Response:
    """The friendly 429: when to try again, and the text the person typed."""
    seconds = _retry_after(limit)
    message = (
        f"You have {WHAT[name]} in a short time. Please wait {_wait_words(seconds)} and try again."
    )
    if _wants_json():
        response = jsonify({"ok": False, "error": "too_many", "message": message})
    else:
        kept = [
            (field, value)
            for field, value in request.form.items(multi=True)
            if field not in _NOT_ECHOED and value.strip()
        ]
        retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        response = Response(
            render_template(
                "portal/throttled.html",
                message=message,
                kept=kept,
                retry_at=retry_at,
                back=request.referrer if _same_site(request.referrer) else None,
            )
        )
    response.status_code = 429
    response.headers["Retry-After"] = str(seconds)
    return response


def _same_site(url: str | None) -> bool:
    return bool(url) and str(url).startswith(request.host_url)


def init_app(app: Flask) -> None:
    """Answer a spent throttle with its own page; any other 429 (the sign-in limit) keeps the
    generic error page."""

    @app.errorhandler(RateLimitExceeded)
    def too_many(exc: RateLimitExceeded) -> Any:
        if exc.response is not None:
            return exc.response
        generic = app.error_handler_spec[None][None][HTTPException]
        return generic(exc)
