"""Administration forms."""

from __future__ import annotations

from collections.abc import Sequence

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from portal.forms import choices
from portal.inputs import to_id
from portal.models import Product, Team, Territory
from portal.models.reference import STAFF_ROLES


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AssignmentForm(FlaskForm):
    role = SelectField("Role", choices=choices((r.value, r.label) for r in STAFF_ROLES))
    teams = CheckboxesField("Teams")
    lead_teams = CheckboxesField("Leads these teams")
    territories = CheckboxesField("Territories", coerce=to_id)
    products = CheckboxesField("Products", coerce=to_id)
    submit = SubmitField("Save assignment")

    def set_choices(
        self, teams: Sequence[Team], territories: Sequence[Territory], products: Sequence[Product]
    ) -> None:
        team_choices = choices((t.key.value, t.display_name) for t in teams)
        self.teams.choices = team_choices
        self.lead_teams.choices = team_choices
        self.territories.choices = choices((t.id, f"{t.name} ({t.code})") for t in territories)
        self.products.choices = choices(
            (p.id, f"{p.name} — {p.therapeutic_area}") for p in products
        )


class CreateStaffForm(AssignmentForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Work email", validators=[DataRequired(), Length(max=254)])
    submit = SubmitField("Create account and send invitation")


class ReasonForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(min=5, max=1000)])
    submit = SubmitField("Confirm")


class ConfirmForm(FlaskForm):
    submit = SubmitField("Confirm")


class UserSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField("Search")
    role = SelectField("Role")
    status = SelectField(
        "Status",
        choices=choices(
            [
                ("pending", "Awaiting verification"),
                ("rejected", "Rejected"),
                ("active", "Active"),
                ("suspended", "Suspended"),
            ],
            blank="Any status",
        ),
    )
