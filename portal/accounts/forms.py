"""Forms of the account team's pages and the HCP's own account.

Fields carry no rules of their own beyond parsing (and CSRF): the services validate and report
every bad field at once, and the views attach those errors here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, SubmitField
from wtforms.validators import InputRequired, Optional
from wtforms.widgets import NumberInput, TimeInput

from portal.accounts.models import ContactChannel, ContactPreferences
from portal.accounts.preferences import MAX_PAUSE_WEEKS, PreferencesInput
from portal.admin.forms import CheckboxesField
from portal.forms import choices
from portal.inputs import to_id
from portal.models import Product
from portal.models.reference import specialty_label


class WholeNumberField(IntegerField):
    """A whole number typed by a person: anything else is a field error in their language."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or valuelist[0] in ("", None):
            self.data = None
            return
        try:
            self.data = int(str(valuelist[0]).strip())
        except ValueError:
            self.data = None
            raise ValueError(gettext("Write a whole number, e.g. 4.")) from None


class NameForm(FlaskForm):
    name = StringField(_l("Your name"))
    submit = SubmitField(_l("Save name"))


class PreferencesForm(FlaskForm):
    channels = CheckboxesField(_l("You accept unsolicited contact by"), validate_choice=False)
    product_ids = CheckboxesField(_l("Products"), coerce=to_id, validate_choice=False)
    areas = CheckboxesField(_l("Therapeutic areas"), validate_choice=False)
    quiet_start = StringField(_l("Quiet hours from"), widget=TimeInput())
    quiet_end = StringField(_l("until"), widget=TimeInput())
    cap = WholeNumberField(
        _l("At most this many unsolicited contacts per 30 days"),
        validators=[InputRequired(_l("Choose a number."))],
        widget=NumberInput(min=0),
    )
    pause_weeks = WholeNumberField(
        _l("Pause all contact for (weeks)"),
        validators=[Optional()],
        widget=NumberInput(min=1, max=MAX_PAUSE_WEEKS),
    )
    submit = SubmitField(_l("Save preferences"))

    def setup(
        self, *, products: Sequence[Product], areas: Sequence[str], max_cap: int, days: int
    ) -> None:
        """Offer the channels, products and areas, in the reader's language (built for each
        request: a class attribute would be English), and the cap's bounds and window."""
        self.channels.choices = choices((c.value, c.label) for c in ContactChannel)
        self.product_ids.choices = choices((p.id, p.name) for p in products)
        self.areas.choices = choices((a, specialty_label(a)) for a in areas)
        self.cap.label.text = gettext(
            "At most this many unsolicited contacts per %(days)s days", days=days
        )
        self.cap.widget = NumberInput(min=0, max=max_cap)

    def fill(self, saved: ContactPreferences) -> None:
        """Show the preferences that apply now (saved, or the company defaults)."""
        self.channels.data = list(saved.channels)
        self.product_ids.data = [int(p) for p in saved.product_ids]
        self.areas.data = list(saved.areas)
        self.quiet_start.data = saved.quiet_start or ""
        self.quiet_end.data = saved.quiet_end or ""
        self.cap.data = saved.cap

    def to_input(self) -> PreferencesInput:
        return PreferencesInput(
            channels=list(self.channels.data or []),
            product_ids=list(self.product_ids.data or []),
            areas=list(self.areas.data or []),
            quiet_start=self.quiet_start.data or "",
            quiet_end=self.quiet_end.data or "",
            cap=self.cap.data,
            pause_weeks=self.pause_weeks.data,
        )


class ButtonForm(FlaskForm):
    """A one-button form (CSRF only): "resume contact now"."""

    submit = SubmitField(_l("Resume contact now"))
