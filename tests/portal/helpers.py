"""What the portal's page tests share: a registration form as the page posts it, and a browser of
its own signed in as someone."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from portal.models import User
from tests.conftest import IsolatedClient, login
from tests.factories import unique, valid_npi

NEW_PASSWORD = "Fresh-Lantern-Orbit-2026"


def registration(**overrides: str) -> dict[str, str]:
    """A complete registration form with a unique address and a valid NPI; ``overrides`` replace
    fields."""
    data = {
        "name": "Dr. Robin Newman",
        "email": f"{unique('newdoc')}@example.org",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
        "profession": "physician",
        "specialty": "Cardiology",
        "institution": "Lakeside Clinic",
        "country": "US",
        "postal_code": "10001",
        "npi": valid_npi(),
        "licence_number": "",
    }
    data.update(overrides)
    return data


def browser(app: Flask, user: User, **login_kwargs: Any) -> FlaskClient:
    """A browser of its own (its requests never share the test's ``g``), signed in as ``user``
    through the real form; ``login_kwargs`` go to the sign-in request (``environ_base=...``)."""
    app.test_client_class = IsolatedClient
    client = app.test_client()
    login(client, user.email, **login_kwargs)
    return client
