"""Forms of the question pages.

Fields carry no rules of their own (beyond CSRF and the browser hints in the templates): the
services validate and report every bad field at once, and the views attach those errors here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)

from portal.admin.forms import CheckboxesField
from portal.forms import choices
from portal.inputs import find_id, to_id, to_optional_id
from portal.models import Product, TeamKey
from portal.questions.intake import QuestionInput
from portal.questions.models import Category, Channel, Urgency, team_label
from portal.safety.attestations import Attestation, AttestationChoice


class AskForm(FlaskForm):
    product_id = SelectField(_l("Product"), coerce=to_optional_id, validate_choice=False)
    about_family_id = HiddenField()
    category = RadioField(_l("What is your question about?"), validate_choice=False)
    text = TextAreaField(_l("Your question"))
    channel = RadioField(_l("How would you like the answer?"), validate_choice=False)
    urgency = RadioField(
        _l("How urgent is it?"),
        default=Urgency.ROUTINE.value,
        validate_choice=False,
    )
    # Its label is the stored wording, shown by the template (what the HCP agrees to, exactly).
    consent = BooleanField(_l("I agree"))
    consent_wording_id = HiddenField()
    submit = SubmitField(_l("Send my question"))

    def setup(self, *, products: Sequence[Product], channels: Iterable[Channel]) -> None:
        self.product_id.choices = choices(
            ((p.id, p.name) for p in products), blank=_l("No specific product")
        )
        self.category.choices = choices((c.value, c.label) for c in Category)
        self.channel.choices = choices((c.value, c.label) for c in channels)
        # Built for each request, in its language (a class attribute would be English).
        self.urgency.choices = choices((u.value, u.label) for u in Urgency)

    def to_input(self) -> QuestionInput:
        return QuestionInput(
            text=self.text.data or "",
            category=self.category.data or "",
            channel=self.channel.data or "",
            urgency=self.urgency.data or "",
            product_id=self.product_id.data,
            consent=bool(self.consent.data),
            # Hidden fields come back as typed by whoever sent the request: junk is "none".
            consent_wording_id=find_id(self.consent_wording_id.data),
            about_family_id=find_id(self.about_family_id.data),
        )


class FollowUpForm(FlaskForm):
    text = TextAreaField(_l("Add to your question"))
    submit = SubmitField(_l("Send follow-up"))


class NoteForm(FlaskForm):
    text = TextAreaField("Internal note")
    submit = SubmitField("Add note")


def attestation_field() -> RadioField:
    """The safety attestation: an explicit choice with nothing chosen beforehand, so nobody
    attests by accident."""
    return RadioField(
        "Did this question or its follow-ups hold an adverse event or a product complaint?",
        choices=choices((c.value, c.label) for c in AttestationChoice),
        default=None,
        validate_choice=False,
    )


class AttestedForm(FlaskForm):
    attestation = attestation_field()

    def to_attestation(self) -> Attestation | None:
        return Attestation.from_choice(self.attestation.data)


class ReplyForm(AttestedForm):
    body = TextAreaField(
        "Answer (Markdown)",
        description="Markdown: **bold**, *italic*, lists, links. The HCP sees it formatted.",
    )
    materials = CheckboxesField("Attach approved materials", coerce=to_id, validate_choice=False)
    submit = SubmitField("Send the answer")

    def set_materials(self, materials: Iterable[Any]) -> None:
        self.materials.choices = choices(
            (m.id, f"{m.title} ({m.code_label}, {m.classification.label})") for m in materials
        )


class ReasonForm(FlaskForm):
    """Escalate (and close, where the reason is optional)."""

    reason = StringField("Reason")
    submit = SubmitField("Confirm")


class CloseForm(AttestedForm):
    """Close: the reason is optional; staff attest (the HCP's page shows no attestation)."""

    reason = StringField("Reason")
    submit = SubmitField("Confirm")


class ReassignForm(FlaskForm):
    to_team = SelectField("Hand to team", validate_choice=False)
    reason = StringField("Reason")
    submit = SubmitField("Reassign")

    def set_teams(self, teams: Iterable[TeamKey]) -> None:
        self.to_team.choices = choices(
            ((t.value, team_label(t)) for t in teams), blank="Choose a team"
        )


class ButtonForm(FlaskForm):
    """A button that posts nothing but the CSRF token (claim, close, acknowledge)."""

    submit = SubmitField("Confirm")
