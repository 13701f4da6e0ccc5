"""The supervisory export pages, under ``/records/exports``: compliance asks for an export, follows
its progress and downloads the file. Everyone else gets 404 (the pages do not exist for them).

Thin: the form is read here, the rules and the work are in :mod:`portal.records.export`.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from portal import i18n, inputs, policy
from portal.errors import PortalError
from portal.forms import attach_errors
from portal.models import User
from portal.records import export, filters
from portal.records.forms import ExportForm
from portal.throttles import Throttle, throttled

blueprint = Blueprint("records", __name__)

REFRESH_SECONDS = 5  # how often a page with a running export reloads itself


def _actor() -> User:
    actor: User = current_user._get_current_object()
    policy.require_visible(policy.can_run_supervisory_export(actor), "That page")
    return actor


def _timezone() -> str:
    return str(i18n.current_timezone().key)


def _index(form: ExportForm, status: int = 200) -> tuple[str, int]:
    actor = _actor()
    page = export.list_runs(actor, page=inputs.query_page())
    running = any(run.in_progress for run in page.items)
    return (
        render_template(
            "records/exports.html",
            form=form,
            page=page,
            timezone=i18n.zone_label(),
            refresh=REFRESH_SECONDS if running else None,
        ),
        status,
    )


@blueprint.route("/exports")
@login_required
def index() -> tuple[str, int]:
    return _index(ExportForm())


@blueprint.route("/exports", methods=["POST"])
@throttled(Throttle.EXPORTS)
@login_required
def create() -> BaseResponse | tuple[str, int]:
    actor = _actor()
    form = ExportForm()
    if form.validate_on_submit():
        try:
            chosen = filters.parse_filters(
                since=form.since.data,
                until=form.until.data,
                timezone=_timezone(),
                hcp=form.hcp.data,
                staff=form.staff.data,
                team=form.team.data,
                product=form.product.data,
            )
            run = export.request_export(actor, chosen)
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            return redirect(url_for("records.detail", run_id=run.id))
    return _index(form, 400)


@blueprint.route("/exports/<int:run_id>")
@login_required
def detail(run_id: int) -> str:
    actor = _actor()
    run = export.get_run(actor, run_id)
    return render_template(
        "records/export.html",
        run=run,
        refresh=REFRESH_SECONDS if run.in_progress else None,
    )


@blueprint.route("/exports/<int:run_id>/download")
@login_required
def download(run_id: int) -> Response:
    actor = _actor()
    run = export.record_download(actor, run_id)
    response = Response(
        export.file_parts(run.id),
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{run.file_name}"',
            "Content-Length": str(run.file_bytes),
            "Cache-Control": "no-store",
            "X-Content-SHA256": run.file_sha256 or "",
        },
    )
    return response
