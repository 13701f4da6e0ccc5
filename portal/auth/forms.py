"""Forms for signing in, registering, resetting or changing a password, and two-factor sign-in."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from portal.forms import choices
from portal.models.reference import COUNTRIES, SPECIALTIES, Profession


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    submit = SubmitField("Sign in")


class RegistrationForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Work email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(min=12, max=256, message="Use 12 to 256 characters.")],
        description="At least 12 characters.",
    )
    confirm = PasswordField(
        "Repeat password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )
    profession = SelectField(
        "Profession",
        choices=choices(((p.value, p.label) for p in Profession), blank="Choose…"),
        validators=[DataRequired(message="Choose your profession.")],
    )
    specialty = SelectField(
        "Specialty",
        choices=choices(((s, s) for s in SPECIALTIES), blank="Choose…"),
        validators=[DataRequired(message="Choose your specialty.")],
    )
    institution = StringField(
        "Institution or practice", validators=[DataRequired(), Length(max=200)]
    )
    country = SelectField(
        "Country",
        choices=choices(sorted(COUNTRIES.items(), key=lambda item: item[1]), blank="Choose…"),
        validators=[DataRequired(message="Choose your country.")],
    )
    postal_code = StringField("Postal code", validators=[DataRequired(), Length(max=20)])
    npi = StringField(
        "NPI (United States)",
        validators=[Optional(), Length(max=20)],
        description="Your 10-digit National Provider Identifier.",
    )
    licence_number = StringField(
        "Licence or registration number (outside the United States)",
        validators=[Optional(), Length(max=64)],
    )
    submit = SubmitField("Create account")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    submit = SubmitField("Send reset link")


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=12, max=256, message="Use 12 to 256 characters.")],
    )
    confirm = PasswordField(
        "Repeat new password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )
    submit = SubmitField("Set password")


class ResendConfirmationForm(FlaskForm):
    submit = SubmitField("Send the confirmation email again")


class TwoFactorCodeForm(FlaskForm):
    code = StringField(
        "Code",
        validators=[DataRequired(message="Type the code."), Length(max=32)],
        description="The 6-digit code from your authenticator app, or one of your recovery codes.",
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"},
    )
    submit = SubmitField("Continue")


class EnrolForm(FlaskForm):
    code = StringField(
        "Code from your app",
        validators=[DataRequired(message="Type the code."), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField("Turn on two-factor sign-in")


class SessionActionForm(FlaskForm):
    """A button that signs a session out (the CSRF token is all it carries)."""

    submit = SubmitField("Sign out")


class ChangePasswordForm(FlaskForm):
    """A signed-in user changes their password (the service checks the current one)."""

    current_password = PasswordField(
        "Current password",
        validators=[DataRequired(message="Type your current password."), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=12, max=256, message="Use 12 to 256 characters.")],
        description="At least 12 characters.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat new password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField("Change password")


class _CurrentCodeForm(FlaskForm):
    code = StringField(
        "Current code from your app",
        validators=[DataRequired(message="Type the code."), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class NewRecoveryCodesForm(_CurrentCodeForm):
    """Replace every recovery code; used with ``prefix="recovery"`` beside the turn-off form."""

    submit = SubmitField("Get new recovery codes")


class TurnOffTwoFactorForm(_CurrentCodeForm):
    """Turn off two-factor sign-in (HCPs); used with ``prefix="off"``."""

    submit = SubmitField("Turn off two-factor sign-in")
