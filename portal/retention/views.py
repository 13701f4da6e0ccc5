"""The retention page, ``/admin/retention``: the periods (administrators change them), the legal
holds (compliance places and releases them) and the purge's recent runs; both read it all."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from portal import inputs, policy
from portal.errors import PortalError
from portal.forms import attach_errors
from portal.models import User
from portal.retention import holds, purge
from portal.retention import periods as retention_periods
from portal.retention.forms import HoldForm, PeriodsForm, ReleaseForm
from portal.retention.models import HoldScope, RecordKind, RetentionRun
from portal.throttles import Throttle, throttled

blueprint = Blueprint("retention", __name__)


def _actor() -> User:
    actor: User = current_user._get_current_object()
    policy.require_visible(policy.can_view_retention(actor))
    return actor


def _page(
    actor: User,
    *,
    periods_form: PeriodsForm | None = None,
    hold_form: HoldForm | None = None,
) -> str:
    rows = retention_periods.list_periods(actor)
    if periods_form is None:
        periods_form = PeriodsForm(data={kind.value: days for kind, days, _row in rows})
    return render_template(
        "retention/index.html",
        rows=rows,
        periods_form=periods_form,
        hold_form=hold_form or HoldForm(),
        release_form=ReleaseForm(),
        active_holds=holds.list_holds(actor, active=True, page=inputs.query_page("holds")),
        released_holds=holds.list_holds(actor, active=False, page=inputs.query_page("released")),
        runs=purge.list_runs(actor, page=inputs.query_page("runs")),
        can_edit_periods=policy.can_edit_retention_periods(actor),
        can_manage_holds=policy.can_manage_legal_holds(actor),
        kinds_removed=_kinds_removed,
    )


def _kinds_removed(run: RetentionRun) -> list[tuple[str, int]]:
    """A run's counts in the page's words, the kinds it removed nothing of left out."""
    counts = run.counts or {}
    return [(kind.label, int(counts[kind.value])) for kind in RecordKind if counts.get(kind.value)]


@blueprint.route("/")
@login_required
def index() -> str:
    return _page(_actor())


@blueprint.route("/periods", methods=["POST"])
@throttled(Throttle.RETENTION)
@login_required
def periods() -> Response | str:
    actor = _actor()
    policy.require(policy.can_edit_retention_periods(actor))
    form = PeriodsForm()
    if form.validate_on_submit():
        try:
            changed = retention_periods.set_periods(
                actor, {kind: int(form[kind.value].data) for kind in RecordKind}
            )
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            if changed:
                flash(_("The retention periods are saved."), "success")
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for("retention.index"))
    return _page(actor, periods_form=form)


@blueprint.route("/holds", methods=["POST"])
@throttled(Throttle.RETENTION)
@login_required
def place_hold() -> Response | str:
    actor = _actor()
    policy.require(policy.can_manage_legal_holds(actor))
    form = HoldForm()
    if form.validate_on_submit():
        try:
            holds.place_hold(
                actor,
                scope=HoldScope(form.scope.data),
                reason=form.reason.data or "",
                email=form.email.data,
            )
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            flash(_("The legal hold is placed."), "success")
            return redirect(url_for("retention.index"))
    return _page(actor, hold_form=form)


@blueprint.route("/holds/release", methods=["POST"])
@throttled(Throttle.RETENTION)
@login_required
def release_hold() -> Response:
    actor = _actor()
    policy.require(policy.can_manage_legal_holds(actor))
    form = ReleaseForm()
    hold_id = inputs.find_id(form.hold_id.data) if form.validate_on_submit() else None
    if hold_id is None:
        flash(_("That form could not be read: try again."), "danger")
        return redirect(url_for("retention.index"))
    try:
        holds.release_hold(actor, hold_id, reason=form.reason.data or "")
    except PortalError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "danger")
    else:
        flash(_("The legal hold is released."), "success")
    return redirect(url_for("retention.index"))
