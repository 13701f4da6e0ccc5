"""The supervisory export's request form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, SubmitField
from wtforms.validators import Length, Optional

from portal.forms import choices
from portal.models import TeamKey
from portal.models.reference import TEAM_NAMES


class ExportForm(FlaskForm):
    # Plain text fields: the service reads the dates (a bad one is shown on its field), so the
    # page and ``flask export supervisory`` refuse the same input with the same words.
    since = StringField(
        _l("From (first day)"),
        validators=[Length(max=10)],
        render_kw={"type": "date"},
    )
    until = StringField(
        _l("Until (last day, included)"),
        validators=[Length(max=10)],
        render_kw={"type": "date"},
    )
    hcp = EmailField(_l("Only this HCP (e-mail address)"), validators=[Optional(), Length(max=254)])
    staff = EmailField(
        _l("Only this staff member (e-mail address)"), validators=[Optional(), Length(max=254)]
    )
    team = SelectField(
        _l("Only this team"),
        choices=choices(((k.value, TEAM_NAMES[k]) for k in TeamKey), blank=_l("All teams")),
        validators=[Optional()],
    )
    product = StringField(
        _l("Only this product (its code)"), validators=[Optional(), Length(max=32)]
    )
    submit = SubmitField(_l("Start the export"))
