"""The retention page and ``flask retention purge``: wiring (status, flash, what changed), the
JSON contract of the command."""

from __future__ import annotations

import json

from flask import Flask
from sqlalchemy import select

from portal.extensions import db
from portal.models import Role
from portal.retention import holds
from portal.retention.models import LegalHold, RecordKind, RetentionPeriod, RetentionRun
from portal.retention.periods import current_periods
from tests.factories import make_hcp, make_user
from tests.portal.helpers import signed_in
from tests.portal.retention.conftest import DAY_AFTER, MAKERS, T0, at, count, hold


def periods_form(**changes: int) -> dict[str, str]:
    return {k.value: str(changes.get(k.value, d)) for k, d in current_periods().items()}


def test_compliance_reads_the_page_without_the_period_form(app: Flask, compliance):
    page = signed_in(app, compliance).get("/admin/retention/")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Safety-linked records" in html
    assert "kept" in html  # the audit trail
    assert 'name="notifications"' not in html
    assert "Place the hold" in html


def test_an_administrator_sees_the_period_form_but_not_the_hold_form(app: Flask, admin):
    html = signed_in(app, admin).get("/admin/retention/").get_data(as_text=True)

    assert 'name="notifications"' in html
    assert "Place the hold" not in html


def test_other_staff_do_not_know_the_page_exists(app: Flask):
    assert signed_in(app, make_user(Role.MSL)).get("/admin/retention/").status_code == 404


def test_an_administrator_saves_the_periods(app: Flask, admin):
    client = signed_in(app, admin)

    response = client.post("/admin/retention/periods", data=periods_form(notifications=45))

    assert response.status_code == 302
    assert current_periods()[RecordKind.NOTIFICATIONS] == 45
    assert count(RetentionPeriod) == 1


def test_a_bad_period_shows_the_form_again_with_the_problem(app: Flask, admin):
    client = signed_in(app, admin)
    safety = current_periods()[RecordKind.SAFETY_LINKED]

    zero = client.post("/admin/retention/periods", data=periods_form(jobs=0))
    short = client.post("/admin/retention/periods", data=periods_form(questions=safety + 5))
    words = client.post("/admin/retention/periods", data=periods_form() | {"jobs": "many"})

    assert [r.status_code for r in (zero, short, words)] == [200, 200, 200]
    assert "at least as long as ordinary ones" in short.get_data(as_text=True)
    assert count(RetentionPeriod) == 0


def test_compliance_cannot_save_periods(app: Flask, compliance):
    response = signed_in(app, compliance).post(
        "/admin/retention/periods", data=periods_form(jobs=5)
    )
    assert response.status_code == 403
    assert count(RetentionPeriod) == 0


def test_compliance_places_and_releases_a_hold_from_the_page(app: Flask, compliance):
    hcp = make_hcp()
    client = signed_in(app, compliance)

    placed = client.post(
        "/admin/retention/holds",
        data={"scope": "person", "email": hcp.email.upper(), "reason": "Litigation 17"},
    )
    assert placed.status_code == 302
    assert holds.is_held(hcp.id)
    page = client.get("/admin/retention/").get_data(as_text=True)
    assert "Litigation 17" in page

    [hold_row] = db.session.scalars(select(LegalHold)).all()
    released = client.post(
        "/admin/retention/holds/release", data={"hold_id": hold_row.id, "reason": "Settled"}
    )
    assert released.status_code == 302
    assert not holds.is_held(hcp.id)


def test_a_hold_for_an_unknown_address_shows_the_form_again(app: Flask, compliance):
    response = signed_in(app, compliance).post(
        "/admin/retention/holds",
        data={"scope": "person", "email": "nobody@example.org", "reason": "x"},
    )
    assert response.status_code == 200
    assert "No one has the address" in response.get_data(as_text=True)
    assert count(LegalHold) == 0


def test_releasing_twice_is_refused_with_a_message(app: Flask, compliance):
    placed = hold(compliance, make_hcp())
    client = signed_in(app, compliance)
    data = {"hold_id": placed.id, "reason": "done"}
    client.post("/admin/retention/holds/release", data=data)

    again = client.post("/admin/retention/holds/release", data=data)

    assert again.status_code == 302
    with client.session_transaction() as session:
        assert ("danger", "That hold was released already.") in session["_flashes"]


def test_an_administrator_cannot_release_a_hold(app: Flask, admin, compliance):
    placed = hold(compliance, make_hcp())
    response = signed_in(app, admin).post(
        "/admin/retention/holds/release", data={"hold_id": placed.id, "reason": "erase them"}
    )
    assert response.status_code == 403
    assert db.session.get(LegalHold, placed.id).released_at is None  # type: ignore[union-attr]


def test_the_page_lists_the_runs_with_their_counts(app: Flask, compliance):
    with at(T0):
        MAKERS[RecordKind.JOBS]()
    with at(DAY_AFTER(RecordKind.JOBS)):
        app.test_cli_runner().invoke(args=["retention", "purge"])

    html = signed_in(app, compliance).get("/admin/retention/").get_data(as_text=True)

    assert "Background jobs: 1" in html
    assert "command line" in html


# --- the command line -----------------------------------------------------------------------------
def test_the_purge_command_prints_the_removed_counts(app: Flask):
    with at(T0):
        MAKERS[RecordKind.NOTIFICATIONS]()
    with at(DAY_AFTER(RecordKind.NOTIFICATIONS)):
        result = app.test_cli_runner().invoke(args=["retention", "purge"])

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["dry_run"] is False
    assert set(printed["removed"]) == {k.value for k in RecordKind}
    assert printed["removed"]["notifications"] == 1
    [run] = db.session.scalars(select(RetentionRun)).all()
    assert run.trigger == "cli"


def test_the_dry_run_command_counts_and_changes_nothing(app: Flask):
    with at(T0):
        made = MAKERS[RecordKind.NOTIFICATIONS]()
    with at(DAY_AFTER(RecordKind.NOTIFICATIONS)):
        result = app.test_cli_runner().invoke(args=["retention", "purge", "--dry-run"])

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed == {"dry_run": True, "removed": printed["removed"]}
    assert printed["removed"]["notifications"] == 1
    assert made.exists()
    assert count(RetentionRun) == 0
