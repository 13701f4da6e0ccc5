"""Webhook administration pages, under ``/admin/webhooks``: administrators subscribe, disable,
rotate, delete, test and send again; compliance reads the subscriptions and their deliveries."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from portal import inputs, policy
from portal.errors import PortalError
from portal.forms import attach_errors
from portal.models import User
from portal.throttles import Throttle, throttled
from portal.webhooks import service
from portal.webhooks.forms import ConfirmForm, SubscriptionForm

blueprint = Blueprint("webhooks", __name__)


def _actor() -> User:
    actor: User = current_user._get_current_object()
    policy.require_visible(policy.can_view_webhooks(actor))
    return actor


@blueprint.route("/")
@login_required
def index() -> str:
    actor = _actor()
    return render_template(
        "webhooks/list.html",
        subscriptions=service.list_subscriptions(actor),
        can_manage=policy.can_manage_webhooks(actor),
    )


@blueprint.route("/new", methods=["GET", "POST"])
@throttled(Throttle.WEBHOOKS)
@login_required
def create() -> Response | str | tuple[Response, int]:
    actor = _actor()
    policy.require(policy.can_manage_webhooks(actor))
    form = SubscriptionForm()
    if form.validate_on_submit():
        try:
            subscription, secret = service.create_subscription(
                actor,
                name=form.name.data or "",
                url=form.url.data or "",
                events=form.events.data or [],
                scopes=form.scopes.data or [],
            )
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            # The secret is shown here, once (never kept in the session cookie); 201: created.
            return _secret_page(subscription, secret, created=True), 201
    return render_template("webhooks/new.html", form=form)


@blueprint.route("/<int:subscription_id>")
@login_required
def detail(subscription_id: int) -> str:
    actor = _actor()
    subscription = service.get_subscription(actor, subscription_id)
    page = service.deliveries(actor, subscription, page=inputs.query_page())
    return render_template(
        "webhooks/detail.html",
        subscription=subscription,
        page=page,
        confirm_form=ConfirmForm(),
        can_manage=policy.can_manage_webhooks(actor),
    )


def _back(subscription_id: int) -> Response:
    return redirect(url_for("webhooks.detail", subscription_id=subscription_id))


@blueprint.route("/<int:subscription_id>/toggle", methods=["POST"])
@login_required
def toggle(subscription_id: int) -> Response:
    actor = _actor()
    subscription = service.get_subscription(actor, subscription_id)
    if ConfirmForm().validate_on_submit():
        subscription = service.set_active(actor, subscription.id, active=not subscription.active)
        if subscription.active:
            flash(_("The subscription is enabled."), "success")
        else:
            flash(_("The subscription is disabled; its pending deliveries wait."), "warning")
    return _back(subscription_id)


@blueprint.route("/<int:subscription_id>/test", methods=["POST"])
@throttled(Throttle.WEBHOOKS)
@login_required
def test(subscription_id: int) -> Response:
    actor = _actor()
    if ConfirmForm().validate_on_submit():
        service.send_test(actor, subscription_id)
        flash(_("A test event is queued; it appears below once sent."), "success")
    return _back(subscription_id)


@blueprint.route("/<int:subscription_id>/rotate", methods=["POST"])
@login_required
def rotate(subscription_id: int) -> Response | str:
    actor = _actor()
    if not ConfirmForm().validate_on_submit():
        return _back(subscription_id)
    subscription, secret = service.rotate_secret(actor, subscription_id)
    return _secret_page(subscription, secret, created=False)


def _secret_page(subscription: Any, secret: str, *, created: bool) -> Response:
    """The page that shows a secret once: no cache (browser or proxy) may keep it."""
    response = make_response(
        render_template(
            "webhooks/secret.html", subscription=subscription, secret=secret, created=created
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/<int:subscription_id>/delete", methods=["POST"])
@login_required
def delete(subscription_id: int) -> Response:
    actor = _actor()
    if not ConfirmForm().validate_on_submit():
        return _back(subscription_id)
    service.delete_subscription(actor, subscription_id)
    flash(_("The subscription is deleted."), "success")
    return redirect(url_for("webhooks.index"))


@blueprint.route("/<int:subscription_id>/deliveries/<int:delivery_id>/send-again", methods=["POST"])
@login_required
def send_again(subscription_id: int, delivery_id: int) -> Response:
    actor = _actor()
    if ConfirmForm().validate_on_submit():
        try:
            service.send_again(actor, subscription_id, delivery_id)
        except PortalError as exc:
            if exc.status != 409:
                raise
            flash(exc.message, "danger")
        else:
            flash(_("The delivery will be sent again at the worker's next round."), "success")
    return _back(subscription_id)
