"""Response hardening: CSRF, security headers, no inline script, cookie flags, throttling and
friendly error pages."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.config import load_config
from portal.errors import PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, HcpProfile, OutboxMail, Role, User, Verification, utcnow
from portal.services.tokens import make_reset_token
from tests.conftest import login
from tests.factories import PASSWORD, make_hcp, make_territory, make_user, unique
from tests.portal.helpers import registration

CSRF_MESSAGE = "This form has expired or was not sent from the portal"


class OwnContextClient(FlaskClient):
    """Runs every request in an app context of its own, as a server does.

    The ``app`` fixture keeps one app context open for the whole test, so Flask's ``g`` would
    otherwise carry Flask-WTF's cached CSRF token (and Flask-Login's user) from one request to the
    next, across the session being cleared at sign-in.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def own_client(app: Flask) -> FlaskClient:
    app.test_client_class = OwnContextClient
    return app.test_client()


def page(response: Any) -> str:
    return str(response.get_data(as_text=True))


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str]] = []
        self.event_handlers: list[str] = []
        self.post_forms: list[dict[str, str]] = []  # the form's action and its CSRF token
        self._form: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.event_handlers += [k for k in attributes if k.startswith("on")]
        if tag == "script":
            self.scripts.append(attributes)
        elif tag == "form" and attributes.get("method", "get").lower() == "post":
            self._form = {"action": attributes.get("action", ""), "csrf_token": ""}
            self.post_forms.append(self._form)
        elif (
            tag == "input"
            and self._form is not None
            and attributes.get("name") == "csrf_token"
            and attributes.get("type") == "hidden"
        ):
            self._form["csrf_token"] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def parse_page(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    return parser


def csrf_token_of(client: FlaskClient, path: str = "/login") -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page(client.get(path)))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in_with_token(client: FlaskClient, email: str) -> None:
    token = csrf_token_of(client, "/login")
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, page(response)


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


# --- CSRF ------------------------------------------------------------------------------------


@dataclasses.dataclass
class World:
    admin: User
    hcp: User  # pending, address not yet confirmed
    rep: User
    suspended: User


@pytest.fixture
def world(app: Flask) -> World:
    hcp = make_hcp(verification=Verification.PENDING, email_confirmed_at=None)
    # Signed in before: a new registration signs in only once its address is confirmed.
    hcp.last_login_at = utcnow()
    return World(
        admin=make_user(Role.ADMIN),
        hcp=hcp,
        rep=make_user(Role.REP),
        suspended=make_user(Role.MSL, suspended=True, suspended_reason="On leave"),
    )


def _registration() -> dict[str, str]:
    return registration(name="Dr. Casey Form", email=f"{unique('csrf')}@example.org")


@dataclasses.dataclass(frozen=True)
class FormPost:
    actor: str  # "anonymous", "hcp" or "admin"
    path: Callable[[World], str]
    data: Callable[[World], dict[str, Any]]


FORM_POSTS = {
    "login": FormPost(
        "anonymous", lambda w: "/login", lambda w: {"email": w.rep.email, "password": PASSWORD}
    ),
    "register": FormPost("anonymous", lambda w: "/register", lambda w: _registration()),
    "logout": FormPost("hcp", lambda w: "/logout", lambda w: {}),
    "forgot": FormPost("anonymous", lambda w: "/password/forgot", lambda w: {"email": w.rep.email}),
    "reset": FormPost(
        "anonymous",
        lambda w: f"/password/reset/{make_reset_token(w.rep.id, w.rep.password_hash)}",
        lambda w: {"password": "Fresh-Lantern-Orbit-2026", "confirm": "Fresh-Lantern-Orbit-2026"},
    ),
    "resend": FormPost("hcp", lambda w: "/confirm/resend", lambda w: {}),
    "create-staff": FormPost(
        "admin",
        lambda w: "/admin/users/new",
        lambda w: {
            "name": "New Colleague",
            "email": f"{unique('new')}@example.com",
            "role": "rep",
            "teams": "sales",
        },
    ),
    "verify": FormPost("admin", lambda w: f"/admin/users/{w.hcp.id}/verify", lambda w: {}),
    "reject": FormPost(
        "admin",
        lambda w: f"/admin/users/{w.hcp.id}/reject",
        lambda w: {"reason": "NPI belongs to someone else"},
    ),
    "suspend": FormPost(
        "admin",
        lambda w: f"/admin/users/{w.rep.id}/suspend",
        lambda w: {"reason": "Left the company"},
    ),
    "reactivate": FormPost(
        "admin", lambda w: f"/admin/users/{w.suspended.id}/reactivate", lambda w: {}
    ),
    "assignment": FormPost(
        "admin",
        lambda w: f"/admin/users/{w.rep.id}/assignment",
        lambda w: {"role": "market_access", "teams": "market_access"},
    ),
}


