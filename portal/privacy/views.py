"""The data-rights pages.

- ``/account/privacy``: the HCP's own page: download their data (``data.json``), read it
  (``data.html``), delete their account (``/account/privacy/delete``);
- ``POST /admin/users/<id>/erase``: an administrator erases an HCP from the user's page, with a
  reason; ``/admin/privacy/requests``: requests waiting for a legal hold to be released.

Thin: each view parses its form, calls one service (:mod:`~portal.privacy.collect`,
:mod:`~portal.privacy.erase`) and flashes, redirects or renders.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, logout_user
from werkzeug.wrappers import Response

from portal import policy
from portal.errors import InvalidInput
from portal.forms import attach_errors
from portal.models import User
from portal.privacy import collect, erase
from portal.privacy.forms import DeleteAccountForm, EraseForm
from portal.services import two_factor, users
from portal.throttles import Throttle, throttled

blueprint = Blueprint("privacy", __name__)


def _actor() -> User:
    actor: User = current_user._get_current_object()
    return actor


def _hcp() -> User:
    """The signed-in HCP; the pages do not exist for staff (404)."""
    actor = _actor()
    policy.require_visible(policy.can_use_data_rights(actor), "That page")
    return actor


def _parse(value: str | None) -> dt.datetime | None:
    """An ISO time of the download, back as a datetime for the viewer's time-zone filters."""
    return dt.datetime.fromisoformat(value) if value else None


# --- the HCP's own page --------------------------------------------------------------------------
@blueprint.route("/account/privacy")
@login_required
def index() -> str:
    """What the HCP may do with their data: download, read, delete."""
    hcp = _hcp()
    return render_template("privacy/index.html", pending=erase.pending_request_of(hcp) is not None)


@blueprint.route("/account/privacy/data.json")
@login_required
def data_json() -> Response:
    """Everything the portal holds about the HCP, as one JSON file (audited)."""
    hcp = _hcp()
    download = collect.download(hcp, hcp, form="json")
    response = Response(download.json_bytes(), mimetype="application/json")
    day = dt.datetime.now(dt.UTC).date().isoformat()
    response.headers["Content-Disposition"] = f'attachment; filename="personal-data-{day}.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/account/privacy/data.html")
@login_required
def data_html() -> Response:
    """The same as ``data.json``, readable (and printable) in the browser (audited)."""
    hcp = _hcp()
    download = collect.download(hcp, hcp, form="html")
    response = Response(
        render_template("privacy/data.html", data=download.data, parse=_parse),
        mimetype="text/html",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/account/privacy/delete", methods=["GET", "POST"])
@throttled(Throttle.PREFERENCES)
@login_required
def delete() -> Response | str:
    """The HCP deletes their account: confirm, password (and code when two-factor is on)."""
    hcp = _hcp()
    form = DeleteAccountForm()
    enrolled = two_factor.is_enrolled(hcp)
    if form.validate_on_submit():
        try:
            done = erase.erase_own_account(
                hcp,
                password=form.password.data or "",
                code=form.code.data or "",
                remote_addr=request.remote_addr,
            )
        except InvalidInput as exc:
            attach_errors(form, exc)
        else:
            if done.held:
                flash(
                    gettext(
                        "We received your request. Your account cannot be deleted yet because "
                        "the company must keep your records for a legal reason; an "
                        "administrator will delete it as soon as it may be deleted."
                    ),
                    "warning",
                )
                return redirect(url_for(".index"))
            logout_user()
            session.clear()
            flash(
                gettext(
                    "Your account is deleted. What safety law requires us to keep is kept "
                    "under a pseudonym."
                ),
                "success",
            )
            return redirect(url_for("auth.login"))
    return render_template("privacy/delete.html", form=form, enrolled=enrolled)


# --- administrators ------------------------------------------------------------------------------
@blueprint.route("/admin/users/<int:user_id>/erase", methods=["POST"])
@throttled(Throttle.PREFERENCES)
@login_required
def admin_erase(user_id: int) -> Response:
    """An administrator erases an HCP (a reason is required); compliance may look, not act."""
    actor = _actor()
    policy.require_visible(policy.can_view_users(actor))
    person = users.get_user(actor, user_id)
    policy.require(policy.can_erase_person(actor, person), "You cannot erase this account.")
    form = EraseForm()
    if not form.validate_on_submit():
        flash(gettext("Give a reason (at least 5 characters)."), "danger")
        return redirect(url_for("admin.user_detail", user_id=person.id))
    try:
        done = erase.erase_person(actor, person, reason=form.reason.data or "")
    except InvalidInput as exc:
        flash(exc.message, "danger")
        return redirect(url_for("admin.user_detail", user_id=person.id))
    if done.held:
        flash(
            gettext(
                "This person is under a legal hold: nothing was erased. The request is kept "
                "pending until the hold is released."
            ),
            "warning",
        )
    else:
        flash(
            gettext("Erased: the account is now %(pseudonym)s.", pseudonym=done.pseudonym),
            "success",
        )
    return redirect(url_for("admin.user_detail", user_id=person.id))


@blueprint.route("/admin/privacy/requests")
@login_required
def requests() -> str:
    """Erasure requests waiting for a legal hold to be released."""
    actor = _actor()
    return render_template(
        "privacy/requests.html", requests=erase.pending_requests(actor), form=EraseForm()
    )
