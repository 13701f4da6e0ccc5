"""The territory roster (``/hcps/``) and the plan note's form (``/hcps/<id>/plan``).

Thin on purpose: the views read the query string or the form, find the actor and call
:mod:`portal.accounts.roster` or :mod:`portal.accounts.planning`, where the rules live.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import TextAreaField

from portal import inputs, policy
from portal.accounts import planning, roster
from portal.accounts.roster import RosterFilters, RosterSort
from portal.form_actions import run_form_action
from portal.models import User
from portal.throttles import Throttle, throttled

blueprint = Blueprint("roster", __name__)

_YES_NO = {"yes": True, "no": False}


class PlanNoteForm(FlaskForm):
    """The plan for the next interaction (its length is the service's to check)."""

    text = TextAreaField("Plan for the next interaction")


def _actor() -> User:
    actor: User = current_user._get_current_object()
    return actor


def _filters() -> RosterFilters:
    args = request.args
    sort = args.get("sort", "")
    return RosterFilters(
        specialty=args.get("specialty", "").strip()[:100],
        chat=_YES_NO.get(args.get("chat", "")),
        contacted=_YES_NO.get(args.get("contacted", "")),
        search=args.get("q", "").strip()[: roster.MAX_SEARCH],
        sort=RosterSort(sort) if sort in set(RosterSort) else RosterSort.NAME,
        descending=args.get("dir") == "desc",
    )


def _args(filters: RosterFilters) -> dict[str, str]:
    """The query string that gives ``filters`` back (page links keep the filters)."""
    words = {True: "yes", False: "no"}
    args = {
        "specialty": filters.specialty,
        "chat": words.get(filters.chat, "") if filters.chat is not None else "",
        "contacted": words.get(filters.contacted, "") if filters.contacted is not None else "",
        "q": filters.search,
        "sort": filters.sort.value if filters.sort is not RosterSort.NAME else "",
        "dir": "desc" if filters.descending else "",
    }
    return {name: value for name, value in args.items() if value}


@blueprint.route("/")
@login_required
def index() -> str:
    """The HCPs of the viewer's territories: reps, market access and MSLs (everyone else: 404)."""
    actor = _actor()
    policy.require_visible(policy.can_view_hcp_roster(actor), "The HCP roster")
    filters = _filters()
    page = roster.roster_page(actor, filters, page=inputs.query_page())
    return render_template(
        "accounts/roster.html",
        page=page,
        rows=page.items,
        filters=filters,
        args=_args(filters),
        specialties=roster.specialties(actor),
        sorts=list(RosterSort),
        territories=actor.territories,
        recent_days=roster.RECENT_DAYS,
    )


@blueprint.route("/<int:hcp_id>/plan", methods=["POST"])
@throttled(Throttle.CALL_NOTES)
@login_required
def save_plan(hcp_id: int) -> Response | str:
    """Save the viewer's plan note for the HCP and go back to the HCP page."""
    form = PlanNoteForm()

    def run(actor: User) -> str:
        planning.save_plan_note(actor, hcp_id, form.text.data or "")
        return "Your plan for the next interaction was saved."

    return run_form_action(run, form=form, back=url_for("hcps.detail", hcp_id=hcp_id) + "#plan")