def state(client: FlaskClient) -> dict[str, Any]:
    """Everything a form post could change, read fresh from the database and the cookie."""
    users = db.session.execute(
        select(
            User.id,
            User.role,
            User.suspended,
            User.password_hash,
            User.session_version,
            User.email_confirmed_at,
        ).order_by(User.id)
    ).all()
    profiles = db.session.execute(
        select(HcpProfile.user_id, HcpProfile.verification).order_by(HcpProfile.user_id)
    ).all()
    with client.session_transaction() as session:
        signed_in = session.get("_user_id")
    return {
        "users": [tuple(row) for row in users],
        "profiles": [tuple(row) for row in profiles],
        "mails": count(OutboxMail),
        "audit": count(AuditRecord),
        "signed_in": signed_in,
    }


def _prepare(client: FlaskClient, world: World, post: FormPost) -> None:
    if post.actor == "hcp":
        sign_in_with_token(client, world.hcp.email)
    elif post.actor == "admin":
        sign_in_with_token(client, world.admin.email)
    else:
        client.get("/login")  # a session with a CSRF secret, as a visitor's browser has


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
@pytest.mark.parametrize("name", list(FORM_POSTS))
def test_form_post_without_csrf_token_is_refused_and_changes_nothing(own_client, world, name):
    post = FORM_POSTS[name]
    _prepare(own_client, world, post)
    before = state(own_client)

    response = own_client.post(post.path(world), data=post.data(world))

    assert response.status_code == 400
    assert "text/html" in response.headers["Content-Type"]
    assert CSRF_MESSAGE in page(response)
    assert state(own_client) == before


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
@pytest.mark.parametrize("name", list(FORM_POSTS))
def test_same_form_post_with_the_csrf_token_goes_through(own_client, world, name):
    post = FORM_POSTS[name]
    _prepare(own_client, world, post)
    token = csrf_token_of(own_client, "/" if post.actor != "anonymous" else "/login")
    before = state(own_client)

    response = own_client.post(post.path(world), data={**post.data(world), "csrf_token": token})

    assert response.status_code == 302, page(response)
    assert state(own_client) != before


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
@pytest.mark.parametrize(
    ("actor", "path"),
    [
        ("anonymous", "/login"),
        ("anonymous", "/register"),
        ("anonymous", "/password/forgot"),
        ("anonymous", "/password/reset/{reset_token}"),
        ("hcp", "/"),
        ("admin", "/admin/users/new"),
        ("admin", "/admin/users/{hcp_id}"),
        ("admin", "/admin/users/{rep_id}"),
        ("admin", "/admin/users/{suspended_id}"),
        ("admin", "/admin/routing/"),
        ("admin", "/admin/routing/rules/new"),
        ("admin", "/admin/routing/slas"),
    ],
)
def test_every_post_form_on_a_page_carries_a_csrf_token(own_client, world, actor, path):
    if actor != "anonymous":
        sign_in_with_token(own_client, getattr(world, actor).email)
    url = path.format(
        reset_token=make_reset_token(world.rep.id, world.rep.password_hash),
        hcp_id=world.hcp.id,
        rep_id=world.rep.id,
        suspended_id=world.suspended.id,
    )

    response = own_client.get(url)

    assert response.status_code == 200
    forms = parse_page(page(response)).post_forms
    assert forms, "the page has no form to post"
    for form in forms:
        assert form["csrf_token"], f"form posting to {form['action'] or url} has no CSRF token"


