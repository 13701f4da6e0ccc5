"""One translation of errors to HTTP responses: friendly pages, JSON for JSON clients."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal.errors import PortalError

log = logging.getLogger(__name__)

TITLES = {
    400: "That request could not be understood",
    403: "You are not allowed to do that",
    404: "Page not found",
    405: "That method is not allowed here",
    409: "That conflicts with the current state",
    413: "That upload is too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or (best == "application/json" and request.accept_mimetypes[best] > 0)


def render_error(
    status: int, message: str, code: str = "error", *, errors: dict[str, Any] | None = None
) -> tuple[Response | str, int]:
    from portal.api import problems

    if problems.is_api_request():
        return problems.problem(status, message, code=code, errors=errors), status
    if _wants_json():
        return jsonify({"ok": False, "error": code, "message": message}), status
    return (
        render_template(
            "portal/error.html",
            status=status,
            title=TITLES.get(status, "Error"),
            message=message,
            request_id=g.get("request_id", ""),
        ),
        status,
    )


def init_app(app: Flask) -> None:
    @app.errorhandler(PortalError)
    def portal_error(exc: PortalError) -> tuple[Response | str, int]:
        return render_error(exc.status, exc.message, exc.code, errors=exc.errors or None)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[Response | str, int]:
        return render_error(
            400,
            "This form has expired or was not sent from the portal. Reload the page and try again.",
            "csrf",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int] | HTTPException:
        status = exc.code or 500
        if status < 400:
            return exc
        messages = {
            404: "The page you asked for does not exist, or you do not have access to it.",
            413: "The file is larger than the portal accepts.",
            429: "You have tried too often. Wait a minute and try again.",
        }
        # flask-smorest's argument parser (the API) puts each invalid field in ``data``.
        data = getattr(exc, "data", None)
        errors = data.get("messages") if isinstance(data, dict) else None
        return render_error(
            status,
            messages.get(status, exc.description or ""),
            exc.name.lower().replace(" ", "_"),
            errors=errors if isinstance(errors, dict) else None,
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response | str, int]:
        log.exception("unhandled error (request %s)", g.get("request_id", "-"))
        from portal.extensions import db

        db.session.rollback()
        return render_error(
            500,
            "The error has been logged. Please try again; if it persists, quote the reference "
            "below.",
            "server_error",
        )
