"""Home pages per role, the health check and the audit trail viewer."""

from __future__ import annotations

from flask import (
    Blueprint,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_login import current_user, login_required
from sqlalchemy import text
from werkzeug.wrappers import Response

from portal import audit, i18n, inputs, policy
from portal.auth.forms import ResendConfirmationForm
from portal.errors import InvalidInput
from portal.extensions import db, limiter
from portal.main.badges import badge_counts
from portal.main.panels import panels_for
from portal.models import Role, User
from portal.services import audit_sentences, audit_trail, coverage, notifications, users

blueprint = Blueprint("main", __name__)


@blueprint.app_context_processor
def _badges() -> dict[str, int]:
    # The navigation bar's counts (the bell, chat), on every page.
    signed_in = getattr(current_user, "is_authenticated", False)
    return badge_counts(current_user._get_current_object() if signed_in else None)


@blueprint.route("/")
@login_required
def home() -> str:
    user = current_user._get_current_object()
    if user.role is Role.HCP:
        if policy.can_see_professional_content(user):
            return render_template(
                "portal/home/hcp.html",
                profile=user.hcp_profile,
                field_team=coverage.field_team_for(user),
                panels=panels_for(user),
            )
        return render_template(
            "portal/home/pending.html",
            profile=user.hcp_profile,
            resend_form=ResendConfirmationForm(),
        )
    context: dict[str, object] = {}
    if user.role is Role.ADMIN:
        context["pending_count"] = users.count_pending_hcps()
    return render_template(
        "portal/home/staff.html", side=policy.side_of(user.role), panels=panels_for(user), **context
    )


@blueprint.route("/healthz")
@limiter.exempt
def healthz() -> tuple[Response, int]:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means unhealthy
        db.session.rollback()
        return jsonify({"status": "error", "database": type(exc).__name__}), 503
    return jsonify({"status": "ok", "database": "ok"}), 200


@blueprint.route("/audit")
@login_required
def audit_log() -> str | tuple[str, int]:
    actor = current_user._get_current_object()
    policy.require_visible(policy.can_view_audit_trail(actor))
    return _audit_page(actor, verification=None)


@blueprint.route("/audit/verify", methods=["POST"])
@login_required
def verify_audit_chain() -> str | tuple[str, int]:
    actor = current_user._get_current_object()
    policy.require_visible(policy.can_view_audit_trail(actor))
    return _audit_page(actor, verification=audit_trail.verify_chain(actor))


@blueprint.route("/audit/export.csv")
@login_required
def export_audit_trail() -> Response | str | tuple[str, int]:
    actor = current_user._get_current_object()
    policy.require_visible(policy.can_view_audit_trail(actor))
    try:
        filters = audit_trail.parse_filters(request.args, zone=i18n.current_timezone())
        export = audit_trail.export_records(actor, filters)
    except InvalidInput as exc:
        return _audit_page(actor, problem=exc)
    # Chosen now, while the signed-in user is at hand: the CSV's sentences are written after
    # the view has returned (flask-babel keeps the choice for the rest of the request).
    i18n.current_timezone()
    get_locale()
    return Response(
        stream_with_context(export.lines()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


def _audit_page(
    actor: User,
    *,
    verification: audit.VerifyResult | None = None,
    problem: InvalidInput | None = None,
) -> str | tuple[str, int]:
    """The audit trail page, filtered by the query string; 400 with the filters' problems (or
    the export's) named on it."""
    context = {
        "verification": verification,
        "args": request.args,
        "groups": audit_sentences.grouped_actions(),
        "known_actions": audit_sentences.ACTIONS,
        "zone": i18n.zone_label(),
    }
    try:
        filters = audit_trail.parse_filters(request.args, zone=i18n.current_timezone())
    except InvalidInput as exc:
        problem = exc
        filters = None
    if problem is not None:
        shown = render_template("portal/audit.html", page=None, rows=[], problem=problem, **context)
        return shown, 400
    page = audit_trail.list_records(actor, filters, page=inputs.query_page())
    return render_template(
        "portal/audit.html",
        page=page,
        rows=audit_sentences.readable(actor, page.items),
        filters=filters,
        problem=None,
        **context,
    )


@blueprint.route("/notifications", endpoint="notifications")
@login_required
def notifications_page() -> str:
    user = current_user._get_current_object()
    return render_template("portal/notifications.html", items=notifications.recent(user))


@blueprint.route("/notifications/<int:notification_id>", methods=["POST"])
@login_required
def open_notification(notification_id: int) -> Response:
    target = notifications.open_notification(current_user._get_current_object(), notification_id)
    # Only ever a path inside the portal (stored by the server, never taken from the client).
    return redirect(target if target.startswith("/") and not target.startswith("//") else "/")


@blueprint.route("/notifications/read", methods=["POST"])
@login_required
def read_all_notifications() -> Response:
    notifications.mark_all_read(current_user._get_current_object())
    return redirect(url_for("main.notifications"))
