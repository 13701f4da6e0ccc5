"""Administration of question routing: rules, SLAs, holidays, products' label facts.

Thin on purpose: each view finds the actor, parses its form, calls one service in
:mod:`portal.questions.settings` and flashes, redirects or renders. Administrators edit; compliance
auditors see the same pages without forms; anyone else finds nothing (404).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from portal import policy
from portal.errors import InvalidInput, PortalError
from portal.forms import attach_errors
from portal.models import User
from portal.models.reference import COUNTRIES
from portal.questions import settings
from portal.questions.admin_forms import (
    UNIT_LABELS,
    ActiveForm,
    ButtonForm,
    HolidaysForm,
    LabelForm,
    MoveForm,
    PreviewForm,
    RuleForm,
    SlaForm,
    TeamCalendarForm,
)
from portal.questions.models import Category, Holiday, RoutingRule, team_label
from portal.questions.routing import Decision
from portal.services.users import list_products, list_territories

blueprint = Blueprint("routing_admin", __name__)


def _viewer() -> User:
    """The signed-in actor, if they may see the routing set-up (else 404)."""
    actor: User = current_user._get_current_object()
    policy.require_visible(policy.can_view_routing(actor))
    return actor


def _manager() -> User:
    """The signed-in actor, if they may change the routing set-up (compliance: 403)."""
    actor = _viewer()
    policy.require(policy.can_manage_routing(actor), "Only administrators change routing.")
    return actor


def _summary(rule: RoutingRule) -> list[str]:
    """A rule's conditions in words, one line per kind."""
    parts = []
    if rule.categories:
        labels = [Category(c).label if c in set(Category) else c for c in rule.categories]
        parts.append("Category: " + ", ".join(labels))
    if rule.products:
        parts.append("Product: " + ", ".join(rule.products))
    if rule.keywords:
        parts.append("Text mentions: " + ", ".join(f"“{k}”" for k in rule.keywords))
    if rule.countries:
        parts.append("HCP in: " + ", ".join(COUNTRIES.get(c, c) for c in rule.countries))
    if rule.territories:
        parts.append("HCP's territory: " + ", ".join(rule.territories))
    return parts


@blueprint.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "team_label": team_label,
        "rule_summary": _summary,
        "rule_warnings": settings.rule_warnings,
        "condition_label": settings.condition_label,
        "unit_labels": UNIT_LABELS,
    }


# --- rules ---------------------------------------------------------------------------------------
def _preview_form(**kwargs: Any) -> PreviewForm:
    form = PreviewForm(**kwargs)
    form.set_choices(list_products(), list_territories())
    return form


def _rule_form(**kwargs: Any) -> RuleForm:
    form = RuleForm(**kwargs)
    form.set_choices(list_products(), list_territories())
    return form


@blueprint.route("/", methods=["GET", "POST"])
@login_required
def rules() -> str:
    """The rules in order, and the "try a question" box (a POST: the text may be sensitive)."""
    actor = _viewer()
    rule_list = settings.list_rules(actor)
    preview: PreviewForm | None = None
    decision: Decision | None = None
    if policy.can_manage_routing(actor):
        preview = _preview_form()
        if request.method == "POST" and preview.validate_on_submit():
            try:
                decision = settings.preview_routing(
                    actor,
                    text=preview.text.data or "",
                    category=preview.category.data or "",
                    product_code=preview.product.data or None,
                    country=preview.country.data or None,
                    territory=preview.territory.data or None,
                    include_disabled=bool(preview.include_disabled.data),
                )
            except PortalError as exc:
                attach_errors(preview, exc)
    elif request.method == "POST":
        _manager()  # compliance may read the rules, not try questions: 403
    names = {r.id: r.name for r in rule_list}
    return render_template(
        "portal/routing/rules.html",
        rules=rule_list,
        preview=preview,
        decision=decision,
        decided_by=names.get(decision.rule_id) if decision and decision.rule_id else None,
    )


