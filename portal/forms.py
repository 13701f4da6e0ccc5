"""Helpers shared by every package's forms."""

from __future__ import annotations

from flask_wtf import FlaskForm

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
