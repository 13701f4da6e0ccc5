"""Forms of the content library."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from content.models import Classification, MaterialKind
from content.services import MaterialInput
from portal.admin.forms import CheckboxesField
from portal.forms import LocalDateTimeField, choices
from portal.inputs import to_id
from portal.models import Product
from portal.models.reference import COUNTRIES, SPECIALTIES, Profession

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


class MaterialForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    summary = TextAreaField("Summary", validators=[DataRequired(), Length(max=1000)])
    body = TextAreaField(
        "Body (Markdown)",
        validators=[Optional(), Length(max=100_000)],
        description="Markdown: headings, lists, tables, links. Raw HTML is not allowed.",
    )
    product_id = SelectField("Product", coerce=to_id, validators=[InputRequired()])
    therapeutic_area = StringField(
        "Therapeutic area",
        validators=[Optional(), Length(max=100)],
        description="Leave empty to use the product's therapeutic area.",
    )
    kind = SelectField("Kind", choices=choices((k.value, k.label) for k in MaterialKind))
    classification = SelectField(
        "Classification", choices=choices((c.value, c.label) for c in Classification)
    )
    approval_code = StringField(
        "Approval code", validators=[DataRequired(), Length(max=40)], description="e.g. PRT-US-0042"
    )
    # Typed in the author's own zone (named in the label), stored in UTC.
    effective_at = LocalDateTimeField(
        "Effective from", format=DATETIME_FORMAT, validators=[InputRequired()]
    )
    expires_at = LocalDateTimeField(
        "Expires at", format=DATETIME_FORMAT, validators=[InputRequired()]
    )
    professions = CheckboxesField(
        "Audience: professions", choices=choices((p.value, p.label) for p in Profession)
    )
    specialties = CheckboxesField(
        "Audience: specialties", choices=choices((s, s) for s in SPECIALTIES)
    )
    countries = CheckboxesField(
        "Audience: countries", choices=choices(sorted(COUNTRIES.items(), key=lambda kv: kv[1]))
    )
    file = FileField(
        "File (PDF, PNG, JPEG or MP4)",
        description="Optional. The type is checked from the file's content.",
    )
    submit = SubmitField("Save draft")

    def set_products(self, products: Sequence[Product]) -> None:
        self.product_id.choices = choices(
            (p.id, f"{p.name} ({p.therapeutic_area})") for p in products
        )

    def to_input(self) -> MaterialInput:
        return MaterialInput(
            title=self.title.data or "",
            summary=self.summary.data or "",
            body_markdown=self.body.data or "",
            product_id=self.product_id.data,
            kind=self.kind.data or "",
            classification=self.classification.data or "",
            approval_code=self.approval_code.data or "",
            effective_at=as_utc(self.effective_at.data),
            expires_at=as_utc(self.expires_at.data),
            professions=self.professions.data or [],
            specialties=self.specialties.data or [],
            countries=self.countries.data or [],
            therapeutic_area=self.therapeutic_area.data or "",
        )


class CommentsForm(FlaskForm):
    comments = TextAreaField("Comments", validators=[Optional(), Length(max=4000)])
    submit = SubmitField("Confirm")


class ActionForm(FlaskForm):
    submit = SubmitField("Confirm")
