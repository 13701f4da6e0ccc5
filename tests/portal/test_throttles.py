"""Throttles on the routes that create records: per user, per client address, per e-mail
address; a friendly 429 that loses nothing; counters shared through Redis."""

from __future__ import annotations

import uuid
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal import create_app
from portal.config import THROTTLE_DEFAULTS
from portal.extensions import db
from portal.models import Notification, OutboxMail, Role, User
from portal.questions import intake
from portal.questions.models import Question
from portal.services.consent import current_wording
from portal.throttles import Throttle
from tests.factories import make_hcp, make_territory, make_user
from tests.portal import helpers
from tests.portal.helpers import registration

ADDRESS_A = {"REMOTE_ADDR": "198.51.100.10"}
ADDRESS_B = {"REMOTE_ADDR": "198.51.100.20"}


def throttles(**changes: dict[str, str]) -> dict[str, dict[str, str]]:
    """The default throttles with some replaced (names with "_" for "-")."""
    merged = {name: dict(limits) for name, limits in THROTTLE_DEFAULTS.items()}
    for name, limits in changes.items():
        merged[name.replace("_", "-")] = limits
    return merged


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def browser(app: Flask, user: User, environ: dict[str, str] | None = None) -> FlaskClient:
    """A browser of its own signed in as ``user``, from ``environ``'s address (A unless given)."""
    return helpers.browser(app, user, environ_base=environ or ADDRESS_A)


def question_form(text: str = "What is the recommended dose in renal impairment?") -> dict:
    return {
        "product_id": "",
        "about_family_id": "",
        "category": "dosing",
        "text": text,
        "channel": "portal",
        "urgency": "routine",
        "consent": "y",
        "consent_wording_id": str(current_wording(intake.CONSENT_PURPOSE).id),
    }


def ask(client: FlaskClient, environ: dict[str, str] | None = None, **form: Any) -> Any:
    return client.post(
        "/questions/ask", data={**question_form(), **form}, environ_base=environ or ADDRESS_A
    )


# --- questions: the finding ------------------------------------------------------------------


@pytest.mark.app_config(
    RATELIMIT_ENABLED=True,
    THROTTLES=throttles(questions={"user": "5 per hour;30 per day", "address": "100 per hour"}),
)
def test_one_hcp_asking_in_a_loop_is_stopped_at_the_limit_and_the_mail_is_bounded(app):
    make_user(Role.MEDICAL_INFORMATION)
    hcp = make_hcp(territory=make_territory(code="US-NE"))
    client = browser(app, hcp)
    mails, notifications = count(OutboxMail), count(Notification)

    answers = [ask(client, text=f"Question number {n} about renal dosing?") for n in range(50)]

    assert [r.status_code for r in answers[:5]] == [302] * 5
    assert {r.status_code for r in answers[5:]} == {429}
    assert count(Question) == 5
    created_mails = count(OutboxMail) - mails
    created_notifications = count(Notification) - notifications
    # Whatever one question sends, five questions send five times that, not fifty.
    assert created_mails <= 5 * 2
    assert created_notifications <= 5 * 3


@pytest.mark.app_config(RATELIMIT_ENABLED=True)
def test_questions_are_limited_to_ten_an_hour_by_default(app):
    hcp = make_hcp(territory=make_territory(code="US-NE"))
    client = browser(app, hcp)

    statuses = [ask(client, text=f"Default limit question {n}?").status_code for n in range(11)]

    assert statuses == [302] * 10 + [429]
    assert app.config["THROTTLES"]["questions"]["user"] == "10 per hour;30 per day"


@pytest.mark.app_config(
    RATELIMIT_ENABLED=True,
    THROTTLES=throttles(questions={"user": "1 per hour", "address": "100 per hour"}),
)
def test_the_refusal_page_says_when_to_retry_and_gives_the_typed_text_back(app):
    hcp = make_hcp(territory=make_territory(code="US-NE"))
    client = browser(app, hcp)
    ask(client)
    typed = "Is <b>Cardiolex</b> safe with grapefruit juice at 40 mg?"

    refused = ask(client, text=typed, headers={"Referer": "http://localhost/questions/ask"})

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    html = refused.get_data(as_text=True)
    assert "Please wait" in html
    assert "asked many questions" in html
    assert "<b>Cardiolex</b>" not in html  # kept as text, never as markup
    assert typed in unescape(html)
    assert "Traceback" not in html
    assert count(Question) == 1


