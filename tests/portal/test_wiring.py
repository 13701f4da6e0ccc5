"""Each package wires itself into the app it is given (``init_app``), keeping its state there."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from chat.pv import PvChatSource
from portal import create_app
from portal.main.panels import register_home_panel
from portal.questions import extension as questions_extension
from portal.safety import extension as safety_extension
from tests.conftest import base_config


def _app(tmp_path: Path, name: str) -> Flask:
    return create_app(base_config(tmp_path / name, SQLALCHEMY_DATABASE_URI="sqlite://"))


def test_create_app_wires_every_package(tmp_path):
    app = _app(tmp_path, "one")
    assert set(app.blueprints) == {
        "main", "auth", "admin", "chat", "chat_review", "content", "questions", "routing_admin",
        "safety", "hcps", "roster", "call_notes", "account", "outreach",
        # The integration API (one flask-smorest blueprint per resource, the document's own, the
        # reference and tokens pages), the dashboards and the webhooks' pages.
        "api-docs", "api_call_notes", "api_hcps", "api_interactions", "api_materials", "api_meta",
        "api_pv_cases", "api_questions", "api_reference", "api_tokens", "insights", "webhooks",
        # Records and privacy: supervisory exports, data rights, retention.
        "records", "privacy", "retention",
    }  # fmt: skip
    assert {
        "questions",
        "content",
        "contacts",
        "seed-demo",
        "mail",
        "audit",
        "api",
        "insights",
        "export",
        "privacy",
        "retention",
    } <= set(app.cli.commands)
    panels = [f"{p.__module__}.{p.__name__}" for p in app.extensions["home_panels"]]
    assert panels == [
        "chat.views.home_panel", "content.views.home_panel", "portal.questions.views.home_panel",
        "portal.safety.views.home_panel", "portal.accounts.worklist.home_panel",
    ]  # fmt: skip
    seeders = [f"{s.__module__}.{s.__name__}" for s in app.extensions["demo_seeders"]]
    assert seeders == [
        "chat.demo.seed_chats",
        "content.demo.seed_materials",
        "portal.questions.demo.seed_questions",
        "portal.accounts.demo.seed_account_team",
    ]
    # Chat answers for questions and safety, which never import it.
    assert questions_extension(app).chat_opt_in is not None
    assert isinstance(safety_extension(app).chat_source, PvChatSource)


def test_apps_in_one_process_keep_their_own_state(tmp_path):
    first, second = _app(tmp_path, "first"), _app(tmp_path, "second")

    def extra(user: object) -> None:
        return None

    register_home_panel(first, extra)
    register_home_panel(first, extra)  # once only
    assert first.extensions["home_panels"].count(extra) == 1
    assert extra not in second.extensions["home_panels"]
    questions_extension(second).chat_opt_in = None
    assert questions_extension(first).chat_opt_in is not None
    assert questions_extension(first) is not questions_extension(second)