# --- headers and scripts ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/healthz", "/no-such-page", "/register"])
def test_responses_carry_the_security_headers(client, path):
    response = client.get(path)

    csp = response.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert directives["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response.headers["Permissions-Policy"]


def test_strict_transport_security_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers

    secure = client.get("/login", base_url="https://portal.test")

    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_signed_in_html_pages_are_never_cached(client):
    login(client, make_hcp().email)

    response = client.get("/")

    assert response.headers["Cache-Control"] == "no-store"


PAGES = [
    ("anonymous", "/login"),
    ("anonymous", "/register"),
    ("anonymous", "/password/forgot"),
    ("anonymous", "/password/reset/not-a-token"),
    ("anonymous", "/no-such-page"),
    ("hcp", "/"),
    ("pending", "/"),
    ("rejected", "/"),
    ("rep", "/"),
    ("msl", "/"),
    ("compliance", "/"),
    ("compliance", "/admin/users"),
    ("compliance", "/audit?action=auth."),
    ("admin", "/"),
    ("admin", "/admin/users"),
    ("admin", "/admin/users?status=pending"),
    ("admin", "/admin/users/new"),
    ("admin", "/admin/users/{pending_id}"),
    ("admin", "/admin/users/{rep_id}"),
    ("admin", "/audit"),
    ("admin", "/audit?since=2026-01-01"),
    ("hcp", "/questions/ask"),
    ("hcp", "/questions/"),
    ("hcp", "/notifications"),
    ("rep", "/questions/queue"),
    ("msl", "/questions/queue?view=all"),
    ("compliance", "/safety/cases"),
    ("admin", "/admin/routing/"),
    ("admin", "/admin/routing/slas"),
    ("admin", "/admin/routing/holidays"),
    ("admin", "/admin/routing/labels"),
]


@pytest.mark.parametrize(("actor", "path"), PAGES)
def test_pages_have_no_inline_script(client, actor, path):
    territory = make_territory()
    people = {
        "hcp": make_hcp(territory=territory),
        "pending": make_hcp(verification=Verification.PENDING),
        "rejected": make_hcp(verification=Verification.REJECTED, rejection_reason="Wrong NPI"),
        "rep": make_user(Role.REP, territories=[territory]),
        "msl": make_user(Role.MSL, territories=[territory]),
        "compliance": make_user(Role.COMPLIANCE),
        "admin": make_user(Role.ADMIN),
    }
    if actor != "anonymous":
        login(client, people[actor].email)

    response = client.get(path.format(pending_id=people["pending"].id, rep_id=people["rep"].id))

    assert response.status_code == (404 if path == "/no-such-page" else 200)
    parsed = parse_page(page(response))
    assert parsed.scripts, "the page should load the portal's scripts"
    for script in parsed.scripts:
        assert script.get("src"), "inline <script> found"
    assert parsed.event_handlers == []
    assert "javascript:" not in page(response)


# --- cookies ---------------------------------------------------------------------------------


def _session_cookie(response: Any) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    return cookies[0]


def _flags(cookie: str) -> set[str]:
    return {part.strip().lower() for part in cookie.split(";")[1:]}


@pytest.mark.parametrize(
    "secure",
    [
        pytest.param(True, marks=pytest.mark.app_config(SESSION_COOKIE_SECURE=True), id="secure"),
        pytest.param(False, marks=pytest.mark.app_config(SESSION_COOKIE_SECURE=False), id="plain"),
    ],
)
def test_session_cookie_is_http_only_and_same_site_lax(client, secure):
    response = login(client, make_hcp().email)

    flags = _flags(_session_cookie(response))
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert ("secure" in flags) is secure


def test_session_cookie_is_secure_by_default(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    monkeypatch.setenv("SECRET_KEY", "not-used")

    config = load_config(tmp_path)

    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["REMEMBER_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


# --- throttling ------------------------------------------------------------------------------


@pytest.mark.app_config(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
def test_fourth_login_post_from_one_address_in_a_minute_is_throttled(client):
    attempt = {"email": "nobody@example.org", "password": "not-the-password"}
    for _ in range(3):
        assert client.post("/login", data=attempt).status_code == 200

    fourth = client.post("/login", data=attempt)

    assert fourth.status_code == 429
    assert "Too many attempts" in page(fourth)
    assert "Traceback" not in page(fourth)


@pytest.mark.app_config(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
def test_login_throttling_counts_per_client_address(client):
    attempt = {"email": "nobody@example.org", "password": "not-the-password"}
    for _ in range(4):
        client.post("/login", data=attempt, environ_base={"REMOTE_ADDR": "198.51.100.7"})

    other = client.post("/login", data=attempt, environ_base={"REMOTE_ADDR": "198.51.100.8"})

    assert other.status_code == 200
    assert client.get("/login", environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 200


# --- error pages -----------------------------------------------------------------------------


def test_unknown_url_gets_a_friendly_404_page(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Page not found" in page(response)


def test_unknown_url_asked_for_json_gets_a_json_404(client):
    response = client.get("/no-such-page", headers={"Accept": "application/json"})

    assert response.status_code == 404
    assert response.get_json() == {
        "ok": False,
        "error": "not_found",
        "message": "The page you asked for does not exist, or you do not have access to it.",
    }


@pytest.mark.app_config(MAX_CONTENT_LENGTH=1024)
def test_oversized_body_gets_a_friendly_413_page_and_creates_nothing(client):
    before = count(User)

    response = client.post("/register", data={**_registration(), "institution": "x" * 5000})

    assert response.status_code == 413
    assert "That upload is too large" in page(response)
    assert count(User) == before


def _add_failing_route(app: Flask, exc: Exception) -> None:
    def fail() -> str:
        raise exc

    app.add_url_rule("/test-failure", "test_failure", fail)


def test_unexpected_error_gets_a_friendly_500_page_with_a_reference(app, client, caplog):
    _add_failing_route(app, RuntimeError("secret internal detail"))

    with caplog.at_level(logging.ERROR):
        response = client.get("/test-failure")

    text = page(response)
    assert response.status_code == 500
    assert "Something went wrong" in text
    reference = response.headers["X-Request-ID"]
    assert reference
    assert f"<code>{reference}</code>" in text
    assert "Traceback" not in text
    assert "secret internal detail" not in text
    assert "RuntimeError" not in text
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)


def test_unexpected_error_asked_for_json_gets_a_json_500(app, client):
    _add_failing_route(app, RuntimeError("secret internal detail"))

    response = client.get("/test-failure", headers={"Accept": "application/json"})

    assert response.status_code == 500
    body = response.get_json()
    assert body["ok"] is False
    assert body["error"] == "server_error"
    assert "secret" not in body["message"]


def test_permission_denied_gets_a_friendly_403_page(app, client):
    _add_failing_route(app, PermissionDenied("Only the owner may do that."))

    response = client.get("/test-failure")

    assert response.status_code == 403
    assert "You are not allowed to do that" in page(response)
    assert "Only the owner may do that." in page(response)


def test_compliance_opening_staff_creation_gets_a_403_page(client):
    login(client, make_user(Role.COMPLIANCE).email)

    response = client.get("/admin/users/new")

    assert response.status_code == 403
    assert "You are not allowed to do that" in page(response)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("get", "/login", 200, id="page"),
        pytest.param("get", "/no-such-page", 404, id="not-found"),
        pytest.param(
            "post",
            "/login",
            400,
            marks=pytest.mark.app_config(WTF_CSRF_ENABLED=True),
            id="csrf-refusal",
        ),
    ],
)
def test_every_response_carries_a_request_id(client, method, path, status):
    response = getattr(client, method)(path, data={"email": "a@example.org", "password": "x"})

    assert response.status_code == status
    assert response.headers.get("X-Request-ID"), "the response has an empty X-Request-ID"


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_csrf_refusal_page_quotes_its_request_id(client):
    response = client.post("/login", data={"email": "a@example.org", "password": "x"})

    assert response.status_code == 400
    assert "Reference:" in page(response)
