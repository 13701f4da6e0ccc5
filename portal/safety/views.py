"""The PV workspace (cases, their clock, follow-ups, the export) and the HCP's PV requests.

Thin on purpose: each view parses its form or query, finds the actor, calls one service and
flashes, redirects or renders. Every rule lives in :mod:`portal.policy` and the safety services.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from portal import inputs, policy
from portal.errors import InvalidInput, PortalError
from portal.form_actions import UNREADABLE, run_form_action
from portal.forms import attach_errors
from portal.models import User, utcnow
from portal.safety import export, follow_ups, services, workspace
from portal.safety.forms import (
    ButtonForm,
    FollowUpAnswerForm,
    FollowUpQuestionForm,
    PvCaseForm,
)
from portal.safety.models import SERIOUSNESS_LABELS, CaseOrigin, PvCase, PvCaseStatus
from portal.safety.services import CaseSource, ListStatus
from portal.throttles import Throttle, throttled

blueprint = Blueprint("safety", __name__)


def _actor() -> User:
    actor: User = current_user._get_current_object()
    return actor


@blueprint.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "now": utcnow(),
        "source_labels": workspace.SOURCE_LABELS,
        "seriousness_labels": SERIOUSNESS_LABELS,
        "pv_list_url": list_url,
    }


# --- home page panel -----------------------------------------------------------------------------
def home_panel(user: User) -> tuple[str, dict[str, Any]] | None:
    """HCP home: PV's questions waiting for their answer (shown only when there are some)."""
    waiting = follow_ups.count_waiting(user)
    if not waiting:
        return None
    return "portal/safety/panels/hcp.html", {"waiting": waiting}


# --- the case list -------------------------------------------------------------------------------
@blueprint.route("/cases")
@login_required
def cases() -> str:
    actor = _actor()
    filters = services.CaseFilter.of(
        status=request.args.get("status", ""),
        source=request.args.get("source", ""),
        origin=request.args.get("origin", ""),
        overdue=request.args.get("overdue") == "1",
    )
    now = utcnow()
    page = services.case_page(actor, filters, page=inputs.query_page(), now=now)
    today = now.date()
    return render_template(
        "portal/safety/cases.html",
        page=page,
        facts=workspace.describe(page.cases),
        clocks={c.id: workspace.clock(c, now) for c in page.cases},
        filters=filters,
        statuses=list(ListStatus),
        sources=list(CaseSource),
        origins=list(CaseOrigin),
        can_export=policy.can_export_pv_cases(actor),
        export_since=(today.replace(day=1)).isoformat(),
        export_until=today.isoformat(),
    )


def list_url(filters: services.CaseFilter, **changes: Any) -> str:
    """The list's URL with ``filters`` and ``changes`` (e.g. another page or status)."""
    values: dict[str, Any] = {
        "status": filters.status.value,
        "source": filters.source.value if filters.source else None,
        "origin": filters.origin.value if filters.origin else None,
        "overdue": "1" if filters.overdue else None,
    }
    values.update(changes)
    return url_for("safety.cases", **{k: v for k, v in values.items() if v not in (None, "")})


# --- one case ------------------------------------------------------------------------------------
@blueprint.route("/cases/<int:case_id>", methods=["GET", "POST"])
@login_required
def case(case_id: int) -> BaseResponse | str:
    actor = _actor()
    found = services.get_pv_case(actor, case_id)
    form = PvCaseForm.of(found) if request.method == "GET" else PvCaseForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.update_pv_case(actor, case_id, form.to_input())
        except InvalidInput as exc:
            attach_errors(form, exc)
        except PortalError as exc:
            if exc.status == 404:
                raise
            flash(exc.message, "danger")
            return redirect(url_for(".case", case_id=case_id))
        else:
            flash(f"{found.reference} saved.", "success")
            return redirect(url_for(".case", case_id=case_id))
    return _render_case(actor, found, form=form)


def _render_case(
    actor: User,
    found: PvCase,
    *,
    form: PvCaseForm | None = None,
    ask_form: FollowUpQuestionForm | None = None,
) -> str:
    return render_template(
        "portal/safety/case.html",
        case=found,
        facts=workspace.describe([found])[found.id],
        clock=workspace.clock(found, utcnow()),
        form=form or PvCaseForm.of(found),
        ask_form=ask_form or FollowUpQuestionForm(prefix="ask"),
        can_work=policy.can_work_pv_case(actor, found),
        can_ask=policy.can_ask_pv_follow_up(actor, found),
        PvCaseStatus=PvCaseStatus,
    )


