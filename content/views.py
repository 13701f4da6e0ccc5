"""Library pages for HCPs and staff, and the content managers' and reviewers' workspace."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from content import services, thumbnails
from content.forms import ActionForm, CommentsForm, MaterialForm
from content.models import Material, MaterialState
from portal import inputs, policy
from portal.errors import PortalError
from portal.forms import attach_errors
from portal.models import User, utcnow
from portal.services.users import list_products
from portal.throttles import Throttle, throttled

blueprint = Blueprint("content", __name__)


def home_panel(user: User) -> tuple[str, dict[str, Any]] | None:
    """HCP home: recommendations. Library managers' home: what needs them."""
    if user.is_hcp and policy.can_browse_library(user):
        return "content/panels/for_you.html", {
            "recommended": services.recommendations(user, limit=6)
        }
    if policy.can_manage_library(user):
        return "content/panels/work.html", {
            "board": services.dashboard(user, listing=False),
            "shown": services.WORKSPACE_LIST_LIMIT,
        }
    return None


def _actor() -> User:
    actor: User = current_user._get_current_object()
    return actor


def _require_library(actor: User) -> None:
    policy.require_visible(policy.can_browse_library(actor), "The library")


def _unverified(actor: User) -> tuple[str, int] | None:
    """The page telling an HCP whose registration is pending or rejected why the library is
    closed to them (403), or ``None`` for everyone else. It names only their own status, so it
    reveals nothing about which materials exist."""
    if not actor.is_hcp or policy.can_see_professional_content(actor):
        return None
    return render_template("content/awaiting_verification.html", profile=actor.hcp_profile), 403


# --- the library ------------------------------------------------------------------------------
@blueprint.route("/")
@login_required
def library() -> str | tuple[str, int]:
    actor = _actor()
    if (refused := _unverified(actor)) is not None:
        return refused
    _require_library(actor)
    filters = services.Filters(
        product_id=inputs.query_id("product"),
        therapeutic_area=request.args.get("area", "")[:100],
        kind=request.args.get("kind", "")[:40],
    )
    query = request.args.get("q", "")[:200]
    page_number = inputs.query_page()
    # "For you" heads the unfiltered library; what it shows is left out of the list below, on
    # every page, so that nothing appears twice and nothing is skipped between pages.
    browsing = not query.strip() and not filters.active
    recommended = services.recommendations(actor, limit=3) if browsing else []
    page = services.search(
        actor, query, filters, page=page_number, exclude=[m.id for m in recommended]
    )
    return render_template(
        "content/library.html",
        page=page,
        filters=filters,
        facets=services.facets(actor),
        suggestions=services.did_you_mean(actor, page, filters),
        recommended=recommended if page_number == 1 else [],
    )


@blueprint.route("/<int:material_id>")
@login_required
def material(material_id: int) -> str | tuple[str, int]:
    actor = _actor()
    if (refused := _unverified(actor)) is not None:
        return refused
    item = services.get_material(actor, material_id)
    services.record_view(actor, item)
    return render_template(
        "content/material.html",
        material=item,
        bookmarked=services.is_bookmarked(actor, item),
        action_form=ActionForm(),
        now=utcnow(),
    )


