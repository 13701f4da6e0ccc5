"""The /records/exports pages: compliance asks for an export, follows it, downloads it; bad input
comes back on the form; everybody else finds nothing there."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import jobs
from portal.extensions import db
from portal.models import Role, utcnow
from portal.records.models import ExportRun, ExportStatus
from tests.factories import make_user
from tests.portal import helpers
from tests.portal.records.conftest import History


def form(**overrides: str) -> dict[str, str]:
    today = utcnow().date()
    return {
        "since": (today - dt.timedelta(days=1)).isoformat(),
        "until": today.isoformat(),
        "hcp": "",
        "staff": "",
        "team": "",
        "product": "",
        **overrides,
    }


def test_compliance_starts_an_export_follows_it_and_downloads_it(app: Flask, history: History):
    client = helpers.browser(app, history.compliance)

    page = client.get("/records/exports")
    assert page.status_code == 200
    assert "Supervisory exports" in page.get_data(as_text=True)

    started = client.post("/records/exports", data=form(hcp=history.hcp.email))
    assert started.status_code == 302
    run = db.session.scalars(select(ExportRun)).one()
    assert run.filters["hcp_id"] == history.hcp.id
    assert started.headers["Location"].endswith(f"/records/exports/{run.id}")

    waiting = client.get(f"/records/exports/{run.id}")
    html = waiting.get_data(as_text=True)
    assert 'http-equiv="refresh"' in html
    assert "Queued" in html

    jobs.Worker(app).run_once()

    ready = client.get(f"/records/exports/{run.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in ready
    db.session.expire_all()
    run = db.session.get(ExportRun, run.id)
    assert run is not None and run.status is ExportStatus.DONE
    assert run.file_sha256 in ready
    listing = client.get("/records/exports").get_data(as_text=True)
    assert f"/records/exports/{run.id}/download" in listing

    download = client.get(f"/records/exports/{run.id}/download")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Cache-Control"] == "no-store"
    assert hashlib.sha256(download.get_data()).hexdigest() == run.file_sha256


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"since": "2026-02-30"}, "is not a date"),
        ({"since": ""}, "Give a date"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "comes before"),
        ({"hcp": "nobody@clinic.test"}, "No HCP has that e-mail address"),
        ({"product": "NOPE"}, "No product has that code"),
    ],
)
def test_bad_input_comes_back_on_the_form_and_nothing_is_queued(
    app: Flask, history: History, changes: dict[str, str], message: str
):
    client = helpers.browser(app, history.compliance)

    answer = client.post("/records/exports", data=form(**changes))

    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ExportRun)) == 0


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MSL, Role.REP, Role.HCP])
def test_nobody_else_finds_the_pages(app: Flask, history: History, role: Role):
    from portal.records import export

    run = export.request_export(history.compliance, export.ExportFilters(
        since=dt.date(2026, 1, 1), until=dt.date(2026, 1, 2)
    ))  # fmt: skip
    someone = history.hcp if role is Role.HCP else make_user(role)
    client = helpers.browser(app, someone)

    assert client.get("/records/exports").status_code == 404
    assert client.post("/records/exports", data=form()).status_code == 404
    assert client.get(f"/records/exports/{run.id}").status_code == 404
    assert client.get(f"/records/exports/{run.id}/download").status_code == 404


def test_a_file_not_ready_yet_is_not_found(app: Flask, history: History):
    client = helpers.browser(app, history.compliance)
    client.post("/records/exports", data=form())
    run = db.session.scalars(select(ExportRun)).one()

    assert client.get(f"/records/exports/{run.id}/download").status_code == 404
