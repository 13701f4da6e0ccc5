"""Links from configuration only, and hosts the portal answers for.

Every absolute link in mail is built from ``PUBLIC_URL``, never from the request's ``Host`` (which
the sender chooses); a process that serves the portal refuses to start without it; a request for
any other host is refused with 400.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal import create_app, urls
from portal.extensions import db
from portal.models import OutboxMail, Role, User
from portal.services import accounts, users
from tests.conftest import ROOT, base_config
from tests.factories import make_hcp, make_user, unique

EVIL = "evil.example"
PUBLIC = "https://portal.example.org"
LINK = re.compile(r"https?://\S+")


def links_mailed_to(address: str) -> list[str]:
    bodies = db.session.scalars(select(OutboxMail.body).where(OutboxMail.to == address))
    return [link for body in bodies for link in LINK.findall(body)]


def mail_count() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMail)) or 0


def expected_base(public_url: str | None) -> str:
    return (public_url or urls.DEFAULT_PUBLIC_URL) + "/"


# --- links -----------------------------------------------------------------------------------

# Unset: what the finding was reproduced with (tests are not production, so the loopback default
# applies; before the fix, the request's host was used).
PUBLIC_URLS = [pytest.param(None, id="public-url-unset"), pytest.param(PUBLIC, id="public-url-set")]


def _password_reset() -> str:
    user = make_user(Role.MSL)
    accounts.request_password_reset(user.email)
    return user.email


def _email_confirmation() -> str:
    hcp = make_hcp(email_confirmed_at=None)
    accounts.resend_confirmation(hcp)
    return hcp.email


def _staff_invitation() -> str:
    email = f"{unique('invited')}@example.com"
    users.create_staff(
        None,
        email=email,
        name="Dr. Invited Colleague",
        assignment=users.StaffAssignment(role=Role.MSL.value, team_keys=["msl"]),
    )
    return email


@pytest.mark.parametrize("public_url", PUBLIC_URLS)
@pytest.mark.parametrize(
    "send",
    [
        pytest.param(_password_reset, id="password-reset"),
        pytest.param(_email_confirmation, id="email-confirmation"),
        pytest.param(_staff_invitation, id="staff-invitation"),
    ],
)
def test_mailed_links_ignore_the_host_the_request_was_sent_to(
    app: Flask, public_url: str | None, send: Callable[[], str]
) -> None:
    app.config["PUBLIC_URL"] = public_url

    with app.test_request_context("/", base_url=f"http://{EVIL}"):
        address = send()

    links = links_mailed_to(address)
    assert links, "no link was mailed"
    assert all(link.startswith(expected_base(public_url)) for link in links), links
    assert not any(EVIL in link for link in links)


@pytest.mark.parametrize("public_url", PUBLIC_URLS)
def test_forgot_password_from_another_allowed_host_mails_a_link_to_public_url(
    app_config: dict[str, Any], public_url: str | None
) -> None:
    # The host is let in (an alias an operator allowed), so only the link rule stands between the
    # sender's Host header and the link in the mail: the finding as reported.
    app = create_app({**app_config, "PUBLIC_URL": public_url, "ALLOWED_HOSTS": ["localhost", EVIL]})
    with app.app_context():
        user = make_hcp()

        response = app.test_client().post(
            "/password/forgot", data={"email": user.email}, headers={"Host": EVIL}
        )

        assert response.status_code == 302
        links = links_mailed_to(user.email)
        assert len(links) == 1
        assert links[0].startswith(expected_base(public_url) + "password/reset/")
        db.session.remove()


def test_public_url_with_a_path_prefixes_every_link(app: Flask) -> None:
    app.config["PUBLIC_URL"] = "https://intranet.example.org/portal"

    with app.test_request_context("/", base_url=f"http://{EVIL}"):
        link = urls.external_url("auth.login")

    assert link == "https://intranet.example.org/portal/login"


def test_links_cannot_be_built_without_public_url_in_production(app: Flask) -> None:
    app.config.update(PUBLIC_URL=None, TESTING=False, DEBUG=False)

    with (
        app.test_request_context("/", base_url=f"http://{EVIL}"),
        pytest.raises(urls.PublicURLError, match="PUBLIC_URL is not set"),
    ):
        urls.external_url("auth.login")


# --- refusing to start -----------------------------------------------------------------------


def _production(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    production = {
        "TESTING": False,
        "DEBUG": False,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'portal.db'}",
    }
    return base_config(tmp_path, **{**production, **overrides})


def test_app_refuses_to_be_built_for_serving_without_public_url(tmp_path: Path) -> None:
    with pytest.raises(urls.PublicURLError, match="PUBLIC_URL is not set"):
        create_app(_production(tmp_path, PUBLIC_URL=None))


@pytest.mark.parametrize(
    "bad", ["portal.example.org", "ftp://portal.example.org", "https://", "https://h/?next=x"]
)
def test_app_refuses_a_malformed_public_url(tmp_path: Path, bad: str) -> None:
    with pytest.raises(urls.PublicURLError, match="PUBLIC_URL="):
        create_app(_production(tmp_path, PUBLIC_URL=bad))


def test_app_in_debug_may_run_without_public_url_and_links_to_loopback(tmp_path: Path) -> None:
    app = create_app(_production(tmp_path, PUBLIC_URL=None, DEBUG=True))

    with app.app_context():
        assert urls.external_url("auth.login") == urls.DEFAULT_PUBLIC_URL + "/login"


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PUBLIC_URL", "DATABASE_URL", "REDIS_URL", "FLASK_DEBUG")
    }
    return {**env, "PORTAL_INSTANCE_PATH": str(tmp_path), "PORT": "1", "HOST": "127.0.0.1"}


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([sys.executable, "wsgi.py"], id="python-wsgi"),
        pytest.param([sys.executable, "-m", "flask", "--app", "wsgi", "run"], id="flask-run"),
    ],
)
def test_server_refuses_to_start_without_public_url(tmp_path: Path, argv: list[str]) -> None:
    done = subprocess.run(
        argv, cwd=ROOT, env=_environment(tmp_path), capture_output=True, text=True, timeout=120
    )

    assert done.returncode != 0
    assert "PUBLIC_URL is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_create_user_without_public_url_refuses_before_creating_anyone(app: Flask) -> None:
    app.config.update(PUBLIC_URL=None, TESTING=False)
    email = f"{unique('cli')}@example.com"

    result = app.test_cli_runner().invoke(
        args=["create-user", "--email", email, "--name", "N. Colleague", "--role", "msl"],
        input="\n\n",  # no password: the command would mail a link to choose one
    )

    assert result.exit_code == 1
    assert "PUBLIC_URL is not set" in result.stderr
    assert db.session.scalar(select(User).where(User.email == email)) is None


# --- hosts -----------------------------------------------------------------------------------


def test_request_for_another_host_is_refused_with_400_and_sends_nothing(
    client: FlaskClient,
) -> None:
    user = make_hcp()
    before = mail_count()

    response = client.post("/password/forgot", data={"email": user.email}, headers={"Host": EVIL})

    assert response.status_code == 400
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert mail_count() == before


@pytest.mark.parametrize("path", ["/login", "/healthz", "/static/favicon.svg", "/no-such-page"])
def test_every_path_on_another_host_is_refused(client: FlaskClient, path: str) -> None:
    assert client.get(path, headers={"Host": f"{EVIL}:5000"}).status_code == 400


def test_socket_handshake_for_another_host_is_refused(client: FlaskClient) -> None:
    # Socket.IO's requests never reach Flask's request handling: the guard covers them too.
    handshake = "/socket.io/?EIO=4&transport=polling"

    assert client.get(handshake, headers={"Host": EVIL}).status_code == 400
    assert client.get(handshake).status_code == 200


@pytest.mark.app_config(PUBLIC_URL=PUBLIC, ALLOWED_HOSTS=[".internal.example"])
@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("portal.example.org", 200),
        ("portal.example.org:8443", 200),
        ("a.internal.example", 200),
        ("internal.example", 200),
        ("localhost", 400),
        ("portal.example.org.evil.example", 400),
        ("evil.example", 400),
    ],
)
def test_the_public_host_and_allowed_hosts_are_served(
    client: FlaskClient, host: str, status: int
) -> None:
    assert client.get("/login", headers={"Host": host}).status_code == status


def test_trusted_hosts_come_from_public_url_and_allowed_hosts(app: Flask) -> None:
    assert app.config["TRUSTED_HOSTS"] == ["portal.test", "localhost"]
