"""Helpers shared by every package's forms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice

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


def choices(pairs: Iterable[tuple[Any, str]], *, blank: str | None = None) -> list[SelectChoice]:
    """Select options from ``(value, label)`` pairs, optionally led by an empty "choose" option."""
    options = [SelectChoice("", blank)] if blank is not None else []
    options.extend(SelectChoice(value, label) for value, label in pairs)
    return options
