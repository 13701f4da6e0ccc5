"""The ``/chat`` Socket.IO namespace accepts only a signed-in, active portal session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import socketio
from portal.models import Role
from portal.services.users import suspend_user
from tests.conftest import login
from tests.factories import make_hcp, make_user

NAMESPACE = "/chat"


@pytest.fixture
def connect(app: Flask) -> Iterator[Any]:
    """Open a Socket.IO connection carrying ``client``'s cookies."""
    opened: list[Any] = []

    def _connect(client: FlaskClient) -> Any:
        # A connection is a request of its own: in a fresh app context, nothing an earlier request
        # cached in ``g`` (Flask-Login keeps the user there) can stand in for the session cookie.
        with app.app_context():
            socket = socketio.test_client(app, namespace=NAMESPACE, flask_test_client=client)
        opened.append(socket)
        return socket

    yield _connect
    for socket in opened:
        if socket.is_connected(NAMESPACE):
            with app.app_context():
                socket.disconnect(namespace=NAMESPACE)


def test_connection_without_sign_in_is_refused(client, connect):
    socket = connect(client)

    assert not socket.is_connected(NAMESPACE)


@pytest.mark.parametrize("role", [Role.HCP, Role.REP, Role.MSL])
def test_connection_after_sign_in_is_accepted(client, connect, role):
    login(client, make_user(role).email)

    socket = connect(client)

    assert socket.is_connected(NAMESPACE)


def test_connection_after_sign_out_is_refused(client, connect):
    login(client, make_hcp().email)
    client.post("/logout")

    socket = connect(client)

    assert not socket.is_connected(NAMESPACE)


def test_suspended_users_session_is_refused(client, connect):
    hcp = make_hcp()
    login(client, hcp.email)
    assert connect(client).is_connected(NAMESPACE)

    suspend_user(make_user(Role.ADMIN), hcp, reason="Licence revoked by the board")
    socket = connect(client)

    assert not socket.is_connected(NAMESPACE)


def test_session_from_before_a_password_reset_is_refused(client, connect):
    hcp = make_hcp()
    login(client, hcp.email)
    hcp.session_version += 1  # what a password reset does to every open session
    from portal.extensions import db

    db.session.commit()

    socket = connect(client)

    assert not socket.is_connected(NAMESPACE)