@blueprint.route("/<int:material_id>/download")
@login_required
def download(material_id: int) -> Response:
    actor = _actor()
    item = services.get_material(actor, material_id)
    path, mime, name = services.open_download(actor, item)
    response = send_file(path, mimetype=mime, as_attachment=True, download_name=name, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.route("/<int:material_id>/stream")
@login_required
def stream(material_id: int) -> Response:
    """The PDF or MP4 of a material, inline, answering Range requests (the video player seeks
    and the PDF viewer fetches pages in pieces). No event: the material page recorded the view."""
    actor = _actor()
    item = services.get_material(actor, material_id)
    path, mime = services.open_stream(actor, item)
    response = send_file(path, mimetype=mime, conditional=True, etag=True, max_age=0)
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.app_template_global()
def thumbnail_url(material: Material) -> str:
    """The thumbnail's URL; its ``v`` changes with the picture, so browsers may keep it."""
    return url_for("content.thumbnail", material_id=material.id, v=thumbnails.token(material))


@blueprint.route("/<int:material_id>/thumbnail.png")
@login_required
def thumbnail(material_id: int) -> Response:
    actor = _actor()
    item = services.get_material(actor, material_id)
    path = services.open_thumbnail(actor, item)
    response = send_file(
        path, mimetype="image/png", conditional=True, etag=thumbnails.token(item), max_age=86400
    )
    # Private: the picture shows a material only its audience may see.
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@blueprint.route("/<int:material_id>/bookmark", methods=["POST"])
@login_required
def bookmark(material_id: int) -> Response:
    actor = _actor()
    item = services.get_material(actor, material_id)
    if ActionForm().validate_on_submit():
        on = request.form.get("on") == "1"
        services.set_bookmark(actor, item, on=on)
        flash(
            gettext("Added to My library.") if on else gettext("Removed from My library."),
            "success",
        )
    return redirect(url_for("content.material", material_id=item.id))


@blueprint.route("/mine")
@login_required
def mine() -> str | tuple[str, int]:
    actor = _actor()
    if (refused := _unverified(actor)) is not None:
        return refused
    _require_library(actor)
    return render_template("content/mine.html", mine=services.my_library(actor))


@blueprint.route("/family/<int:family_id>")
@login_required
def family(family_id: int) -> Response | tuple[str, int]:
    """A stable link to a material (what chats share): its current version, or a clear notice
    that it is no longer available (withdrawn, expired or superseded without successor)."""
    actor = _actor()
    if (refused := _unverified(actor)) is not None:
        return refused
    current = services.get_current_version(actor, family_id)
    if current is not None:
        return redirect(url_for("content.material", material_id=current.id))
    return render_template("content/unavailable.html"), 410


# --- content managers and reviewers ----------------------------------------------------------
def _manager() -> User:
    actor = _actor()
    policy.require_visible(policy.can_manage_library(actor), "That page")
    return actor


@blueprint.route("/manage")
@login_required
def manage() -> str:
    actor = _manager()
    state = request.args.get("state", "")
    state = state if state in set(MaterialState) else ""
    mine = request.args.get("mine") == "1"
    return render_template(
        "content/manage/dashboard.html",
        board=services.dashboard(
            actor,
            mine=mine,
            state=MaterialState(state) if state else None,
            page=inputs.query_page(),
        ),
        mine=mine,
        states=list(MaterialState),
        state=state,
        now=utcnow(),
    )


def _material_form(material: Material | None = None) -> MaterialForm:
    if material is None:
        form = MaterialForm()
    else:
        form = MaterialForm(
            data={
                "title": material.title,
                "summary": material.summary,
                "body": material.body_markdown,
                "product_id": material.product_id,
                "therapeutic_area": material.therapeutic_area,
                "kind": material.kind.value,
                "classification": material.classification.value,
                "approval_code": material.approval_code,
                "effective_at": material.effective_at.replace(tzinfo=None),
                "expires_at": material.expires_at.replace(tzinfo=None),
                "professions": material.professions,
                "specialties": material.specialties,
                "countries": material.countries,
            }
        )
    form.set_products(list_products())
    return form


def _upload(form: MaterialForm) -> services.Upload | None:
    file = form.file.data
    if file is None or not getattr(file, "filename", ""):
        return None
    return services.Upload(stream=file.stream, filename=file.filename)


@blueprint.route("/manage/new", methods=["GET", "POST"])
@throttled(Throttle.UPLOADS)
@login_required
def create() -> Response | str:
    actor = _manager()
    policy.require(policy.can_author_material(actor), "Only content managers create materials.")
    form = _material_form()
    if form.validate_on_submit():
        try:
            item = services.create_material(actor, form.to_input(), _upload(form))
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            flash("Draft saved. Send it to review when it is ready.", "success")
            return redirect(url_for("content.manage_material", material_id=item.id))
    return render_template("content/manage/form.html", form=form, material=None)


@blueprint.route("/manage/<int:material_id>")
@login_required
def manage_material(material_id: int) -> str:
    actor = _manager()
    item = services.get_managed_material(actor, material_id)
    return render_template(
        "content/manage/detail.html",
        material=item,
        versions=services.versions_of(actor, item),
        comments_form=CommentsForm(),
        action_form=ActionForm(),
        now=utcnow(),
    )


@blueprint.route("/manage/<int:material_id>/edit", methods=["GET", "POST"])
@throttled(Throttle.UPLOADS)
@login_required
def edit(material_id: int) -> Response | str:
    actor = _manager()
    item = services.get_managed_material(actor, material_id)
    policy.require(
        policy.can_edit_material(actor, item),
        "Only drafts can be edited. Create a new version of an approved material instead.",
    )
    form = _material_form(item) if request.method == "GET" else _material_form()
    if form.validate_on_submit():
        try:
            services.update_material(actor, item, form.to_input(), _upload(form))
        except PortalError as exc:
            attach_errors(form, exc)
        else:
            flash("Draft saved.", "success")
            return redirect(url_for("content.manage_material", material_id=item.id))
    return render_template("content/manage/form.html", form=form, material=item)


def _act(material_id: int, action: str) -> Response:
    actor = _manager()
    item = services.get_managed_material(actor, material_id)
    form = CommentsForm()
    if not form.validate_on_submit():
        abort(400)
    text = form.comments.data or ""
    target = item
    if action == "submit":
        services.submit_for_review(actor, item)
        flash("Sent to MLR review.", "success")
    elif action == "approve":
        services.approve_material(actor, item, comments=text)
        flash("Approved. It is published at its effective date.", "success")
    elif action == "reject":
        services.reject_material(actor, item, comments=text)
        flash("Returned to the author with your comments.", "warning")
    elif action == "withdraw":
        services.withdraw_material(actor, item, reason=text)
        flash("Withdrawn everywhere, effective now.", "warning")
    elif action == "new-version":
        target = services.new_version(actor, item)
        flash(f"Draft version {target.version} created from version {item.version}.", "success")
    return redirect(url_for("content.manage_material", material_id=target.id))


@blueprint.route(
    "/manage/<int:material_id>/<any(submit, approve, reject, withdraw, 'new-version'):action>",
    methods=["POST"],
)
@login_required
def act(material_id: int, action: str) -> Response:
    try:
        return _act(material_id, action)
    except PortalError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "danger")
        return redirect(url_for("content.manage_material", material_id=material_id))