@blueprint.route("/rules/new", methods=["GET", "POST"])
@login_required
def new_rule() -> Response | str:
    actor = _manager()
    form = _rule_form()
    if form.validate_on_submit():
        try:
            rule = settings.create_rule(actor, form.rule_input())
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            flash(f"Rule “{rule.name}” added at position {rule.position}.", "success")
            return redirect(url_for("routing_admin.rules"))
    return render_template("portal/routing/rule_form.html", form=form, rule=None)


@blueprint.route("/rules/<int:rule_id>", methods=["GET", "POST"])
@login_required
def edit_rule(rule_id: int) -> Response | str:
    actor = _viewer()
    rule = settings.get_rule(actor, rule_id)
    if not policy.can_manage_routing(actor):
        if request.method == "POST":
            _manager()
        return render_template("portal/routing/rule_form.html", form=None, rule=rule)
    if request.method == "POST":
        form = _rule_form()
        if form.validate_on_submit():
            try:
                settings.update_rule(actor, rule.id, form.rule_input())
            except PortalError as exc:
                attach_errors(form, exc)
            else:
                flash(f"Rule “{rule.name}” saved.", "success")
                return redirect(url_for("routing_admin.rules"))
    else:
        form = _rule_form(
            name=rule.name,
            team=rule.team.value,
            categories=rule.categories,
            products=rule.products,
            keywords="\n".join(rule.keywords),
            countries=rule.countries,
            territories=rule.territories,
        )
    return render_template("portal/routing/rule_form.html", form=form, rule=rule)


def _refused(exc: PortalError) -> None:
    flash(exc.message, "danger")


@blueprint.route("/rules/<int:rule_id>/move", methods=["POST"])
@login_required
def move_rule(rule_id: int) -> Response:
    actor = _manager()
    form = MoveForm()
    if form.validate_on_submit():
        try:
            rule = settings.move_rule(actor, rule_id, direction=form.direction.data or "")
        except InvalidInput as exc:
            _refused(exc)
        else:
            flash(f"Rule “{rule.name}” is now number {rule.position}.", "success")
    return redirect(url_for("routing_admin.rules"))


@blueprint.route("/rules/<int:rule_id>/toggle", methods=["POST"])
@login_required
def toggle_rule(rule_id: int) -> Response:
    actor = _manager()
    form = ActiveForm()
    if form.validate_on_submit():
        rule = settings.set_rule_active(actor, rule_id, form.active.data == "1")
        if rule.active:
            flash(f"Rule “{rule.name}” is enabled.", "success")
        else:
            flash(f"Rule “{rule.name}” is disabled: the engine skips it.", "warning")
    return redirect(url_for("routing_admin.rules"))


@blueprint.route("/rules/<int:rule_id>/delete", methods=["POST"])
@login_required
def delete_rule(rule_id: int) -> Response:
    actor = _manager()
    if ButtonForm().validate_on_submit():
        name = settings.get_rule(actor, rule_id).name
        settings.delete_rule(actor, rule_id)
        flash(f"Rule “{name}” deleted; the audit trail keeps what it was.", "warning")
    return redirect(url_for("routing_admin.rules"))


# --- SLAs ----------------------------------------------------------------------------------------
@blueprint.route("/slas", methods=["GET", "POST"])
@login_required
def slas() -> Response | str:
    actor = _viewer()
    rows = settings.list_slas(actor)
    if not policy.can_manage_routing(actor):
        if request.method == "POST":
            _manager()
        return render_template("portal/routing/slas.html", rows=rows, forms={})
    forms = {
        row.key: SlaForm(formdata=None, amount=row.amount, unit=row.unit.value) for row in rows
    }
    if request.method == "POST":
        key = request.form.get("key", "")
        form = SlaForm()
        if form.validate_on_submit():
            try:
                row = settings.set_sla(
                    actor, key, amount=form.amount.data, unit=form.unit.data or ""
                )
            except PortalError as exc:
                attach_errors(form, exc)
            else:
                flash(f"{row.label}: due within {row.describe()}.", "success")
                return redirect(url_for("routing_admin.slas"))
        if key not in forms:  # a row this page does not have: say so above the rows
            flash("; ".join(form.form_errors) or "Choose a category, or urgent.", "danger")
            return redirect(url_for("routing_admin.slas"))
        forms[key] = form
    return render_template("portal/routing/slas.html", rows=rows, forms=forms)


