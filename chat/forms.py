"""Forms of the chat pages.

They parse and carry CSRF; the rules (who may chat with whom, the current consent wording, the
invitation caps) live in :mod:`chat.consent` and :mod:`portal.policy`.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SubmitField, TextAreaField
from wtforms.validators import DataRequired

from portal.forms import choices
from portal.safety.attestations import Attestation, AttestationChoice

CONFIRM_MESSAGE = _l("Tick the box to confirm you agree before the chat starts.")


def as_int(value: Any) -> int | None:
    """A hidden field's whole number, or ``None`` for anything else (it comes back as sent)."""
    try:
        return int(str(value or "").strip())
    except ValueError:
        return None


class ConsentForm(FlaskForm):
    """Start a chat or accept an invitation: the wording shown on the page, and its box ticked."""

    staff_id = HiddenField()
    wording_id = HiddenField()
    # Its label is the stored wording, rendered by the template: what the HCP agrees to, exactly.
    consent = BooleanField(_l("I agree"), validators=[DataRequired(CONFIRM_MESSAGE)])
    submit = SubmitField(_l("Start a chat"))


class InviteForm(FlaskForm):
    hcp_id = HiddenField()
    note = TextAreaField("Note (optional)")
    submit = SubmitField("Invite to chat")


class EndForm(FlaskForm):
    """One click: "conversation" or "settings" says where the HCP ended it (for the record)."""

    via = HiddenField(default="conversation")
    submit = SubmitField(_l("End chat"))


class AttestForm(FlaskForm):
    """The staff participant's safety attestation for the messages shown (up to
    ``through_seq``): an explicit choice, nothing chosen beforehand."""

    through_seq = HiddenField()
    attestation = RadioField(
        "Did these messages hold an adverse event or a product complaint?",
        choices=choices((c.value, c.label) for c in AttestationChoice),
        default=None,
        validate_choice=False,
    )
    submit = SubmitField("Record my attestation")

    def to_attestation(self) -> Attestation | None:
        return Attestation.from_choice(self.attestation.data)


class ButtonForm(FlaskForm):
    """A button that posts nothing but the CSRF token (decline, end all)."""

    submit = SubmitField("Confirm")
