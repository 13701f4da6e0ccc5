"""Forms of the API tokens page.

Fields parse and nothing more: :func:`portal.api.tokens.create_token` checks the name and the
scopes and reports each bad field (the names match the service's error keys).
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField

from portal.admin.forms import CheckboxesField
from portal.api.models import ApiScope


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name"),
        description=_l("The client that will use the token, e.g. “CRM (Veeva) production”."),
        render_kw={"maxlength": 100, "autocomplete": "off"},
    )
    scopes = CheckboxesField(
        _l("Scopes"),
        # The service names an unknown scope; the form does not refuse it silently.
        validate_choice=False,
    )
    submit = SubmitField(_l("Create token"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Labels in the reader's language, so built per request.
        self.scopes.choices = [(s.value, f"{s.value} ({s.label})") for s in ApiScope]


class RevokeForm(FlaskForm):
    submit = SubmitField(_l("Revoke"))