def _case_act(case_id: int, action: Callable[[User], str]) -> BaseResponse | str:
    """Run one action on a case page (:func:`~portal.form_actions.run_form_action`): its
    outcome or refusal is flashed on the page."""
    return run_form_action(action, form=ButtonForm(), back=url_for(".case", case_id=case_id))


@blueprint.route("/cases/<int:case_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(case_id: int) -> BaseResponse | str:
    def run(actor: User) -> str:
        found = services.acknowledge_pv_case(actor, case_id)
        return f"{found.reference} acknowledged: the clock has stopped."

    return _case_act(case_id, run)


@blueprint.route("/cases/<int:case_id>/close", methods=["POST"])
@login_required
def close(case_id: int) -> BaseResponse | str:
    def run(actor: User) -> str:
        found = services.close_pv_case(actor, case_id)
        return f"{found.reference} is closed."

    return _case_act(case_id, run)


@blueprint.route("/cases/<int:case_id>/follow-ups", methods=["POST"])
@throttled(Throttle.PV_FOLLOW_UPS)
@login_required
def ask(case_id: int) -> BaseResponse | str:
    actor = _actor()
    form = FollowUpQuestionForm(prefix="ask")
    if not form.validate_on_submit():
        flash(UNREADABLE, "danger")
        return redirect(url_for(".case", case_id=case_id))
    try:
        follow_ups.ask_follow_up(actor, case_id, form.body.data or "")
    except InvalidInput as exc:
        attach_errors(form, exc)
        return _render_case(actor, services.get_pv_case(actor, case_id), ask_form=form)
    except PortalError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "danger")
    else:
        flash("Question sent. The reporter is told Pharmacovigilance has a question.", "success")
    return redirect(url_for(".case", case_id=case_id, _anchor="follow-ups"))


# --- the export ----------------------------------------------------------------------------------
def _export(fmt: export.ExportFormat) -> BaseResponse | tuple[BaseResponse, int]:
    actor = _actor()
    try:
        result = export.export_cases(
            actor, since=request.args.get("since"), until=request.args.get("until"), fmt=fmt
        )
    except InvalidInput as exc:
        if fmt is export.ExportFormat.JSON:
            return jsonify({"ok": False, "error": exc.code, "message": exc.message}), 400
        raise
    disposition = f'attachment; filename="{result.filename}"'
    if fmt is export.ExportFormat.JSON:
        body = json.dumps(result.as_json(), ensure_ascii=False, indent=2)
        return Response(
            body,
            mimetype="application/json",
            headers={"Content-Disposition": disposition},
        )
    return Response(
        result.csv_lines(),
        mimetype="text/csv",
        headers={"Content-Disposition": disposition},
    )


@blueprint.route("/cases/export.csv")
@login_required
def export_csv() -> BaseResponse | tuple[BaseResponse, int]:
    return _export(export.ExportFormat.CSV)


@blueprint.route("/cases/export.json")
@login_required
def export_json() -> BaseResponse | tuple[BaseResponse, int]:
    return _export(export.ExportFormat.JSON)


# --- the HCP's requests --------------------------------------------------------------------------
@blueprint.route("/requests")
@login_required
def requests() -> str:
    return render_template("portal/safety/requests.html", requests=follow_ups.my_requests(_actor()))


@blueprint.route("/requests/<int:follow_up_id>", methods=["GET", "POST"], endpoint="request")
@throttled(Throttle.PV_ANSWERS)
@login_required
def hcp_request(follow_up_id: int) -> BaseResponse | str:
    actor = _actor()
    found = follow_ups.get_request(actor, follow_up_id)
    form = FollowUpAnswerForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            follow_ups.answer_follow_up(actor, follow_up_id, form.answer.data or "")
        except InvalidInput as exc:
            attach_errors(form, exc)
        else:
            flash("Thank you: your answer was sent to Pharmacovigilance.", "success")
            return redirect(url_for(".request", follow_up_id=follow_up_id))
    return render_template("portal/safety/request.html", follow_up=found, form=form)
