"""A page's form action, run as one unit of work and answered as the pages answer: for the views
of the question and PV case pages, which post small forms back to the page they came from.

Thin on purpose: what to do is the caller's (one service call and the message to flash); this
module only reads the form, runs it in :func:`portal.unit_of_work.unit_of_work` and answers.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from portal.errors import InvalidInput, PortalError
from portal.forms import attach_errors
from portal.models import User
from portal.unit_of_work import unit_of_work

UNREADABLE = "That form could not be read: try again."


def run_form_action(
    action: Callable[[User], str],
    *,
    form: FlaskForm,
    back: str,
    show_again: Callable[[User], str] | None = None,
) -> Response | str:
    """Run ``action(actor)`` for the signed-in user as one unit of work, once ``form`` validates,
    and go ``back`` (the page's URL) with its outcome flashed: the message it returns, or the
    service's refusal. A form that does not validate is flashed as unreadable and nothing runs.

    With ``show_again``, invalid input (``InvalidInput``) is not flashed: it is attached to the
    form, and ``show_again(actor)`` renders the page with it (the text typed is kept). ``NotFound``
    (any 404) is raised on, to the error handlers: someone else's object does not exist.
    """
    actor: User = current_user._get_current_object()
    if not form.validate_on_submit():
        flash(UNREADABLE, "danger")
        return redirect(back)
    try:
        with unit_of_work():
            message = action(actor)
    except PortalError as exc:
        if exc.status == 404:
            raise
        if show_again is not None and isinstance(exc, InvalidInput):
            attach_errors(form, exc)
            return show_again(actor)
        flash(exc.message, "danger")
    else:
        flash(message, "success")
    return redirect(back)
