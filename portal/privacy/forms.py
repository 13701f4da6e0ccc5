"""Forms of the data-rights pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length


class DeleteAccountForm(FlaskForm):
    """The HCP deletes their account: they confirm, and prove it is them."""

    confirm = BooleanField(
        _l("I understand that my account and my data will be deleted, except what safety law "
           "requires the company to keep under a pseudonym."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )  # fmt: skip
    password = PasswordField(
        _l("Your password"), validators=[DataRequired(_l("Enter your password."))]
    )
    code = StringField(_l("Code from your authenticator app"), validators=[Length(max=20)])
    submit = SubmitField(_l("Delete my account"))


class EraseForm(FlaskForm):
    """An administrator erases an HCP, with a reason (kept in the audit trail)."""

    reason = TextAreaField(
        _l("Reason"),
        validators=[DataRequired(_l("Give a reason.")), Length(min=5, max=500)],
    )
    submit = SubmitField(_l("Erase this person"))
