"""The webhook administration forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField, URLField
from wtforms.validators import DataRequired, Length

from portal.admin.forms import CheckboxesField
from portal.api.models import SCOPE_LABELS, ApiScope
from portal.forms import choices
from portal.webhooks.models import EVENT_LABELS, SUBSCRIBABLE


class SubscriptionForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    url = URLField(
        _l("URL"),
        validators=[DataRequired(), Length(max=2000)],
        description=_l("An https address of the receiving system; it gets a signed POST."),
    )
    events = CheckboxesField(
        _l("Events"), choices=choices((e.value, EVENT_LABELS[e]) for e in SUBSCRIBABLE)
    )
    scopes = CheckboxesField(
        _l("Scopes (what the receiver may learn about)"),
        choices=choices(
            (s.value, _l("%(scope)s: %(label)s", scope=s.value, label=SCOPE_LABELS[s]))
            for s in ApiScope
        ),
    )
    submit = SubmitField(_l("Subscribe"))


class ConfirmForm(FlaskForm):
    submit = SubmitField(_l("Confirm"))
