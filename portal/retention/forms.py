"""The retention page's forms: the periods, placing a legal hold, releasing one."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, IntegerField, RadioField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.forms import choices
from portal.retention.holds import REASON_MAX
from portal.retention.models import HoldScope, RecordKind
from portal.retention.periods import MAX_DAYS


class PeriodsForm(FlaskForm):
    """One whole number of days per kind of record (fields named by the kind's value)."""

    submit = SubmitField(_l("Save the periods"))

    def period_fields(self) -> list[tuple[RecordKind, Any]]:
        return [(kind, self[kind.value]) for kind in RecordKind]


for _kind in RecordKind:
    setattr(
        PeriodsForm,
        _kind.value,
        IntegerField(
            _kind.label,
            validators=[InputRequired(), NumberRange(min=1, max=MAX_DAYS)],
            description=_kind.explanation,
        ),
    )


class HoldForm(FlaskForm):
    scope = RadioField(
        _l("Hold"),
        choices=choices(
            (
                (HoldScope.PERSON.value, _l("One person's records (an HCP or a colleague)")),
                (HoldScope.EVERYTHING.value, _l("Everything: the purge stops altogether")),
            )
        ),
        default=HoldScope.PERSON.value,
        validators=[DataRequired()],
    )
    email = EmailField(_l("The person's e-mail address"), validators=[Optional(), Length(max=254)])
    reason = TextAreaField(
        _l("Reason (the matter, the request it answers)"),
        validators=[DataRequired(), Length(max=REASON_MAX)],
    )
    submit = SubmitField(_l("Place the hold"))


class ReleaseForm(FlaskForm):
    hold_id = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(
        _l("Why it is released"), validators=[DataRequired(), Length(max=REASON_MAX)]
    )
    submit = SubmitField(_l("Release"))