# --- holidays ------------------------------------------------------------------------------------
@blueprint.route("/holidays", methods=["GET", "POST"])
@login_required
def holidays() -> Response | str:
    actor = _viewer()
    days = settings.list_holidays(actor)
    if not policy.can_manage_routing(actor):
        if request.method == "POST":
            _manager()
        return _holidays_page(actor, days, None)
    form = HolidaysForm()
    if form.validate_on_submit():
        try:
            change = settings.replace_holidays(actor, form.text.data or "")
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            if change.changed:
                flash(
                    f"Holidays saved: {len(change.added)} added, {len(change.removed)} removed, "
                    f"{len(change.renamed)} renamed.",
                    "success",
                )
            else:
                flash("Nothing changed.", "info")
            return redirect(url_for("routing_admin.holidays"))
    elif request.method == "GET":
        form.text.data = settings.holidays_text(days)
    return _holidays_page(actor, days, form)


def _holidays_page(
    actor: User,
    days: list[Holiday],
    form: HolidaysForm | None,
    team_forms: dict[str, TeamCalendarForm] | None = None,
) -> str:
    teams = settings.list_team_calendars(actor)
    if form is not None:  # administrators get one form per team
        team_forms = team_forms or {}
        for row in teams:
            team_forms.setdefault(
                row.key.value,
                TeamCalendarForm(
                    formdata=None,
                    team=row.key.value,
                    country=row.country or "",
                    timezone=row.timezone,
                ),
            )
    return render_template(
        "portal/routing/holidays.html",
        holidays=days,
        form=form,
        teams=teams,
        team_forms=team_forms or {},
    )


@blueprint.route("/holidays/team", methods=["POST"])
@login_required
def team_calendar() -> Response | str:
    actor = _manager()
    form = TeamCalendarForm()
    if form.validate_on_submit():
        try:
            row = settings.set_team_calendar(
                actor, form.team.data or "", country=form.country.data, timezone=form.timezone.data
            )
        except PortalError as exc:
            if "team" in exc.errors:  # no team's row to show the problem on
                flash(exc.errors["team"], "danger")
                return redirect(url_for("routing_admin.holidays"))
            attach_errors(form, exc)
        else:
            if row.country_name:
                flash(
                    f"{row.label}: due times skip the public holidays of {row.country_name}.",
                    "success",
                )
            else:
                flash(f"{row.label}: due times run on the company calendar.", "success")
            return redirect(url_for("routing_admin.holidays"))
    days = settings.list_holidays(actor)
    holidays_form = HolidaysForm(formdata=None, text=settings.holidays_text(days))
    return _holidays_page(actor, days, holidays_form, {form.team.data or "": form})


# --- label facts ---------------------------------------------------------------------------------
@blueprint.route("/labels")
@login_required
def labels() -> str:
    actor = _viewer()
    return render_template("portal/routing/labels.html", rows=settings.list_labels(actor))


@blueprint.route("/labels/<int:product_id>", methods=["GET", "POST"])
@login_required
def edit_label(product_id: int) -> Response | str:
    actor = _viewer()
    row = settings.get_label(actor, product_id)
    if not policy.can_manage_routing(actor):
        if request.method == "POST":
            _manager()
        return render_template("portal/routing/label_form.html", row=row, form=None)
    label = row.label
    if request.method == "POST":
        form = LabelForm()
    else:
        form = LabelForm(
            indications=label.indications if label else [],
            min_age=label.min_age if label else None,
            max_age=label.max_age if label else None,
            dose_min_mg=label.dose_min_mg if label else None,
            dose_max_mg=label.dose_max_mg if label else None,
            populations=label.populations if label else "",
        )
    form.set_choices(settings.condition_keys())
    if form.validate_on_submit():
        try:
            settings.set_label_facts(actor, row.product.id, form.label_input())
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            flash(f"Label facts of {row.product.name} saved.", "success")
            return redirect(url_for("routing_admin.labels"))
    return render_template("portal/routing/label_form.html", row=row, form=form)
