"""What the portal's page tests share: a registration form as the page posts it, a browser of its
own signed in as someone, and what the database says of a user afterwards."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditRecord, User
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
    client = _own_browser(app)
    login(client, user.email, **login_kwargs)
    return client


def signed_in(app: Flask, user: User, **environ: Any) -> FlaskClient:
    """A browser of its own whose every request carries ``environ`` (``HTTP_USER_AGENT=...``:
    another browser), signed in as ``user`` through the real form, or the test fails."""
    client = _own_browser(app)
    client.environ_base.update(environ)
    response = login(client, user.email)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def _own_browser(app: Flask) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()


def fresh(user: User) -> User:
    """``user`` as the database has it now."""
    db.session.expire_all()
    found = db.session.get(User, user.id)
    assert found is not None
    return found


def audit_actions(user: User) -> list[str]:
    """The actions of the audit records about ``user``, oldest first."""
    return list(
        db.session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target_type == "users", AuditRecord.target_id == str(user.id))
            .order_by(AuditRecord.id)
        )
    )