@pytest.mark.app_config(
    RATELIMIT_ENABLED=True,
    THROTTLES=throttles(questions={"user": "2 per hour", "address": "100 per hour"}),
)
def test_a_form_sent_back_with_a_problem_spends_nothing(app):
    hcp = make_hcp(territory=make_territory(code="US-NE"))
    client = browser(app, hcp)

    for _ in range(5):
        assert ask(client, text="short").status_code == 200  # "at least 10 characters"

    assert ask(client).status_code == 302
    assert ask(client).status_code == 302
    assert ask(client).status_code == 429


@pytest.mark.app_config(
    RATELIMIT_ENABLED=True,
    THROTTLES=throttles(questions={"user": "2 per hour", "address": "100 per hour"}),
)
def test_one_hcps_spent_budget_does_not_stop_a_colleague(app):
    territory = make_territory(code="US-NE")
    first = browser(app, make_hcp(territory=territory))
    second = browser(app, make_hcp(territory=territory))
    for _ in range(2):
        ask(first)

    assert ask(first).status_code == 429
    assert ask(second).status_code == 302


@pytest.mark.app_config(
    RATELIMIT_ENABLED=True,
    THROTTLES=throttles(questions={"user": "100 per hour", "address": "3 per hour"}),
)
def test_many_accounts_from_one_address_share_the_address_budget(app):
    territory = make_territory(code="US-NE")
    clients = [browser(app, make_hcp(territory=territory)) for _ in range(4)]

    statuses = [ask(c).status_code for c in clients]
    elsewhere = browser(app, make_hcp(territory=territory), ADDRESS_B)

    assert statuses == [302, 302, 302, 429]
    assert ask(elsewhere, ADDRESS_B).status_code == 302


@pytest.mark.app_config(
    RATELIMIT_ENABLED=True,
    THROTTLES=throttles(questions={"user": "", "address": ""}),
)
def test_an_empty_limit_switches_a_throttle_off(app):
    hcp = make_hcp(territory=make_territory(code="US-NE"))
    client = browser(app, hcp)

    assert {ask(client, text=f"Unthrottled question {n}?").status_code for n in range(12)} == {302}


# --- anonymous forms: registration and password reset ----------------------------------------


@pytest.mark.app_config(
    RATELIMIT_ENABLED=True,
    THROTTLES=throttles(registrations={"address": "100 per hour", "email": "2 per hour"}),
)
def test_registrations_for_one_address_are_limited_whoever_sends_them(app, client):
    owner = make_hcp(email="owner@example.org")
    mails = count(OutboxMail)

    statuses = [
        client.post(
            "/register",
            data=registration(email=owner.email),
            environ_base={"REMOTE_ADDR": f"203.0.113.{n}"},
        ).status_code
        for n in range(1, 6)
    ]

    assert statuses == [302, 302, 429, 429, 429]
    assert count(OutboxMail) - mails == 2  # the owner's mailbox is not flooded


@pytest.mark.app_config(
    RATELIMIT_ENABLED=True,
    THROTTLES=throttles(registrations={"address": "2 per hour", "email": "100 per hour"}),
)
def test_registrations_from_one_client_address_are_limited(app, client):
    statuses = [
        client.post("/register", data=registration(), environ_base=ADDRESS_A).status_code
        for _ in range(3)
    ]

    assert statuses == [302, 302, 429]
    assert count(User) == 2


@pytest.mark.app_config(
    RATELIMIT_ENABLED=True,
    THROTTLES=throttles(password_resets={"address": "100 per hour", "email": "2 per hour"}),
)
def test_reset_mails_to_one_address_are_limited_known_or_not(app, client):
    known = make_hcp()
    for email in (known.email, "nobody@example.org"):
        statuses = [
            client.post(
                "/password/forgot",
                data={"email": email},
                environ_base={"REMOTE_ADDR": f"203.0.113.{n}"},
            ).status_code
            for n in range(1, 4)
        ]
        # Known and unknown addresses meet the same limit: it tells nothing.
        assert statuses == [302, 302, 429]
    assert count(OutboxMail) == 2


# --- every creation route carries its throttle -----------------------------------------------


