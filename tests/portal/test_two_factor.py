"""Two-factor sign-in: enrolment from a server-drawn QR code, the second step of signing in,
replayed codes, single-use recovery codes, an administrator's reset, and the enrolled user's own
settings (new recovery codes; turning it off, for HCPs only)."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.errors import PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, OutboxMail, Role, TwoFactor, User, UserSession, utcnow
from portal.services import two_factor
from tests.conftest import IsolatedClient, login
from tests.factories import make_hcp, make_user

pytestmark = pytest.mark.app_config(TWO_FACTOR_REQUIRED=True)


def browser(app: Flask) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()


def text(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.get_data(as_text=True))


def enrol(user: User) -> tuple[str, list[str]]:
    """Enrol ``user`` through the service: their secret and recovery codes."""
    enrolment = two_factor.begin_enrolment(user)
    secret = enrolment.secret
    with time_machine.travel(utcnow() - dt.timedelta(minutes=2), tick=False):
        codes = two_factor.confirm_enrolment(user, pyotp.TOTP(secret).now())
    return secret, codes


def can_open_home(client: FlaskClient) -> bool:
    return client.get("/").status_code == 200


def actions(user: User) -> list[str]:
    return list(
        db.session.scalars(select(AuditRecord.action).where(AuditRecord.target_id == str(user.id)))
    )


def test_staff_without_enrolment_must_enrol_before_anything(app):
    rep = make_user(Role.REP)
    client = browser(app)

    response = login(client, rep.email)

    assert response.headers["Location"].endswith("/login/enrol")
    assert not can_open_home(client)  # no session yet
    assert db.session.scalar(select(UserSession)) is None
    page = text(client.get("/login/enrol"))
    assert "<svg" in page and "<script" not in page.split("<main")[1].split("</main>")[0]
    secret = db.session.get(TwoFactor, rep.id).secret
    assert secret in page

    done = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()})

    assert done.status_code == 200
    codes = re.findall(r"<li class=\"col\">([a-z0-9]{5}-[a-z0-9]{5})</li>", text(done))
    assert len(codes) == 10
    assert can_open_home(client)
    assert "two_factor.enrolled" in actions(rep)
    stored = db.session.scalars(select(two_factor.RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)  # only hashes are kept


def test_wrong_enrolment_code_enrols_nothing(app):
    rep = make_user(Role.REP)
    client = browser(app)
    login(client, rep.email)
    client.get("/login/enrol")

    response = client.post("/login/enrol", data={"code": "000000"})

    assert "not right" in text(response)
    assert not two_factor.is_enrolled(rep)
    assert not can_open_home(client)


def test_enrolled_user_needs_the_code_after_the_password(app):
    msl = make_user(Role.MSL)
    secret, _codes = enrol(msl)
    client = browser(app)

    response = login(client, msl.email)
    assert response.headers["Location"].endswith("/login/two-factor")
    assert not can_open_home(client)

    done = client.post("/login/two-factor", data={"code": pyotp.TOTP(secret).now()})

    assert done.status_code == 302
    assert can_open_home(client)
    assert "auth.two_factor" in actions(msl)


def test_totp_code_is_refused_on_replay_within_its_window(app):
    msl = make_user(Role.MSL)
    secret, _codes = enrol(msl)
    code = pyotp.TOTP(secret).now()
    first = browser(app)
    login(first, msl.email)
    assert first.post("/login/two-factor", data={"code": code}).status_code == 302

    second = browser(app)
    login(second, msl.email)
    replay = second.post("/login/two-factor", data={"code": code})

    assert replay.status_code == 200 and "used already" in text(replay)
    assert not can_open_home(second)
    assert "auth.two_factor_failed" in actions(msl)


def test_recovery_code_works_once(app):
    msl = make_user(Role.MSL)
    _secret, codes = enrol(msl)
    first = browser(app)
    login(first, msl.email)
    assert first.post("/login/two-factor", data={"code": codes[0]}).status_code == 302
    assert can_open_home(first)

    second = browser(app)
    login(second, msl.email)
    again = second.post("/login/two-factor", data={"code": codes[0]})

    assert again.status_code == 200 and not can_open_home(second)
    assert "two_factor.recovery_code_used" in actions(msl)
    assert two_factor.unused_recovery_codes(msl) == 9


def test_wrong_codes_send_the_user_back_to_the_password(app):
    msl = make_user(Role.MSL)
    enrol(msl)
    client = browser(app)
    login(client, msl.email)

    for _ in range(5):
        last = client.post("/login/two-factor", data={"code": "123456"})

    assert last.status_code == 302 and last.headers["Location"].endswith("/login")
    assert client.get("/login/two-factor").headers["Location"].endswith("/login")


def test_the_second_step_cannot_be_reached_without_the_password(app):
    msl = make_user(Role.MSL)
    secret, _codes = enrol(msl)
    client = browser(app)

    response = client.post("/login/two-factor", data={"code": pyotp.TOTP(secret).now()})

    assert response.headers["Location"].endswith("/login")
    assert not can_open_home(client)


def test_administrator_resets_a_colleagues_enrolment_and_ends_their_sessions(app):
    msl = make_user(Role.MSL)
    secret, _codes = enrol(msl)
    msl_client = browser(app)
    login(msl_client, msl.email)
    msl_client.post("/login/two-factor", data={"code": pyotp.TOTP(secret).now()})
    assert can_open_home(msl_client)
    admin = make_user(Role.ADMIN)
    enrol(admin)
    admin_client = browser(app)
    from portal.services import sessions

    token = sessions.start(admin, ip=None, user_agent=admin_client.environ_base["HTTP_USER_AGENT"])
    with admin_client.session_transaction() as session:
        session["_user_id"] = token

    response = admin_client.post(f"/admin/users/{msl.id}/two-factor/reset")

    assert response.status_code == 302
    assert not two_factor.is_enrolled(db.session.get(User, msl.id))
    assert not can_open_home(msl_client)
    assert "two_factor.reset" in actions(msl)
    again = browser(app)
    assert login(again, msl.email).headers["Location"].endswith("/login/enrol")


def test_only_an_administrator_resets_an_enrolment(app):
    msl, rep = make_user(Role.MSL), make_user(Role.REP)
    enrol(msl)
    with pytest.raises(PermissionDenied):
        two_factor.reset(rep, msl)
    assert two_factor.is_enrolled(msl)


def test_hcp_signs_in_with_the_password_alone_until_they_turn_it_on(app):
    hcp = make_hcp()
    client = browser(app)
    assert login(client, hcp.email).status_code == 302
    assert can_open_home(client)

    page = text(client.get("/account/two-factor"))
    secret = db.session.get(TwoFactor, hcp.id).secret
    assert "<svg" in page
    code = pyotp.TOTP(secret).now()
    assert client.post("/account/two-factor", data={"code": code}).status_code == 200
    assert two_factor.is_enrolled(hcp)

    later = browser(app)
    assert login(later, hcp.email).headers["Location"].endswith("/login/two-factor")


# --- the enrolled user's own settings: new recovery codes, turning it off -------------------------
def signed_in_enrolled(app: Flask, user: User) -> FlaskClient:
    """A browser with a session for ``user`` (past both steps; their TOTP codes still unused)."""
    from portal.services import sessions

    client = browser(app)
    token = sessions.start(user, ip=None, user_agent=client.environ_base["HTTP_USER_AGENT"])
    with client.session_transaction() as session:
        session["_user_id"] = token
    return client


def test_new_recovery_codes_replace_the_old_ones(app):
    hcp = make_hcp()
    secret, old_codes = enrol(hcp)
    client = signed_in_enrolled(app, hcp)
    assert "New recovery codes" in text(client.get("/account/two-factor"))

    response = client.post(
        "/account/two-factor/recovery-codes", data={"recovery-code": pyotp.TOTP(secret).now()}
    )

    assert response.status_code == 200
    new_codes = re.findall(r"<li class=\"col\">([a-z0-9]{5}-[a-z0-9]{5})</li>", text(response))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert "two_factor.recovery_codes_regenerated" in actions(hcp)
    assert two_factor.unused_recovery_codes(hcp) == 10
    old = browser(app)
    login(old, hcp.email)
    assert old.post("/login/two-factor", data={"code": old_codes[1]}).status_code == 200
    assert not can_open_home(old)  # an old code no longer signs in
    new = browser(app)
    login(new, hcp.email)
    assert new.post("/login/two-factor", data={"code": new_codes[0]}).status_code == 302
    assert can_open_home(new)


@pytest.mark.parametrize("wrong", ["000000", "recovery"])
def test_new_recovery_codes_need_a_current_code_from_the_app(app, wrong):
    msl = make_user(Role.MSL)
    _secret, old_codes = enrol(msl)
    client = signed_in_enrolled(app, msl)
    code = old_codes[0] if wrong == "recovery" else wrong  # a recovery code is not enough

    response = client.post("/account/two-factor/recovery-codes", data={"recovery-code": code})

    assert response.status_code == 200 and two_factor.WRONG_CURRENT_CODE in text(response)
    assert "two_factor.recovery_codes_regenerated" not in actions(msl)
    assert two_factor.unused_recovery_codes(msl) == 10
    assert db.session.get(User, msl.id).failed_logins == 1  # counted like a failed sign-in


def test_a_code_already_used_does_not_make_new_recovery_codes(app):
    msl = make_user(Role.MSL)
    secret, _codes = enrol(msl)
    client = browser(app)
    login(client, msl.email)
    code = pyotp.TOTP(secret).now()
    assert client.post("/login/two-factor", data={"code": code}).status_code == 302

    response = client.post("/account/two-factor/recovery-codes", data={"recovery-code": code})

    assert "used already" in text(response)
    assert "two_factor.recovery_codes_regenerated" not in actions(msl)


def test_hcp_turns_two_factor_off_with_a_current_code(app):
    hcp = make_hcp()
    secret, _codes = enrol(hcp)
    client = signed_in_enrolled(app, hcp)
    assert "Turn off two-factor sign-in" in text(client.get("/account/two-factor"))

    response = client.post(
        "/account/two-factor/turn-off", data={"off-code": pyotp.TOTP(secret).now()}
    )

    assert response.status_code == 302
    assert not two_factor.is_enrolled(hcp)
    assert two_factor.unused_recovery_codes(hcp) == 0
    assert "two_factor.turned_off" in actions(hcp)
    notices = db.session.scalars(select(OutboxMail.subject).where(OutboxMail.to == hcp.email))
    assert "Two-factor sign-in is off for your HCP portal account" in list(notices)
    later = browser(app)
    assert login(later, hcp.email).status_code == 302
    assert can_open_home(later)  # the password alone signs in again


def test_a_wrong_code_leaves_two_factor_on(app):
    hcp = make_hcp()
    enrol(hcp)
    client = signed_in_enrolled(app, hcp)

    response = client.post("/account/two-factor/turn-off", data={"off-code": "000000"})

    assert response.status_code == 200 and two_factor.WRONG_CURRENT_CODE in text(response)
    assert two_factor.is_enrolled(hcp)
    assert "two_factor.turned_off" not in actions(hcp)


def test_staff_cannot_turn_two_factor_off(app):
    msl = make_user(Role.MSL)
    secret, _codes = enrol(msl)
    client = signed_in_enrolled(app, msl)
    page = text(client.get("/account/two-factor"))
    assert "Turn off two-factor sign-in" not in page and "always signs in" in page

    response = client.post(
        "/account/two-factor/turn-off", data={"off-code": pyotp.TOTP(secret).now()}
    )

    assert response.status_code == 403
    assert two_factor.is_enrolled(msl)
    assert "two_factor.turned_off" not in actions(msl)
    with pytest.raises(PermissionDenied):
        two_factor.turn_off(msl, pyotp.TOTP(secret).now())


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        (Role.HCP, True, True),
        (Role.HCP, False, True),
        (Role.MSL, True, False),
        (Role.ADMIN, True, False),
        (Role.REP, False, True),  # staff need no second factor here, so they may drop it
    ],
)
def test_who_may_turn_two_factor_off(app, role, required, allowed):
    from portal import policy

    user = make_user(role)

    assert policy.can_turn_off_two_factor(user, staff_must_enrol=required) is allowed


def test_nothing_to_manage_without_an_enrolment(app):
    hcp = make_hcp()
    client = browser(app)
    login(client, hcp.email)

    for path in ("/account/two-factor/recovery-codes", "/account/two-factor/turn-off"):
        response = client.post(path, data={"recovery-code": "123456", "off-code": "123456"})
        assert response.headers["Location"].endswith("/account/two-factor")
    assert "two_factor.turned_off" not in actions(hcp)
