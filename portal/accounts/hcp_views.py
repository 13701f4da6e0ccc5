"""The HCP page for staff (``/hcps/<id>``) and its history as JSON (``timeline.json``), and the
``hcp_link`` template global that makes HCP names in queues, chats and lists lead to it.

Thin: what a viewer may see is :mod:`portal.accounts.timeline`'s and the policy's; the contact
rule, preferences and coordination answer their own parts of the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.wrappers import Response

from portal import policy
from portal.accounts import contact_rule, coordination, planning, preferences, timeline
from portal.accounts.models import ContactChannel
from portal.errors import PortalError
from portal.extensions import db
from portal.models import HcpProfile, Role, User

blueprint = Blueprint("hcps", __name__)

# Events on each page of the HTML history (the JSON pages by 50): the page leads with planning
# and coordination, and each source reads one more than this.
PAGE_EVENTS = 25


def _actor() -> User:
    actor: User = current_user._get_current_object()
    return actor


def _before() -> str | None:
    return request.args.get("before") or None


def _link(viewer: User, event: timeline.Event) -> str | None:
    """Where an event leads this viewer (its question, chat or material), if anywhere."""
    if event.detail is None:
        return None
    kind, subject = event.kind, event.subject
    if kind in (
        timeline.EventKind.QUESTION_ASKED,
        timeline.EventKind.QUESTION_ANSWERED,
        timeline.EventKind.QUESTION_CLOSED,
    ):
        if policy.can_view_question(viewer, subject):
            return url_for("questions.detail", question_id=subject.id)
        return None
    if kind in (timeline.EventKind.CHAT_STARTED, timeline.EventKind.CHAT_ENDED):
        return _chat_link(viewer, subject)
    if "family_id" in event.detail:
        return url_for("content.family", family_id=event.detail["family_id"])
    return None


def _chat_link(viewer: User, conversation: Any) -> str | None:
    if policy.takes_part_in_conversation(viewer, conversation):
        return url_for("chat.index", conversation=conversation.id)
    if policy.can_review_chats(viewer):
        return url_for("chat_review.transcript", conversation_id=conversation.id)
    return None


@blueprint.route("/<int:hcp_id>")
@login_required
def detail(hcp_id: int) -> str:
    viewer = _actor()
    hcp = timeline.get_record(viewer, hcp_id)
    page = timeline.events(viewer, hcp, before=_before(), limit=PAGE_EVENTS)
    may_contact = policy.can_contact_hcp(viewer, hcp)
    chats = timeline.chats(viewer, hcp)
    # Read once: the "touched" card, the warning and the plan's last contacts show the same.
    touches = coordination.recent_touches(viewer, hcp)
    return render_template(
        "accounts/hcp.html",
        hcp=hcp,
        profile=hcp.hcp_profile,
        page=page,
        events=[(event, _link(viewer, event)) for event in page.events],
        first_page=_before() is None,
        chats=[(chat, _chat_link(viewer, chat.conversation) if chat.readable else None)
               for chat in chats],
        preferences=preferences.current(hcp),
        zone=contact_rule.hcp_zone(hcp).key,
        channels=list(ContactChannel),
        window_days=current_app.config["CONTACT_WINDOW_DAYS"],
        touches=touches,
        warning=coordination.warning(viewer, hcp, touches=touches),
        decision=contact_rule.check(viewer, hcp, ContactChannel.PORTAL),
        may_contact=may_contact,
        plan=planning.plan_for(viewer, hcp, touches=touches),
        read_only=policy.is_read_only(viewer),
    )  # fmt: skip


@blueprint.route("/<int:hcp_id>/timeline.json")
@login_required
def timeline_json(hcp_id: int) -> tuple[Response, int] | Response:
    """``{"events": [{"at", "kind", "actor": {"name", "role", "side"}, "summary", "detail"}],
    "next": cursor | null}``; errors as JSON too (404 for a record one may not open, 400 for a
    cursor that is not ours)."""
    viewer = _actor()
    try:
        hcp = timeline.get_record(viewer, hcp_id)
        page = timeline.events(viewer, hcp, before=_before())
    except PortalError as exc:
        return jsonify({"ok": False, "error": exc.code, "message": exc.message}), exc.status
    return jsonify(page.as_json())


# --- names that lead to the HCP page -------------------------------------------------------------
def _prime_profiles(user: User) -> None:
    """Load, in one statement, the profiles (and territories) of every HCP of this request's
    session whose profile is not loaded yet: a list that links each name asks the policy about
    each HCP's territory, and must not read them one by one."""
    if "hcp_profile" not in sa_inspect(user).unloaded:
        return
    waiting = {user.id: user}
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, User):
            state = sa_inspect(obj)
            if state.dict.get("role") is Role.HCP and "hcp_profile" in state.unloaded:
                waiting[obj.id] = obj
    profiles = {
        p.user_id: p
        for p in db.session.scalars(
            select(HcpProfile)
            .options(joinedload(HcpProfile.territory))
            .where(HcpProfile.user_id.in_(list(waiting)))
        )
    }
    for user_id, hcp in waiting.items():
        set_committed_value(hcp, "hcp_profile", profiles.get(user_id))


def hcp_link(person: User | Mapping[str, Any] | None) -> Markup:
    """An HCP's name (a user, or a payload with ``id`` and ``name``), linked to their page when
    the signed-in viewer may open it (:func:`~portal.policy.can_view_hcp_record`), else plain
    escaped text."""
    if person is None:
        return Markup("")
    if isinstance(person, User):
        user: User | None = person
        name = person.name
    else:
        name = str(person.get("name", ""))
        user = db.session.get(User, person["id"]) if person.get("id") is not None else None
    if user is None or not policy.is_staff(current_user) or user.role is not Role.HCP:
        return escape(name)
    _prime_profiles(user)
    if not policy.can_view_hcp_record(current_user, user):
        return escape(name)
    return Markup('<a href="{url}" data-testid="hcp-link">{name}</a>').format(
        url=url_for("hcps.detail", hcp_id=user.id), name=name
    )
