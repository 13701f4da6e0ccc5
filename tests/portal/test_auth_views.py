"""Wiring of the sign-in, registration, confirmation and password-reset pages."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AuditRecord,
    HcpProfile,
    OutboxMail,
    Role,
    User,
    Verification,
    utcnow,
)
from portal.models.session import UserSession
from portal.services import demo
from portal.services.sessions import hash_token
from portal.services.users import suspend_user
from tests.conftest import login
from tests.factories import PASSWORD, make_hcp, make_user, unique, valid_npi
from tests.portal.helpers import NEW_PASSWORD, registration

BAD_CREDENTIALS = "Email or password is incorrect."


# --- helpers ---------------------------------------------------------------------------------


class _FormParser(HTMLParser):
    """Field names, their classes, and the error messages rendered right after each field."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, dict[str, str]] = {}
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.form_errors: list[str] = []
        self._current: str | None = None
        self._capture: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        classes = attributes.get("class", "").split()
        if tag in ("input", "select", "textarea") and attributes.get("name"):
            self._current = attributes["name"]
            self.fields.setdefault(self._current, attributes)
        elif tag == "div" and "invalid-feedback" in classes and self._current:
            self.errors[self._current].append("")
            self._capture = self.errors[self._current]
        elif tag == "div" and "alert-danger" in classes:
            self.form_errors.append("")
            self._capture = self.form_errors

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._capture[-1] += data


def parse_form(html: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(html)
    return parser


def page(response: Any) -> str:
    return str(response.get_data(as_text=True))


def signed_in_user_id(client: FlaskClient) -> str | None:
    with client.session_transaction() as session:
        value = session.get("_user_id")
    return None if value is None else str(value)


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def mails_to(address: str) -> list[OutboxMail]:
    return list(
        db.session.scalars(
            select(OutboxMail).where(OutboxMail.to == address).order_by(OutboxMail.id)
        )
    )


def link_path(body: str, prefix: str) -> str:
    """The path of the portal link starting with ``prefix`` in a mail body."""
    match = re.search(r"https?://[^/\s]+(" + re.escape(prefix) + r"\S+)", body)
    assert match, f"no {prefix} link in mail:\n{body}"
    return match.group(1)


def wrong_check_digit(npi: str) -> str:
    return npi[:9] + str((int(npi[9]) + 1) % 10)


def find_user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


# --- signing in ------------------------------------------------------------------------------


def test_login_page_shows_email_and_password_fields(client):
    response = client.get("/login")

    assert response.status_code == 200
    form = parse_form(page(response))
    assert form.fields["email"]["type"] == "email"
    assert form.fields["password"]["type"] == "password"


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("hcp", ["Welcome, Dr. Harper Cole", "Your field team"]),
        ("pending", ["Your registration is awaiting verification"]),
        ("rep", ["Welcome, Riley Rep", "Sales representative", "Commercial side"]),
        ("msl", ["Welcome, Dr. Morgan Liaison", "Medical science liaison", "Medical side"]),
        ("compliance", ["Welcome, Cameron Compliance", "Compliance auditor"]),
        ("admin", ["Welcome, Alex Admin", "2 HCP registrations awaiting verification"]),
    ],
)
def test_demo_login_lands_on_the_roles_home(app, client, who, expected):
    demo.seed_demo()

    response = login(client, demo.demo_email(who), app.config["DEMO_PASSWORD"])

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = page(client.get("/"))
    for text in expected:
        assert text in home


def test_pending_hcp_home_shows_no_professional_content(app, client):
    demo.seed_demo()
    login(client, demo.demo_email("pending"), app.config["DEMO_PASSWORD"])

    home = page(client.get("/"))

    assert "Your field team" not in home
    assert "Welcome," not in home


@pytest.mark.parametrize("email_kind", ["wrong password", "unknown email"])
def test_failed_login_says_credentials_are_incorrect_and_starts_no_session(client, email_kind):
    hcp = make_hcp()
    email = hcp.email if email_kind == "wrong password" else "nobody@example.org"

    response = login(client, email, "not-the-password-at-all")

    assert response.status_code == 200
    assert BAD_CREDENTIALS in parse_form(page(response)).form_errors
    assert signed_in_user_id(client) is None
    assert client.get("/").status_code == 302


def test_repeated_failures_slow_sign_in_down_without_saying_so(client):
    hcp = make_hcp()
    start = utcnow()
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            response = login(client, hcp.email, "not-the-password-at-all")
            assert response.status_code == 200
            assert parse_form(page(response)).form_errors == [BAD_CREDENTIALS]

        # Inside the wait even the right password gets the wrong password's answer.
        right = login(client, hcp.email, PASSWORD)
        assert right.status_code == 200
        assert parse_form(page(right)).form_errors == [BAD_CREDENTIALS]
        assert "Too many" not in page(right)
        assert signed_in_user_id(client) is None

    with time_machine.travel(start + dt.timedelta(seconds=2), tick=False):
        assert login(client, hcp.email, PASSWORD).status_code == 302
        assert signed_in_user_id(client) is not None


