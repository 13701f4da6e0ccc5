"""Call notes: "Record an interaction" (``/hcps/<id>/notes/new``) and marking a follow-up done.

Thin on purpose: each view parses its form, finds the actor and calls one service of
:mod:`portal.accounts.call_notes`, where every rule lives (who may write, the contact rule, the
safety attestation, the question filed on the HCP's behalf). Staff-only pages, in English.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    DateField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Optional

from portal.accounts import call_notes
from portal.accounts.models import ContactChannel, InteractionKind
from portal.admin.forms import CheckboxesField
from portal.errors import Conflict, InvalidInput
from portal.form_actions import run_form_action
from portal.forms import LocalDateTimeField, attach_errors, choices
from portal.inputs import to_id, to_optional_id
from portal.models import User, utcnow
from portal.questions import intake
from portal.questions.models import Category
from portal.safety.attestations import Attestation, AttestationChoice
from portal.security import safe_next
from portal.services.users import list_products
from portal.throttles import Throttle, throttled

blueprint = Blueprint("call_notes", __name__)


def _actor() -> User:
    actor: User = current_user._get_current_object()
    return actor


@blueprint.app_context_processor
def _helpers() -> dict[str, Any]:
    # The HCP page (another blueprint) includes ``accounts/_call_note_actions.html``.
    return {"call_note_actions": call_notes.actions_for}


class CallNoteForm(FlaskForm):
    kind = RadioField("What kind of interaction was it?", validate_choice=False)
    occurred_at = LocalDateTimeField("When did it take place?", validators=[Optional()])
    requested_by_hcp = BooleanField(
        "The HCP asked for this interaction (it then uses none of their contact budget)"
    )
    product_ids = CheckboxesField("Products discussed", coerce=to_id, validate_choice=False)
    topics = StringField("Topics", description="A few words: what the HCP wanted to talk about.")
    summary = TextAreaField("Summary", description="What was discussed. Do not identify patients.")
    follow_up = TextAreaField("Follow-up", description="What you promised to do next, if anything.")
    follow_up_due = DateField("Follow-up due", validators=[Optional()])
    attestation = RadioField(
        "Did the HCP mention a possible adverse event or a product complaint?",
        default=None,
        validate_choice=False,
    )
    question_text = TextAreaField("The HCP's question, in their words")
    question_category = SelectField("What is it about?", validate_choice=False)
    question_product_id = SelectField("Product", coerce=to_optional_id, validate_choice=False)
    question_urgent = BooleanField("A patient is waiting (urgent)")
    question_consent = BooleanField(
        "The HCP agreed to be answered about it through the portal, as the question form says"
    )
    submit = SubmitField("Save the note")

    def setup(self) -> None:
        products = list_products()
        self.kind.choices = choices((k.value, k.label) for k in InteractionKind)
        self.product_ids.choices = choices((p.id, p.name) for p in products)
        self.attestation.choices = choices((c.value, c.label) for c in AttestationChoice)
        self.question_category.choices = choices(
            ((c.value, c.label) for c in Category if c.is_medical), blank="Choose a category"
        )
        self.question_product_id.choices = choices(
            ((p.id, p.name) for p in products), blank="No specific product"
        )

    def to_input(self) -> call_notes.CallNoteInput:
        question = None
        if (self.question_text.data or "").strip() or self.question_category.data:
            question = intake.OnBehalfInput(
                text=self.question_text.data or "",
                category=self.question_category.data or "",
                product_id=self.question_product_id.data,
                urgent=bool(self.question_urgent.data),
                consent=bool(self.question_consent.data),
            )
        return call_notes.CallNoteInput(
            kind=self.kind.data or "",
            occurred_at=self.occurred_at.data,
            requested_by_hcp=bool(self.requested_by_hcp.data),
            product_ids=list(self.product_ids.data or []),
            topics=self.topics.data or "",
            summary=self.summary.data or "",
            follow_up=self.follow_up.data or "",
            follow_up_due=self.follow_up_due.data,
            question=question,
        )

    def to_attestation(self) -> Attestation | None:
        return Attestation.from_choice(self.attestation.data)


class ButtonForm(FlaskForm):
    """A button that posts nothing but the CSRF token."""

    submit = SubmitField("Done")


@blueprint.route("/<int:hcp_id>/notes/new", methods=["GET", "POST"])
@throttled(Throttle.CALL_NOTES)
@login_required
def new(hcp_id: int) -> Response | tuple[str, int]:
    """The form; on save, back to the HCP's page. A refusal (bad input, the contact rule) shows
    the form again with what was typed and the reason (400 or 409)."""
    actor = _actor()
    preparation = call_notes.prepare(actor, hcp_id)
    form = CallNoteForm()
    form.setup()
    status = 200
    if request.method == "GET":
        form.kind.data = InteractionKind.VISIT.value
        form.occurred_at.data = utcnow().replace(second=0, microsecond=0)
        form.requested_by_hcp.data = preparation.inbound_only
    elif not form.validate_on_submit():
        status = 400
    else:
        try:
            note = call_notes.record(
                actor, hcp_id, form.to_input(), attestation=form.to_attestation()
            )
        except (InvalidInput, Conflict) as exc:
            attach_errors(form, exc)
            status = exc.status
        else:
            flash(_saved_message(actor, note), "success")
            return redirect(url_for("hcps.detail", hcp_id=hcp_id))
    return (
        render_template(
            "accounts/call_note_form.html",
            form=form,
            prep=preparation,
            hcp=preparation.hcp,
            channels=[c for c in ContactChannel if c in preparation.terms.channels],
            limits={
                "topics": call_notes.MAX_TOPICS,
                "summary": call_notes.MAX_SUMMARY,
                "follow_up": call_notes.MAX_FOLLOW_UP,
                "question": intake.max_text_length(),
            },
            refused=status == Conflict.status,
            now=utcnow(),
        ),
        status,
    )


def _saved_message(actor: User, note: Any) -> str:
    message = f"Interaction recorded ({call_notes.reference_of(note.id)})."
    linked = call_notes.linked_question(actor, note)
    if linked is not None:
        message += (
            f" The HCP's question {linked.reference} was sent to {linked.team}; the HCP is told "
            "and sees it in their questions."
        )
    return message


@blueprint.route("/notes/<int:note_id>/follow-up-done", methods=["POST"])
@login_required
def follow_up_done(note_id: int) -> Response | str:
    """The note's author marks its follow-up done; back where they came from (``next``, a path
    of this site), else home."""
    back = safe_next(request.form.get("next"), url_for("main.home"))

    def run(actor: User) -> str:
        note = call_notes.complete_follow_up(actor, note_id)
        return f"Follow-up of {call_notes.reference_of(note.id)} marked done."

    return run_form_action(run, form=ButtonForm(), back=back)
