"""Server-side sessions: what the cookie names, what ends a session, and the "Your sessions"
page. The rules live in ``portal/services/sessions.py``; these tests go through the pages a
person (or someone holding a copied cookie) uses."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditRecord, Role, User, UserSession, utcnow
from portal.services import accounts, sessions, tokens, users
from tests.conftest import IsolatedClient, login
from tests.factories import PASSWORD, make_hcp, make_user

OTHER_BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def new_client(app: Flask, **environ: Any) -> FlaskClient:
    """A browser of its own (each request in an app context of its own, as in production)."""
    app.test_client_class = IsolatedClient
    client = app.test_client()
    client.environ_base.update(environ)
    return client


def signed_in(app: Flask, user: User, **environ: Any) -> FlaskClient:
    client = new_client(app, **environ)
    response = login(client, user.email)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def copy_cookie(source: FlaskClient, target: FlaskClient) -> None:
    cookie = source.get_cookie("session")
    assert cookie is not None
    target.set_cookie("session", cookie.value)


def can_open_home(client: FlaskClient) -> bool:
    response = client.get("/")
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def live_sessions(user: User) -> list[UserSession]:
    db.session.expire_all()
    return sessions.list_sessions(db.session.get(User, user.id))


def only_session(user: User) -> UserSession:
    [record] = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id))
    return record


def audit_actions(user: User) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target_id == str(user.id), AuditRecord.target_type == "users")
            .order_by(AuditRecord.id)
        )
    )


# --- what the cookie carries ----------------------------------------------------------------------
def test_sign_in_creates_a_session_record_with_device_and_address(app):
    hcp = make_hcp()
    signed_in(app, hcp, HTTP_USER_AGENT=OTHER_BROWSER, REMOTE_ADDR="203.0.113.9")

    record = only_session(hcp)
    assert record.device == "Firefox on Linux"
    assert record.ip == "203.0.113.9"
    assert record.revoked_at is None
    assert "session.started" in audit_actions(hcp)


def test_the_database_keeps_only_a_hash_of_the_cookies_token(app):
    hcp = make_hcp()
    client = signed_in(app, hcp)
    with client.session_transaction() as session:
        token = session["_user_id"]

    record = only_session(hcp)
    assert record.id == sessions.hash_token(token) != token


# --- finding 1: sign-out ends the session ---------------------------------------------------------
def test_copied_cookie_is_refused_after_sign_out(app):
    hcp = make_hcp()
    owner = signed_in(app, hcp)
    thief = new_client(app)
    copy_cookie(owner, thief)
    assert can_open_home(thief)  # the same browser's cookie works until sign-out

    assert owner.post("/logout").status_code == 302

    assert not can_open_home(thief)
    record = only_session(hcp)
    assert record.revoked_reason == "signed out"
    assert {"auth.logout", "session.revoked"} <= set(audit_actions(hcp))


def test_cookie_replayed_by_another_browser_is_refused_and_ends_the_session(app):
    hcp = make_hcp()
    owner = signed_in(app, hcp)
    thief = new_client(app, HTTP_USER_AGENT=OTHER_BROWSER)
    copy_cookie(owner, thief)

    assert not can_open_home(thief)

    assert only_session(hcp).revoked_reason == "different browser"
    assert not can_open_home(owner)  # the stolen session is dead for everyone


# --- lifetimes ------------------------------------------------------------------------------------
@pytest.mark.app_config(STAFF_IDLE_MINUTES=30)
def test_idle_staff_session_expires_after_staff_idle_minutes(app):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        rep = make_user(Role.REP)
        client = signed_in(app, rep)
    with time_machine.travel(start + dt.timedelta(minutes=29), tick=False):
        assert can_open_home(client)  # activity keeps it alive
    with time_machine.travel(start + dt.timedelta(minutes=29 + 29), tick=False):
        assert can_open_home(client)
    with time_machine.travel(start + dt.timedelta(minutes=58 + 31), tick=False):
        assert not can_open_home(client)
    assert only_session(rep).revoked_reason == "idle too long"


def test_hcp_session_survives_what_ends_a_staff_session(app):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        hcp = make_hcp()
        client = signed_in(app, hcp)
    with time_machine.travel(start + dt.timedelta(minutes=45), tick=False):
        assert can_open_home(client)
    with time_machine.travel(start + dt.timedelta(minutes=45 + 8 * 60 + 1), tick=False):
        assert not can_open_home(client)


@pytest.mark.app_config(SESSION_ABSOLUTE_HOURS=12)
def test_every_session_ends_after_its_absolute_lifetime_however_busy(app):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        hcp = make_hcp()
        client = signed_in(app, hcp)
    for hours in (4, 8, 11.9):
        with time_machine.travel(start + dt.timedelta(hours=hours), tick=False):
            assert can_open_home(client)
    with time_machine.travel(start + dt.timedelta(hours=12, minutes=1), tick=False):
        assert not can_open_home(client)
    assert only_session(hcp).revoked_reason == "lifetime reached"


def test_last_seen_is_written_at_most_once_a_minute(app):
    start = utcnow().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        hcp = make_hcp()
        client = signed_in(app, hcp)
    with time_machine.travel(start + dt.timedelta(seconds=30), tick=False):
        assert can_open_home(client)
    assert only_session(hcp).last_seen_at == start
    with time_machine.travel(start + dt.timedelta(seconds=90), tick=False):
        assert can_open_home(client)
    db.session.expire_all()
    assert only_session(hcp).last_seen_at == start + dt.timedelta(seconds=90)


# --- what else ends sessions ----------------------------------------------------------------------
def test_password_reset_revokes_every_session(app):
    hcp = make_hcp()
    laptop, phone = signed_in(app, hcp), signed_in(app, hcp)

    accounts.reset_password(
        tokens.make_reset_token(hcp.id, hcp.password_hash), "a brand new passphrase 42"
    )

    assert not can_open_home(laptop)
    assert not can_open_home(phone)
    reasons = {r.revoked_reason for r in db.session.scalars(select(UserSession))}
    assert reasons == {"password reset"}


def test_suspension_revokes_every_session(app):
    rep = make_user(Role.REP)
    client = signed_in(app, rep)

    users.suspend_user(make_user(Role.ADMIN), rep, reason="Left the company")

    assert not can_open_home(client)
    assert only_session(rep).revoked_reason == "account suspended"


def test_role_change_revokes_every_session(app):
    rep = make_user(Role.REP)
    client = signed_in(app, rep)

    users.update_staff(make_user(Role.ADMIN), rep, users.StaffAssignment(role=Role.MSL.value))

    assert not can_open_home(client)
    assert only_session(rep).revoked_reason == "role changed"


def test_assignment_change_without_a_new_role_keeps_sessions(app):
    rep = make_user(Role.REP)
    client = signed_in(app, rep)

    users.update_staff(make_user(Role.ADMIN), rep, users.StaffAssignment(role=Role.REP.value))

    assert can_open_home(client)


def test_administrator_signs_a_colleague_out_everywhere(app):
    rep = make_user(Role.REP)
    rep_client = signed_in(app, rep)
    admin_client = signed_in(app, make_user(Role.ADMIN))

    response = admin_client.post(f"/admin/users/{rep.id}/sessions/revoke")

    assert response.status_code == 302
    assert not can_open_home(rep_client)
    assert only_session(rep).revoked_reason == "signed out by an administrator"


def test_only_an_administrator_signs_others_out(app):
    rep, colleague = make_user(Role.REP), make_user(Role.REP)
    colleague_client = signed_in(app, colleague)
    signed_in(app, rep).post(f"/admin/users/{colleague.id}/sessions/revoke")

    assert can_open_home(colleague_client)


# --- "Your sessions" ------------------------------------------------------------------------------
def test_sessions_page_lists_each_device_and_marks_this_one(app):
    hcp = make_hcp()
    signed_in(app, hcp, HTTP_USER_AGENT=OTHER_BROWSER, REMOTE_ADDR="198.51.100.7")
    client = signed_in(app, hcp)

    text = client.get("/account/sessions").get_data(as_text=True)

    assert "Firefox on Linux" in text and "198.51.100.7" in text
    assert text.count('data-testid="session"') == 2
    assert text.count('data-testid="current-session"') == 1


def test_signing_out_another_session_from_the_sessions_page(app):
    hcp = make_hcp()
    phone = signed_in(app, hcp, HTTP_USER_AGENT=OTHER_BROWSER)
    laptop = signed_in(app, hcp)
    phone_session = next(r for r in live_sessions(hcp) if r.device == "Firefox on Linux")

    response = laptop.post(f"/account/sessions/{phone_session.id}/revoke")

    assert response.status_code == 302
    assert not can_open_home(phone)
    assert can_open_home(laptop)


def test_sign_out_everywhere_else_keeps_this_session(app):
    hcp = make_hcp()
    others = [signed_in(app, hcp) for _ in range(2)]
    here = signed_in(app, hcp)

    here.post("/account/sessions/revoke-others")

    assert can_open_home(here)
    assert not any(can_open_home(other) for other in others)
    assert len(live_sessions(hcp)) == 1


def test_cannot_sign_out_someone_elses_session(app):
    victim = make_hcp()
    victim_client = signed_in(app, victim)
    attacker = signed_in(app, make_hcp())

    response = attacker.post(f"/account/sessions/{only_session(victim).id}/revoke")

    assert response.status_code == 404
    assert can_open_home(victim_client)


def _csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_session_sign_out_without_csrf_token_is_refused(app):
    hcp = make_hcp()
    other, here = new_client(app), new_client(app)
    for client in (other, here):
        token = _csrf_token(client, "/login")
        client.post("/login", data={"email": hcp.email, "password": PASSWORD, "csrf_token": token})
    assert len(live_sessions(hcp)) == 2

    refused = here.post("/account/sessions/revoke-others")
    assert refused.status_code == 400
    assert len(live_sessions(hcp)) == 2

    token = _csrf_token(here, "/account/sessions")
    accepted = here.post("/account/sessions/revoke-others", data={"csrf_token": token})
    assert accepted.status_code == 302
    assert len(live_sessions(hcp)) == 1
