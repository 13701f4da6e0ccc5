"""Helpers shared by every package's forms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from flask_babel import gettext
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField
from wtforms.fields.choices import SelectChoice

from portal import i18n
from portal.errors import PortalError


def attach_errors(form: FlaskForm, exc: PortalError) -> None:
    """Show a service's refusal on the form: next to each named field, else above the form."""
    problems = exc.errors or {"": exc.message}
    for name, message in problems.items():
        field = getattr(form, name, None) if name else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)


def choices(pairs: Iterable[tuple[Any, Any]], *, blank: Any = None) -> list[SelectChoice]:
    """Select options from ``(value, label)`` pairs, optionally led by an empty "choose" option."""
    options = [SelectChoice("", blank)] if blank is not None else []
    options.extend(SelectChoice(value, label) for value, label in pairs)
    return options


class LocalDateTimeField(DateTimeLocalField):
    """A date and time typed in the signed-in person's own time zone, stored as aware UTC.

    The label names the zone ("Effective from (Europe/Berlin)"); a stored value, aware or naive
    UTC, is shown back in that zone; a time the zone skips (clocks going forward) is refused
    with a message rather than silently shifted. ``data`` is always aware UTC (or None).
    """

    data: dt.datetime | None

    def __init__(self, label: str | None = None, validators: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("format", "%Y-%m-%dT%H:%M")
        super().__init__(label, validators, **kwargs)
        self.zone = i18n.current_timezone()
        self.label.text = f"{self.label.text} ({self.zone.key})"

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        typed: dt.datetime | None = self.data
        if typed is None:
            return
        try:
            self.data = i18n.local_to_utc(typed, self.zone)
        except i18n.NonexistentLocalTime:
            self.data = None
            raise ValueError(
                gettext(
                    "%(time)s does not exist in %(zone)s: the clocks skip that hour. "
                    "Choose a time outside it.",
                    time=typed.strftime("%Y-%m-%d %H:%M"),
                    zone=self.zone.key,
                )
            ) from None

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(self.raw_data)
        if isinstance(self.data, dt.datetime):
            local = i18n.utc_to_local(self.data, self.zone)
            assert local is not None
            return local.strftime(self.format[0])
        return ""
