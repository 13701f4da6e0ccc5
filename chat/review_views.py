"""Compliance review of chat conversations (read-only) and the restricted-phrase list.

Pharmacovigilance reads, read-only, the transcript of a conversation a PV case came from.

Thin on purpose: each view finds the actor, calls one service in :mod:`chat.review` or
:mod:`chat.phrases` and renders or redirects. Compliance auditors read every conversation with
the originals of edits and deletions; administrators maintain the restricted phrases, which
compliance sees read-only; anyone else finds nothing (404).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField, SubmitField

from chat import history, phrases, review
from portal import policy
from portal.errors import PortalError
from portal.forms import attach_errors
from portal.models import User
from portal.safety import attestations
from portal.safety import services as safety

blueprint = Blueprint("chat_review", __name__)


class PhraseForm(FlaskForm):
    phrase = StringField(
        "Phrase",
        description="Whole words, case and accents ignored; end a word with * for a prefix.",
    )
    reason = StringField("Reason", description="Shown to staff whose message it stops.")
    submit = SubmitField("Add phrase")


class RemoveForm(FlaskForm):
    """A button that posts nothing but the CSRF token."""

    submit = SubmitField("Remove")


def _actor() -> User:
    user: User = current_user._get_current_object()
    return user


# --- conversations (compliance, read-only) -------------------------------------------------------
@blueprint.route("/")
@login_required
def index() -> str:
    actor = _actor()
    rows = review.review_list(actor)
    return render_template("chat/review/index.html", rows=rows)


@blueprint.route("/<int:conversation_id>")
@login_required
def transcript(conversation_id: int) -> str:
    actor = _actor()
    conversation, messages = review.transcript(actor, conversation_id)
    consents = review.consent_history(actor, conversation.id)
    cards = {
        m.id: history.material_of(m)
        for m in messages
        if m.material_id is not None and m.deleted_at is None
    }
    attested: dict[int, list[Any]] = {}
    # PV may read this transcript (a case came from it) without seeing the conversation
    # otherwise: its attestations are asked for only by those who may.
    if policy.can_view_conversation_attestations(actor, conversation):
        for row in attestations.attestations_of_conversation(actor, conversation.id):
            attested.setdefault(row.through_seq or 0, []).append(row)
    return render_template(
        "chat/review/transcript.html",
        conversation=conversation,
        messages=messages,
        consents=consents,
        cards=cards,
        attested=attested,
        # The cases its messages went to (PV and compliance only: empty for anyone else).
        pv_cases={
            case.message_id: case
            for case in reversed(safety.cases_of_conversation(actor, conversation.id))
        },
    )


# --- restricted phrases (administrators; compliance reads) ---------------------------------------
def _phrase_viewer() -> User:
    actor = _actor()
    policy.require_visible(policy.can_view_restricted_phrases(actor))
    return actor


def _phrase_manager() -> User:
    actor = _phrase_viewer()
    policy.require(
        policy.can_manage_restricted_phrases(actor),
        "Only administrators change the restricted phrases.",
    )
    return actor


@blueprint.route("/restricted-phrases", methods=["GET", "POST"])
@login_required
def restricted_phrases() -> Response | str:
    actor = _phrase_viewer()
    form: PhraseForm | None = None
    if policy.can_manage_restricted_phrases(actor):
        form = PhraseForm()
        if form.validate_on_submit():
            try:
                row = phrases.add_restricted_phrase(
                    actor, form.phrase.data or "", reason=form.reason.data or ""
                )
            except PortalError as exc:
                attach_errors(form, exc)
            else:
                flash(f"“{row.phrase}” added: staff messages using it are refused.", "success")
                return redirect(url_for("chat_review.restricted_phrases"))
    elif request.method == "POST":
        _phrase_manager()  # compliance reads the list; posting is refused (403)
    return render_template(
        "chat/admin/restricted_phrases.html",
        phrases=phrases.restricted_phrases(),
        form=form,
        remove_form=RemoveForm() if form is not None else None,
    )


@blueprint.route("/restricted-phrases/<int:phrase_id>/remove", methods=["POST"])
@login_required
def remove_restricted_phrase(phrase_id: int) -> Response:
    actor = _phrase_manager()
    form = RemoveForm()
    if form.validate_on_submit():
        try:
            phrases.remove_restricted_phrase(actor, phrase_id)
        except PortalError as exc:
            flash(exc.message, "danger")
        else:
            flash("Phrase removed: staff messages using it are no longer refused.", "success")
    return redirect(url_for("chat_review.restricted_phrases"))


@blueprint.context_processor
def _helpers() -> dict[str, Any]:
    return {"review_state_labels": {"active": "Active", "ended": "Ended", "invited": "Invited"}}
