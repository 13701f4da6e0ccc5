"""The pages around the integration API: the administrators' API tokens page and the rendered
reference of ``/api/v1``.

Thin on purpose: each view finds the actor, parses its form and calls one service of
:mod:`portal.api.tokens`. Administrators create and revoke; compliance auditors read the list
(403 on a change); anyone else finds nothing (404). A token's secret is shown once, in the
response to the form that created it (never stored, never in a redirect or the session); the
page is marked ``no-store`` so no cache keeps it.

The reference page (``/api/v1/docs``) is public, like the document it renders: Swagger UI from
our own static files (``static/vendor/swagger-ui/``), started by ``static/js/api-docs.js``.
"""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from portal import policy
from portal.api import tokens
from portal.api.forms import RevokeForm, TokenForm
from portal.api.models import ApiScope
from portal.api.problems import API_PREFIX
from portal.errors import PortalError
from portal.forms import attach_errors
from portal.inputs import query_page
from portal.models import User
from portal.throttles import Throttle, throttled

blueprint = Blueprint("api_tokens", __name__)
reference = Blueprint("api_reference", __name__)

PAGE_SIZE = 50


def _viewer() -> User:
    """The signed-in actor, if they may see the tokens (else 404)."""
    actor: User = current_user._get_current_object()
    policy.require_visible(policy.can_view_api_tokens(actor))
    return actor


def _manager() -> User:
    """The signed-in actor, if they may create and revoke tokens (compliance: 403)."""
    actor = _viewer()
    policy.require(
        policy.can_manage_api_tokens(actor), _("Only administrators create and revoke API tokens.")
    )
    return actor


@blueprint.route("/api-tokens")
@login_required
def index() -> str:
    """Every token, newest first: name, prefix, scopes, who created it and when, last use."""
    actor = _viewer()
    page = tokens.token_page(actor, page=query_page(), page_size=PAGE_SIZE)
    return render_template(
        "api/tokens.html",
        page=page,
        revoke_form=RevokeForm(),
        scope_labels={scope.value: scope.label for scope in ApiScope},
    )


@blueprint.route("/api-tokens/new", methods=["GET", "POST"])
@throttled(Throttle.API_TOKENS)
@login_required
def create() -> Response | str:
    """The form; on success the new token's page (201) with its secret, shown this once."""
    actor = _manager()
    form = TokenForm()
    if form.validate_on_submit():
        try:
            token, secret = tokens.create_token(
                actor, name=form.name.data or "", scopes=form.scopes.data or []
            )
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            response = make_response(
                render_template("api/token_created.html", token=token, secret=secret), 201
            )
            response.headers["Cache-Control"] = "no-store"
            return response
    return render_template("api/token_form.html", form=form)


@blueprint.route("/api-tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke(token_id: int) -> Response:
    actor = _manager()
    if RevokeForm().validate_on_submit():
        token = tokens.revoke_token(actor, token_id)
        flash(
            _(
                "Token “%(name)s” is revoked: it authenticates nothing from now on.",
                name=token.name,
            ),
            "warning",
        )
    return redirect(url_for("api_tokens.index"))


@reference.route(API_PREFIX + "/docs")
def docs() -> str:
    """The API's reference, rendered in the browser from ``/api/v1/openapi.json``."""
    return render_template("api/docs.html", spec_url=url_for("api-docs.openapi_json"))
