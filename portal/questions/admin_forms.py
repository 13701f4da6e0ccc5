"""Forms of the routing administration pages.

Fields carry no rules of their own beyond CSRF and parsing numbers: the services in
:mod:`portal.questions.settings` validate and report every bad field at once, and the views attach
those errors here (field names match the services' error keys).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FloatField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from portal.forms import choices
from portal.models import Product, Territory
from portal.models.reference import COUNTRIES
from portal.questions import settings
from portal.questions.calendar import SlaUnit
from portal.questions.forms import CheckboxesField
from portal.questions.models import QUEUE_TEAMS, Category, team_label

UNIT_LABELS = {SlaUnit.HOURS: "business hours", SlaUnit.DAYS: "business days"}


def _category_choices() -> list[tuple[str, str]]:
    return [(c.value, c.label) for c in Category]


class RuleForm(FlaskForm):
    name = StringField("Name", description="What the rule is for, as colleagues will read it.")
    team = SelectField("Owning team", validate_choice=False)
    categories = CheckboxesField("Category is one of", validate_choice=False)
    products = CheckboxesField("Product is one of", validate_choice=False)
    keywords = TextAreaField(
        "Text mentions any of",
        description=(
            "One keyword or phrase per line; case and accents are ignored, * ends a word prefix "
            "(härtefall*)."
        ),
        render_kw={"rows": 5},
    )
    countries = CheckboxesField("HCP practises in", validate_choice=False)
    territories = CheckboxesField("HCP's territory is one of", validate_choice=False)
    submit = SubmitField("Save rule")

    def set_choices(self, products: Sequence[Product], territories: Sequence[Territory]) -> None:
        self.team.choices = choices(
            ((t.value, team_label(t)) for t in QUEUE_TEAMS), blank="Choose a team"
        )
        self.categories.choices = choices(_category_choices())
        self.products.choices = choices((p.code, f"{p.name} ({p.code})") for p in products)
        self.countries.choices = choices(
            (code, name) for code, name in sorted(COUNTRIES.items(), key=lambda kv: kv[1])
        )
        self.territories.choices = choices((t.code, f"{t.name} ({t.code})") for t in territories)

    def rule_input(self) -> settings.RuleInput:
        return settings.RuleInput(
            name=self.name.data or "",
            team=self.team.data or "",
            categories=self.categories.data or [],
            products=self.products.data or [],
            keywords=self.keywords.data or "",
            countries=self.countries.data or [],
            territories=self.territories.data or [],
        )


class PreviewForm(FlaskForm):
    text = TextAreaField("Question text", render_kw={"rows": 3})
    category = SelectField("Category", validate_choice=False)
    product = SelectField("Product", validate_choice=False)
    country = SelectField("HCP's country", validate_choice=False)
    territory = SelectField("HCP's territory", validate_choice=False)
    include_disabled = BooleanField("Try disabled rules too, as if they were enabled")
    submit = SubmitField("Try it")

    def set_choices(self, products: Iterable[Product], territories: Iterable[Territory]) -> None:
        self.category.choices = choices(_category_choices())
        self.product.choices = choices(
            ((p.code, f"{p.name} ({p.code})") for p in products), blank="No product"
        )
        self.country.choices = choices(
            sorted(COUNTRIES.items(), key=lambda kv: kv[1]), blank="Not given"
        )
        self.territory.choices = choices(
            ((t.code, f"{t.name} ({t.code})") for t in territories), blank="Not given"
        )


class MoveForm(FlaskForm):
    direction = HiddenField()


class ActiveForm(FlaskForm):
    active = HiddenField()  # "1" enables, anything else disables


class ButtonForm(FlaskForm):
    """A button that posts nothing but the CSRF token."""

    submit = SubmitField("Confirm")


class SlaForm(FlaskForm):
    """One SLA row (the template gives each row's fields ids of their own, and the key)."""

    amount = IntegerField("Amount")
    unit = SelectField(
        "Unit",
        choices=choices((u.value, UNIT_LABELS[u]) for u in SlaUnit),
        validate_choice=False,
    )
    submit = SubmitField("Save")


class HolidaysForm(FlaskForm):
    text = TextAreaField(
        "Holidays",
        description=(
            "One per line: the date as YYYY-MM-DD, then its name. # starts a comment. Saving "
            "replaces the whole list."
        ),
        render_kw={"rows": 14},
    )
    submit = SubmitField("Save holidays")


class TeamCalendarForm(FlaskForm):
    team = HiddenField()
    country = SelectField(
        "Public holidays of",
        choices=choices(
            ((code, name) for code, name in COUNTRIES.items()), blank="None: company calendar"
        ),
        validate_choice=False,
    )
    timezone = StringField(
        "Time zone",
        description="An IANA name such as Europe/Berlin; empty for the company's time zone.",
        validators=[Length(max=64)],
    )
    submit = SubmitField("Save calendar")


class LabelForm(FlaskForm):
    indications = CheckboxesField("Approved indications", validate_choice=False)
    min_age = IntegerField("Youngest approved age (years)", validators=[Optional()])
    max_age = IntegerField("Oldest approved age (years)", validators=[Optional()])
    dose_min_mg = FloatField("Smallest approved single dose (mg)", validators=[Optional()])
    dose_max_mg = FloatField("Largest approved single dose (mg)", validators=[Optional()])
    populations = TextAreaField(
        "Populations and other notes",
        description="Shown to staff with off-label findings, e.g. “Adults; not in pregnancy.”",
        render_kw={"rows": 3},
    )
    submit = SubmitField("Save label facts")

    def set_choices(self, keys: Iterable[str]) -> None:
        self.indications.choices = choices(
            (k, f"{settings.condition_label(k)} ({k})") for k in keys
        )

    def label_input(self) -> settings.LabelInput:
        return settings.LabelInput(
            indications=self.indications.data or [],
            min_age=self.min_age.data,
            max_age=self.max_age.data,
            dose_min_mg=self.dose_min_mg.data,
            dose_max_mg=self.dose_max_mg.data,
            populations=self.populations.data or "",
        )