def test_login_starts_a_fresh_session(client):
    hcp = make_hcp()
    with client.session_transaction() as session:
        session["planted"] = "x"

    login(client, hcp.email)

    with client.session_transaction() as session:
        assert "planted" not in session
        token = session["_user_id"]
    # The cookie names a server-side session of this user, not the user.
    assert str(hcp.id) not in token.split(":")
    record = db.session.get(UserSession, hash_token(token))
    assert record is not None and record.user_id == hcp.id


def test_login_follows_a_safe_next_path(client):
    admin = make_user(Role.ADMIN)

    response = client.post(
        "/login",
        query_string={"next": "/admin/users"},
        data={"email": admin.email, "password": PASSWORD},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        pytest.param("/\t/evil.example", id="/%09/evil.example"),
        "  //evil.example",
        " https://evil.example",
    ],
)
def test_login_ignores_an_off_site_next_and_lands_on_home(client, target):
    hcp = make_hcp()

    response = client.post(
        "/login", query_string={"next": target}, data={"email": hcp.email, "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert signed_in_user_id(client) is not None


def test_logout_by_get_is_not_allowed_and_keeps_the_session(client):
    hcp = make_hcp()
    login(client, hcp.email)

    response = client.get("/logout")

    assert response.status_code == 405
    assert signed_in_user_id(client) is not None


def test_logout_by_post_ends_the_session(client):
    hcp = make_hcp()
    login(client, hcp.email)

    response = client.post("/logout")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert signed_in_user_id(client) is None
    home = client.get("/")
    assert home.status_code == 302
    assert home.headers["Location"].startswith("/login")
    assert db.session.scalar(
        select(AuditRecord).where(
            AuditRecord.action == "auth.logout", AuditRecord.actor_id == hcp.id
        )
    )


def test_suspended_users_open_session_ends_on_the_next_request(app, client):
    hcp = make_hcp()
    admin = make_user(Role.ADMIN)
    login(client, hcp.email)
    assert client.get("/").status_code == 200

    suspend_user(admin, hcp, reason="Licence revoked by the board")
    # The next request in an app context of its own, as a server runs it: the ``app`` fixture keeps
    # one context open, and Flask-Login caches the signed-in user in its ``g``.
    with app.app_context():
        response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_password_reset_ends_a_session_open_elsewhere(app, client):
    user = make_hcp(email=f"{unique('forgetful')}@example.org")
    login(client, user.email)
    elsewhere = app.test_client()
    # Each request in an app context of its own, as a server runs it (see above).
    with app.app_context():
        elsewhere.post("/password/forgot", data={"email": user.email})
    path = link_path(mails_to(user.email)[0].body, "/password/reset/")
    with app.app_context():
        elsewhere.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    with app.app_context():
        response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_suspended_user_cannot_sign_in(client):
    hcp = make_hcp(suspended=True)

    response = login(client, hcp.email)

    assert response.status_code == 200
    assert "suspended" in page(response)
    assert signed_in_user_id(client) is None


# --- registration ----------------------------------------------------------------------------


def test_registration_page_shows_the_fields(client):
    response = client.get("/register")

    assert response.status_code == 200
    fields = parse_form(page(response)).fields
    for name in ("name", "email", "password", "confirm", "country", "npi", "licence_number"):
        assert name in fields


def test_us_registration_creates_a_pending_hcp_who_confirms_then_signs_in(client):
    data = registration()

    response = client.post("/register", data=data)

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "Check your e-mail" in page(client.get("/login"))
    user = find_user(data["email"])
    assert user is not None
    assert user.role is Role.HCP
    assert user.hcp_profile is not None
    assert user.hcp_profile.verification is Verification.PENDING
    assert user.hcp_profile.npi == data["npi"]
    assert signed_in_user_id(client) is None
    (mail,) = mails_to(data["email"])
    assert mail.subject == "Confirm your email address for the HCP portal"

    client.get(link_path(mail.body, "/confirm/"))
    assert login(client, data["email"], NEW_PASSWORD).status_code == 302
    home = page(client.get("/"))
    assert "Your registration is awaiting verification" in home
    assert data["npi"] in home


def test_non_us_registration_with_a_licence_creates_a_pending_hcp(client):
    data = registration(country="DE", postal_code="10117", npi="", licence_number="LAEK-123")

    response = client.post("/register", data=data)

    assert response.status_code == 302
    user = find_user(data["email"])
    assert user is not None
    assert user.hcp_profile is not None
    assert user.hcp_profile.licence_number == "LAEK-123"
    assert user.hcp_profile.npi is None


Change = Callable[[User], dict[str, str]]

REFUSALS = [
    pytest.param(
        lambda taken: {"npi": wrong_check_digit(valid_npi())},
        "npi",
        "check digit",
        id="npi-check-digit",
    ),
    pytest.param(lambda taken: {"npi": "12345abcde"}, "npi", "digits only", id="npi-letters"),
    pytest.param(
        lambda taken: {"npi": "\uff11" * 9 + "\uff13"}, "npi", "digits only", id="npi-fullwidth"
    ),
    pytest.param(lambda taken: {"npi": "123456789"}, "npi", "10 digits", id="npi-too-short"),
    pytest.param(lambda taken: {"npi": "12345678931"}, "npi", "10 digits", id="npi-too-long"),
    pytest.param(lambda taken: {"npi": ""}, "npi", "Enter your 10-digit NPI", id="us-no-npi"),
    pytest.param(
        lambda taken: {"country": "DE", "postal_code": "10117", "npi": "", "licence_number": ""},
        "licence_number",
        "licence or registration number",
        id="non-us-no-licence",
    ),
    pytest.param(
        lambda taken: {"confirm": NEW_PASSWORD + "x"},
        "confirm",
        "The passwords differ.",
        id="passwords-differ",
    ),
    pytest.param(
        lambda taken: {"password": "short-2026", "confirm": "short-2026"},
        "password",
        "12",
        id="short-password",
    ),
]


@pytest.mark.parametrize(("change", "field", "message"), REFUSALS)
def test_refused_registration_explains_next_to_the_field_and_creates_nothing(
    client, change: Change, field: str, message: str
):
    taken = make_hcp(email=f"{unique('taken')}@example.org")
    before = (count(User), count(HcpProfile), count(OutboxMail), count(AuditRecord))

    response = client.post("/register", data=registration(**change(taken)))

    assert response.status_code == 200
    form = parse_form(page(response))
    assert any(message in error for error in form.errors[field]), form.errors
    assert "is-invalid" in form.fields[field]["class"].split()
    assert (count(User), count(HcpProfile), count(OutboxMail), count(AuditRecord)) == before
    assert signed_in_user_id(client) is None


# --- email confirmation ----------------------------------------------------------------------


def test_confirmation_link_from_the_mail_confirms_the_address(client):
    data = registration()
    client.post("/register", data=data)
    (mail,) = mails_to(data["email"])

    response = client.get(link_path(mail.body, "/confirm/"), follow_redirects=True)

    assert response.status_code == 200
    assert "Your email address is confirmed." in page(response)
    user = find_user(data["email"])
    assert user is not None
    assert user.email_confirmed_at is not None


def test_tampered_confirmation_link_confirms_nothing(client):
    data = registration()
    client.post("/register", data=data)
    (mail,) = mails_to(data["email"])

    response = client.get(link_path(mail.body, "/confirm/") + "x", follow_redirects=True)

    assert "not valid" in page(response)
    user = find_user(data["email"])
    assert user is not None
    assert user.email_confirmed_at is None


def test_resend_confirmation_queues_another_mail(client):
    # An account that signed in before addresses had to be confirmed first.
    hcp = make_hcp(email_confirmed_at=None)
    hcp.last_login_at = utcnow()
    db.session.commit()
    login(client, hcp.email)

    response = client.post("/confirm/resend", follow_redirects=True)

    assert "We sent the confirmation email again." in page(response)
    assert len(mails_to(hcp.email)) == 1


# --- password reset --------------------------------------------------------------------------


def test_password_reset_through_the_mailed_link_replaces_the_old_password(client):
    user = make_hcp(email=f"{unique('forgetful')}@example.org")

    response = client.post("/password/forgot", data={"email": user.email})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    (mail,) = mails_to(user.email)
    path = link_path(mail.body, "/password/reset/")
    assert client.get(path).status_code == 200

    response = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "Your password is set" in page(client.get("/login"))

    old = login(client, user.email, PASSWORD)
    assert BAD_CREDENTIALS in page(old)
    assert signed_in_user_id(client) is None
    new = login(client, user.email, NEW_PASSWORD)
    assert new.status_code == 302
    assert signed_in_user_id(client) is not None


def test_password_reset_link_works_only_once(client):
    user = make_hcp(email=f"{unique('forgetful')}@example.org")
    client.post("/password/forgot", data={"email": user.email})
    path = link_path(mails_to(user.email)[0].body, "/password/reset/")
    client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    again = client.post(
        path, data={"password": "Another-Orbit-2027", "confirm": "Another-Orbit-2027"}
    )

    assert again.status_code == 302
    assert again.headers["Location"] == "/password/forgot"
    assert login(client, user.email, NEW_PASSWORD).status_code == 302


def test_forgot_password_for_an_unknown_address_says_the_same_and_sends_nothing(client):
    before = count(OutboxMail)

    response = client.post(
        "/password/forgot", data={"email": "nobody@example.org"}, follow_redirects=True
    )

    assert "If an account exists for that address" in page(response)
    assert count(OutboxMail) == before


def test_reset_with_differing_passwords_is_refused_next_to_the_field(client):
    user = make_hcp(email=f"{unique('forgetful')}@example.org")
    client.post("/password/forgot", data={"email": user.email})
    path = link_path(mails_to(user.email)[0].body, "/password/reset/")

    response = client.post(path, data={"password": NEW_PASSWORD, "confirm": "Something-Else-99"})

    assert response.status_code == 200
    assert "The passwords differ." in parse_form(page(response)).errors["confirm"]
    assert login(client, user.email, PASSWORD).status_code == 302
