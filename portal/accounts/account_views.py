"""The signed-in person's own account (``/account``) and the HCP's contact preferences
(``/account/preferences``).

The sign-in settings live with the ``auth`` blueprint under the same prefix
(``/account/password``, ``/account/language``, ``/account/sessions``, ``/account/two-factor``):
this page links to them. Thin on purpose: each view parses its form, calls one service
(:mod:`~portal.accounts.profile`, :mod:`~portal.accounts.preferences`) and flashes, redirects or
renders.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from portal import policy
from portal.accounts import contact_rule, preferences, profile
from portal.accounts.forms import ButtonForm, NameForm, PreferencesForm
from portal.errors import InvalidInput
from portal.forms import attach_errors
from portal.models import User
from portal.throttles import Throttle, throttled

blueprint = Blueprint("account", __name__)


def _actor() -> User:
    actor: User = current_user._get_current_object()
    return actor


def _hcp() -> User:
    """The signed-in HCP; staff have no contact preferences (404: the page does not exist for
    them)."""
    actor = _actor()
    policy.require_visible(policy.can_set_contact_preferences(actor, actor), "That page")
    return actor


# --- the account ---------------------------------------------------------------------------------
@blueprint.route("", methods=["GET", "POST"])
@throttled(Throttle.PREFERENCES)
@login_required
def index() -> Response | str:
    """Profile (the name editable, professional details read-only), links to the sign-in
    settings, and for an HCP where their data came from."""
    actor = _actor()
    form = NameForm()
    if request.method == "GET":
        form.name.data = actor.name
    elif form.validate_on_submit():
        try:
            profile.rename(actor, name=form.name.data or "")
        except InvalidInput as exc:
            attach_errors(form, exc)
        else:
            flash(gettext("Your name is saved."), "success")
            return redirect(url_for(".index"))
    return render_template(
        "accounts/account.html",
        user=actor,
        form=form,
        sources=profile.data_sources(actor),
    )


# --- the HCP's contact preferences ---------------------------------------------------------------
@blueprint.route("/preferences", methods=["GET", "POST"], endpoint="preferences")
@throttled(Throttle.PREFERENCES)
@login_required
def preferences_page() -> Response | str:
    """Channels, topics, quiet hours, the cap and a pause: the HCP's terms for unsolicited
    contact, with what was used and the history of changes."""
    actor = _hcp()
    products, areas = preferences.topic_choices()
    form = PreferencesForm()
    form.setup(
        products=products,
        areas=areas,
        max_cap=current_app.config["CONTACT_MAX_CAP"],
        days=current_app.config["CONTACT_WINDOW_DAYS"],
    )
    # What applies now (saved, or the defaults): unchanged by a refused save, which rolls back.
    saved = preferences.current(actor)
    if request.method == "GET":
        form.fill(saved)
    elif form.validate_on_submit():
        try:
            preferences.save(actor, form.to_input())
        except InvalidInput as exc:
            attach_errors(form, exc)
        else:
            flash(
                gettext(
                    "Your contact preferences are saved. They apply at once, to every colleague."
                ),
                "success",
            )
            return redirect(url_for(".preferences"))
    return render_template(
        "accounts/preferences.html",
        form=form,
        saved=saved,
        paused_until=preferences.paused_until(saved),
        used=preferences.used_in_window(actor),
        history=preferences.history_entries(actor),
        zone=contact_rule.hcp_zone(actor).key,
        resume_form=ButtonForm(),
        window_days=current_app.config["CONTACT_WINDOW_DAYS"],
        gap_days=current_app.config["CONTACT_MIN_GAP_DAYS"],
    )


@blueprint.route("/preferences/resume", methods=["POST"])
@throttled(Throttle.PREFERENCES)
@login_required
def resume() -> Response:
    """End a pause now ("resume contact now"), keeping every other choice."""
    actor = _hcp()
    if ButtonForm().validate_on_submit():
        try:
            preferences.resume(actor)
        except InvalidInput as exc:
            flash(exc.message, "danger")
        else:
            flash(gettext("Contact is resumed, within your preferences."), "success")
    return redirect(url_for(".preferences"))