CREATION_ROUTES = {
    "questions.ask": Throttle.QUESTIONS,
    "questions.follow_up": Throttle.FOLLOW_UPS,
    "questions.reply": Throttle.ANSWERS,
    "questions.note": Throttle.ANSWERS,
    "questions.report_pv": Throttle.PV_REPORTS,
    "chat.report_message": Throttle.PV_REPORTS,
    "chat.start": Throttle.CHAT_STARTS,
    "chat.invite": Throttle.CHAT_INVITATIONS,
    "content.create": Throttle.UPLOADS,
    "content.edit": Throttle.UPLOADS,
    "safety.ask": Throttle.PV_FOLLOW_UPS,
    "safety.request": Throttle.PV_ANSWERS,
    "admin.create_user": Throttle.STAFF_INVITATIONS,
    "auth.register": Throttle.REGISTRATIONS,
    "auth.forgot_password": Throttle.PASSWORD_RESETS,
    "call_notes.new": Throttle.CALL_NOTES,
    "roster.save_plan": Throttle.CALL_NOTES,
    "outreach.share": Throttle.OUTREACH,
    "outreach.propose_meeting": Throttle.MEETINGS,
    "outreach.request_meeting": Throttle.MEETINGS,
    "outreach.accept_meeting": Throttle.MEETINGS,
    "outreach.decline_meeting": Throttle.MEETINGS,
    "outreach.cancel_meeting": Throttle.MEETINGS,
    "account.index": Throttle.PREFERENCES,
    "account.preferences": Throttle.PREFERENCES,
    "account.resume": Throttle.PREFERENCES,
    "privacy.delete": Throttle.PREFERENCES,
    "privacy.admin_erase": Throttle.PREFERENCES,
    "webhooks.create": Throttle.WEBHOOKS,
    "webhooks.test": Throttle.WEBHOOKS,
    "api_tokens.create": Throttle.API_TOKENS,
    "records.create": Throttle.EXPORTS,
    "retention.periods": Throttle.RETENTION,
    "retention.place_hold": Throttle.RETENTION,
    "retention.release_hold": Throttle.RETENTION,
}


@pytest.mark.parametrize(("endpoint", "name"), CREATION_ROUTES.items())
def test_every_route_that_creates_records_carries_its_throttle(app, endpoint, name):
    from portal.extensions import limiter

    view = app.view_functions[endpoint]
    # Flask-Limiter files a decorated view's limits under its module and name.
    prefix = f"{view.__module__}.{view.__name__}."
    scopes = {
        group.scope
        for route, groups in limiter.limit_manager._decorated_limits.items()
        if route.startswith(prefix)
        for group in groups
    }

    assert f"throttle:{name.value}:address" in scopes


def test_every_throttle_has_a_default_and_words_for_its_refusal():
    from portal.throttles import WHAT

    assert set(THROTTLE_DEFAULTS) == {t.value for t in Throttle}
    assert set(WHAT) == set(Throttle)


# --- shared across processes -----------------------------------------------------------------


def test_two_servers_sharing_redis_count_against_one_budget(
    app, redis_url: str, tmp_path: Path, monkeypatch
):
    from portal.extensions import limiter

    # Flask-Limiter keeps the first key prefix it is given and adds up the storage options of
    # every app it served (an earlier test's pool to a Redis long gone): start this test afresh.
    monkeypatch.setattr(limiter, "_key_prefix", "")
    monkeypatch.setattr(limiter, "_storage_options", {})
    hcp = make_hcp(territory=make_territory(code="US-NE"))
    shared = {
        **app.config,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": redis_url,
        # Counters of this test's own: other tests use the same Redis at the same time.
        "RATELIMIT_KEY_PREFIX": f"budget-{uuid.uuid4().hex}",
        "THROTTLES": throttles(questions={"user": "3 per hour", "address": "100 per hour"}),
    }
    statuses = []
    for name in ("one", "two"):
        # One app per process in production: the second starts after the first served.
        server = create_app({**shared, "INSTANCE_PATH": str(tmp_path / name)})
        client = browser(server, hcp)
        statuses += [ask(client).status_code for _ in range(2)]

    assert statuses == [302, 302, 302, 429]
    assert count(Question) == 3


def test_the_throttles_come_from_the_environment(monkeypatch, tmp_path: Path):
    from portal.config import load_config

    monkeypatch.setenv("SECRET_KEY", "not-used")
    monkeypatch.setenv("THROTTLE_QUESTIONS_USER", "3 per minute")
    monkeypatch.setenv("THROTTLE_PV_REPORTS_ADDRESS", "")

    config = load_config(tmp_path)

    assert config["THROTTLES"]["questions"]["user"] == "3 per minute"
    assert config["THROTTLES"]["pv-reports"]["address"] == ""
    assert config["THROTTLES"]["uploads"] == THROTTLE_DEFAULTS["uploads"]
