"""The ``flask`` commands, run through Flask's CLI test runner."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import OutboxMail, Role, Team, User
from portal.services import mail
from tests.conftest import login
from tests.factories import make_user

CLI_PASSWORD = "Quiet-Harbor-Signal-2026"


def users() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def run(app: Any, *args: str, answers: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=list(args), input=answers)


def test_seed_demo_loads_the_demo_and_prints_the_logins(app):
    result = run(app, "seed-demo")

    assert result.exit_code == 0, result.output
    assert "Demo data loaded." in result.output
    assert "password for all: demo-pass-2026" in result.output
    for login_email in ("admin@example.com", "hcp@example.com", "pending@example.com"):
        assert login_email in result.output
    assert db.session.scalar(select(User).where(User.email == "admin@example.com"))


def test_seed_demo_again_changes_nothing(app):
    run(app, "seed-demo")
    before = users()

    result = run(app, "seed-demo")

    assert result.exit_code == 0, result.output
    assert "already loaded; nothing changed" in result.output
    assert users() == before


def test_seed_demo_never_adds_demo_accounts_beside_real_users(app):
    make_user(Role.ADMIN)

    result = run(app, "seed-demo")

    assert result.exit_code == 0
    assert "demo accounts were not added" in result.output
    assert db.session.scalar(select(User).where(User.email == "admin@example.com")) is None


def test_demo_logins_work_after_seeding(app, client):
    run(app, "seed-demo", "--quiet")

    response = login(client, "admin@example.com", app.config["DEMO_PASSWORD"])

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_create_user_makes_a_staff_account_that_can_sign_in(app, client):
    result = run(
        app,
        "create-user",
        "--email",
        "new.rep@example.com",
        "--name",
        "New Rep",
        "--role",
        "rep",
        "--team",
        "sales",
        "--password",
        CLI_PASSWORD,
    )

    assert result.exit_code == 0, result.output
    assert "Created rep new.rep@example.com" in result.output
    user = db.session.scalar(select(User).where(User.email == "new.rep@example.com"))
    assert user is not None
    assert user.role is Role.REP
    assert [m.team.key.value for m in user.memberships] == ["sales"]
    response = login(client, "new.rep@example.com", CLI_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_create_user_without_password_mails_a_link_to_choose_one(app):
    result = run(
        app,
        "create-user",
        "--email",
        "mi@example.com",
        "--name",
        "Mina",
        "--role",
        "msl",
        answers="\n\n",  # an empty password, twice
    )

    assert result.exit_code == 0, result.output
    (welcome,) = db.session.scalars(select(OutboxMail).where(OutboxMail.to == "mi@example.com"))
    assert "/password/reset/" in welcome.body


def test_create_user_with_an_unknown_role_fails_clearly(app):
    before = users()

    result = run(
        app,
        "create-user",
        "--email",
        "x@example.com",
        "--name",
        "X",
        "--role",
        "wizard",
        "--password",
        CLI_PASSWORD,
    )

    assert result.exit_code != 0
    assert "Invalid value for '--role'" in result.output
    assert users() == before


def test_create_user_cannot_make_an_hcp(app):
    result = run(
        app,
        "create-user",
        "--email",
        "x@example.com",
        "--name",
        "X",
        "--role",
        "hcp",
        "--password",
        CLI_PASSWORD,
    )

    assert result.exit_code != 0
    assert "Invalid value for '--role'" in result.output


def test_create_user_with_a_taken_email_fails_clearly(app):
    existing = make_user(Role.REP, email="taken@example.com")
    before = users()

    result = run(
        app,
        "create-user",
        "--email",
        existing.email,
        "--name",
        "Again",
        "--role",
        "msl",
        "--password",
        CLI_PASSWORD,
    )

    assert result.exit_code == 1
    assert "error: An account with this email address already exists." in result.output
    assert users() == before


def test_create_user_with_a_weak_password_fails_clearly(app):
    result = run(
        app,
        "create-user",
        "--email",
        "weak@example.com",
        "--name",
        "Weak",
        "--role",
        "msl",
        "--password",
        "short",
    )

    assert result.exit_code == 1
    assert "error: Use at least 12 characters." in result.output
    assert db.session.scalar(select(User).where(User.email == "weak@example.com")) is None


def test_mail_send_drains_the_outbox(app):
    mail.enqueue("one@example.com", "First", "Open the portal.")
    mail.enqueue("two@example.com", "Second", "Open the portal.")
    db.session.commit()

    result = run(app, "mail", "send")

    assert result.exit_code == 0, result.output
    assert "Sent 2, failed 0." in result.output
    db.session.expire_all()
    assert (
        db.session.scalar(
            select(func.count()).select_from(OutboxMail).where(OutboxMail.sent_at.is_(None))
        )
        == 0
    )
    assert "Sent 0, failed 0." in run(app, "mail", "send").output


def test_init_db_on_a_migrated_database_changes_nothing(app):
    user = make_user(Role.ADMIN)
    teams = db.session.scalar(select(func.count()).select_from(Team))

    first = run(app, "init-db")
    second = run(app, "init-db")

    for result in (first, second):
        assert result.exit_code == 0, result.output
        assert "Database is up to date." in result.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Team)) == teams
    assert db.session.get(User, user.id) is not None
