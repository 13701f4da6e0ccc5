"""Changing the password while signed in: the current password first, then every other session
ends while this one stays; wrong guesses count like failed sign-ins. The rule lives in
``accounts.change_password``; these tests go through the page a person uses."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from chat import events, presence
from portal import session_sockets
from portal.errors import InvalidInput, PermissionDenied
from portal.extensions import db
from portal.models import OutboxMail, Role, User, UserSession
from portal.services import accounts, passwords, sessions
from tests.chat.test_events import Socket
from tests.conftest import IsolatedClient, login
from tests.factories import PASSWORD, make_hcp, make_user
from tests.portal.helpers import audit_actions, fresh, signed_in

NEW_PASSWORD = "a different passphrase 2027"
OTHER_BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def can_open_home(client: FlaskClient) -> bool:
    response = client.get("/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def change(client: FlaskClient, current: str = PASSWORD, new: str = NEW_PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    data = {"current_password": current, "password": new, "confirm": new, **extra}
    return client.post("/account/password", data=data)


def mails_to(user: User) -> list[OutboxMail]:
    return list(db.session.scalars(select(OutboxMail).where(OutboxMail.to == user.email)))


# --- the page -------------------------------------------------------------------------------------
def test_sessions_page_links_to_the_password_page(app):
    client = signed_in(app, make_hcp())

    page = client.get("/account/sessions").get_data(as_text=True)

    assert 'href="/account/password"' in page
    form = client.get("/account/password")
    assert form.status_code == 200
    assert 'autocomplete="current-password"' in form.get_data(as_text=True)


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get("/account/password")

    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_wrong_current_password_is_refused_and_nothing_changes(app):
    hcp = make_hcp()
    here = signed_in(app, hcp)
    elsewhere = signed_in(app, hcp, HTTP_USER_AGENT=OTHER_BROWSER)
    hash_before = hcp.password_hash

    response = change(here, current="not my password at all")

    assert response.status_code == 200
    assert accounts.WRONG_PASSWORD in response.get_data(as_text=True)
    user = fresh(hcp)
    assert user.password_hash == hash_before
    assert user.failed_logins == 1  # counted like a failed sign-in
    assert can_open_home(here) and can_open_home(elsewhere)
    assert "user.password_changed" not in audit_actions(hcp)
    assert "auth.password_change_failed" in audit_actions(hcp)
    assert mails_to(hcp) == []


@pytest.mark.parametrize(
    ("new", "confirm", "message"),
    [
        ("short", "short", "Use 12 to 256 characters."),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "The passwords differ."),
        ("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "Use a less repetitive password."),
        (PASSWORD, PASSWORD, "Choose a password other than your current one."),
    ],
)
def test_a_bad_new_password_is_refused_and_nothing_changes(app, new, confirm, message):
    hcp = make_hcp()
    client = signed_in(app, hcp)
    hash_before = hcp.password_hash

    response = change(client, new=new, confirm=confirm)

    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert fresh(hcp).password_hash == hash_before
    assert "user.password_changed" not in audit_actions(hcp)


def test_changing_the_password_signs_out_every_other_session_but_this_one(app):
    hcp = make_hcp()
    here = signed_in(app, hcp)
    elsewhere = signed_in(app, hcp, HTTP_USER_AGENT=OTHER_BROWSER)
    assert can_open_home(elsewhere)

    response = change(here)

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/sessions")
    assert can_open_home(here)
    assert not can_open_home(elsewhere)  # the second browser's cookie stopped working
    user = fresh(hcp)
    assert passwords.check_password(user.password_hash, NEW_PASSWORD)
    assert len(sessions.list_sessions(user)) == 1
    revoked = db.session.scalars(
        select(UserSession).where(UserSession.revoked_at.is_not(None))
    ).all()
    assert [r.revoked_reason for r in revoked] == ["password changed"]
    assert audit_actions(hcp)[-2:] == ["session.revoked", "user.password_changed"]
    [notice] = mails_to(hcp)
    assert "password was changed" in notice.subject
    assert NEW_PASSWORD not in notice.body


def test_only_the_new_password_signs_in_afterwards(app):
    rep = make_user(Role.REP)
    change(signed_in(app, rep))

    app.test_client_class = IsolatedClient
    assert login(app.test_client(), rep.email).status_code == 200  # the form again: refused
    assert login(app.test_client(), rep.email, NEW_PASSWORD).status_code == 302


# --- the service ----------------------------------------------------------------------------------
def test_wrong_current_passwords_count_toward_the_sign_in_backoff(app):
    hcp = make_hcp()
    token = sessions.start(hcp, ip=None, user_agent="test")
    keep = db.session.get(UserSession, sessions.hash_token(token))
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        with pytest.raises(InvalidInput) as wrong:
            accounts.change_password(hcp, "wrong password!", NEW_PASSWORD, keep=keep)
        assert wrong.value.field == "current_password"

    # Inside the wait even the right password is refused, unchecked.
    with pytest.raises(InvalidInput) as waiting:
        accounts.change_password(hcp, PASSWORD, NEW_PASSWORD, keep=keep)

    assert waiting.value.message == accounts.TOO_MANY_TRIES
    assert passwords.check_password(fresh(hcp).password_hash, PASSWORD)
    with pytest.raises(InvalidInput):  # and signing in waits too
        accounts.authenticate(hcp.email, PASSWORD)


def test_the_kept_session_must_be_the_users_own(app):
    hcp, other = make_hcp(), make_hcp()
    token = sessions.start(other, ip=None, user_agent="test")
    theirs = db.session.get(UserSession, sessions.hash_token(token))

    with pytest.raises(PermissionDenied):
        accounts.change_password(hcp, PASSWORD, NEW_PASSWORD, keep=theirs)

    assert passwords.check_password(fresh(hcp).password_hash, PASSWORD)


def test_a_sign_in_waiting_for_its_second_factor_is_void_after_the_change(app):
    msl = make_user(Role.MSL)
    before = msl.session_version
    token = sessions.start(msl, ip=None, user_agent="test")
    keep = db.session.get(UserSession, sessions.hash_token(token))

    accounts.change_password(msl, PASSWORD, NEW_PASSWORD, keep=keep)

    from portal.services import two_factor

    assert two_factor.find_user_for_second_step(msl.id, before) is None
    assert sessions.find_current(token, user_agent="test") is not None


# --- sockets --------------------------------------------------------------------------------------
@pytest.fixture
def opened(app: Flask) -> Iterator[list[Socket]]:
    sockets: list[Socket] = []
    yield sockets
    for socket in sockets:
        socket.disconnect()
    presence.reset()
    events.reset()
    session_sockets.reset()


def wait_until_disconnected(socket: Socket, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds  # sockets are closed by a background task
    while socket.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    return not socket.connected


def test_other_sessions_sockets_close_and_this_browser_reconnects(app, opened):
    hcp = make_hcp()
    here = signed_in(app, hcp)
    elsewhere = signed_in(app, hcp, HTTP_USER_AGENT=OTHER_BROWSER)
    here_socket, elsewhere_socket = Socket(app, here), Socket(app, elsewhere)
    opened += [here_socket, elsewhere_socket]

    assert change(here).status_code == 302

    assert wait_until_disconnected(elsewhere_socket)
    # This browser's socket proved the old session version: it is closed too, and the client
    # reconnects with its cookie, which still stands.
    assert wait_until_disconnected(here_socket)
    again = Socket(app, here)
    opened.append(again)
    assert again.connected
    assert again.emit("conversations", {})["ok"] is True
    stranger = Socket(app, elsewhere)
    opened.append(stranger)
    assert not stranger.connected
