"""Forms for signing in, registering, resetting or changing a password, and two-factor sign-in."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from portal.forms import choices
from portal.models.reference import (
    COUNTRIES,
    PROFESSION_LABELS,
    SPECIALTIES,
    SPECIALTY_LABELS,
    Profession,
)

# Lazy: a form is built per request, in the language of that request.
PASSWORD_LENGTH = _l("Use 12 to 256 characters.")


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    submit = SubmitField(_l("Sign in"))


class RegistrationForm(FlaskForm):
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Work email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(),
            Length(min=12, max=256, message=PASSWORD_LENGTH),
        ],
        description=_l("At least 12 characters."),
    )
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )
    profession = SelectField(
        _l("Profession"),
        choices=choices(((p.value, PROFESSION_LABELS[p]) for p in Profession), blank=_l("Choose…")),
        validators=[DataRequired(message=_l("Choose your profession."))],
    )
    specialty = SelectField(
        _l("Specialty"),
        choices=choices(((s, SPECIALTY_LABELS[s]) for s in SPECIALTIES), blank=_l("Choose…")),
        validators=[DataRequired(message=_l("Choose your specialty."))],
    )
    institution = StringField(
        _l("Institution or practice"), validators=[DataRequired(), Length(max=200)]
    )
    country = SelectField(
        _l("Country"),
        choices=choices(sorted(COUNTRIES.items(), key=lambda item: item[1]), blank=_l("Choose…")),
        validators=[DataRequired(message=_l("Choose your country."))],
    )
    postal_code = StringField(_l("Postal code"), validators=[DataRequired(), Length(max=20)])
    npi = StringField(
        _l("NPI (United States)"),
        validators=[Optional(), Length(max=20)],
        description=_l("Your 10-digit National Provider Identifier."),
    )
    licence_number = StringField(
        _l("Licence or registration number (outside the United States)"),
        validators=[Optional(), Length(max=64)],
    )
    submit = SubmitField(_l("Create account"))


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    submit = SubmitField(_l("Send reset link"))


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(),
            Length(min=12, max=256, message=PASSWORD_LENGTH),
        ],
    )
    confirm = PasswordField(
        _l("Repeat new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )
    submit = SubmitField(_l("Set password"))


class ResendConfirmationForm(FlaskForm):
    submit = SubmitField(_l("Send the confirmation email again"))


class TwoFactorCodeForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(message=_l("Type the code.")), Length(max=32)],
        description=_l(
            "The 6-digit code from your authenticator app, or one of your recovery codes."
        ),
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"},
    )
    submit = SubmitField(_l("Continue"))


class EnrolForm(FlaskForm):
    code = StringField(
        _l("Code from your app"),
        validators=[DataRequired(message=_l("Type the code.")), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField(_l("Turn on two-factor sign-in"))


class SessionActionForm(FlaskForm):
    """A button that signs a session out (the CSRF token is all it carries)."""

    submit = SubmitField(_l("Sign out"))


class ChangePasswordForm(FlaskForm):
    """A signed-in user changes their password (the service checks the current one)."""

    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(message=_l("Type your current password.")), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(),
            Length(min=12, max=256, message=PASSWORD_LENGTH),
        ],
        description=_l("At least 12 characters."),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Repeat new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Change password"))


class _CurrentCodeForm(FlaskForm):
    code = StringField(
        _l("Current code from your app"),
        validators=[DataRequired(message=_l("Type the code.")), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class NewRecoveryCodesForm(_CurrentCodeForm):
    """Replace every recovery code; used with ``prefix="recovery"`` beside the turn-off form."""

    submit = SubmitField(_l("Get new recovery codes"))


class TurnOffTwoFactorForm(_CurrentCodeForm):
    """Turn off two-factor sign-in (HCPs); used with ``prefix="off"``."""

    submit = SubmitField(_l("Turn off two-factor sign-in"))


class LanguageForm(FlaskForm):
    """The signed-in user's language and time zone. Choices are filled in by the view (the
    configured languages, the server's zones); the service says what is valid, so a zone typed
    into a forged form is refused with a message naming it rather than "Not a valid choice"."""

    locale = SelectField(_l("Language"), validate_choice=False)
    timezone = SelectField(_l("Time zone"), validate_choice=False)
    submit = SubmitField(_l("Save"))
