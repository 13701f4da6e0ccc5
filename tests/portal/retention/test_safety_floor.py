"""The safety period's regulatory floor (``RETENTION_SAFETY_MINIMUM_DAYS``): the page refuses a
shorter period, a process refuses to start with a shorter default, a row stored below it does
not shorten what the purge keeps, and the purge never deletes a PV case that is not closed and
past the safety period."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from portal import create_app
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import AuditRecord
from portal.questions.models import Question, QuestionStatus
from portal.retention import periods, purge
from portal.retention.models import RecordKind, RetentionPeriod, RetentionRun, RunState
from portal.retention.periods import RetentionConfigError, check_config
from portal.safety.models import PvCase
from tests.conftest import base_config
from tests.portal.helpers import signed_in
from tests.portal.retention.conftest import T0, at, case_on_question, closed_question, count

DAY = dt.timedelta(days=1)
FLOOR = 3650


def _defaults(app: Flask, **changes: int) -> dict[str, int]:
    return {**app.config["RETENTION_DEFAULT_DAYS"], **changes}


# --- the page and the service --------------------------------------------------------------------
def test_the_floor_is_ten_years_by_default(app: Flask):
    assert app.config["RETENTION_SAFETY_MINIMUM_DAYS"] == FLOOR
    assert periods.current_periods()[RecordKind.SAFETY_LINKED] >= FLOOR


@pytest.mark.parametrize("short", [1, 30, FLOOR - 1])
def test_the_safety_period_cannot_go_below_the_regulatory_minimum(app: Flask, admin, short: int):
    app.config["RETENTION_DEFAULT_DAYS"] = _defaults(app, conversations=1, questions=1)

    with pytest.raises(InvalidInput) as refused:
        periods.set_periods(admin, {RecordKind.SAFETY_LINKED: short})

    assert "regulatory minimum" in (refused.value.errors or {})["safety_linked"]
    assert count(RetentionPeriod) == 0
    assert count(AuditRecord, AuditRecord.action == "retention.period_changed") == 0


def test_the_minimum_itself_is_allowed_and_follows_the_configuration(app: Flask, admin):
    periods.set_periods(admin, {RecordKind.SAFETY_LINKED: FLOOR})
    assert periods.current_periods()[RecordKind.SAFETY_LINKED] == FLOOR

    app.config["RETENTION_SAFETY_MINIMUM_DAYS"] = FLOOR + 365
    with pytest.raises(InvalidInput):
        periods.set_periods(admin, {RecordKind.NOTIFICATIONS: 20})
    assert periods.problems_of(periods.current_periods()) == {
        "safety_linked": (
            "Safety-linked records must be kept at least 4,015 days: the regulatory minimum"
            " for adverse-event and product-complaint records."
        )
    }


def test_the_page_refuses_a_short_safety_period_with_the_reason(app: Flask, admin):
    form = {k.value: str(d) for k, d in periods.current_periods().items()}
    form["safety_linked"] = "1"

    response = signed_in(app, admin).post("/admin/retention/periods", data=form)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "at least 3,650 days: the regulatory minimum" in html
    assert count(RetentionPeriod) == 0


# --- at start -----------------------------------------------------------------------------------
def test_check_config_accepts_the_shipped_defaults(app: Flask):
    check_config(app.config)


@pytest.mark.parametrize(
    ("changes", "minimum", "message"),
    [
        ({"safety_linked": 1}, FLOOR, "below the regulatory minimum of 3650"),
        ({"safety_linked": FLOOR - 1}, FLOOR, "RETENTION_SAFETY_LINKED_DAYS to at least 3650"),
        ({"questions": FLOOR + 1}, FLOOR, "shorter than the default of questions"),
        ({"jobs": 0}, FLOOR, "jobs: 0 is not a number of days"),
        ({"sign_in_details": -3}, FLOOR, "sign_in_details: -3"),
        ({}, 0, "RETENTION_SAFETY_MINIMUM_DAYS must be"),
    ],
)
def test_check_config_refuses_unusable_defaults(
    app: Flask, changes: dict[str, int], minimum: int, message: str
):
    config = {
        "RETENTION_DEFAULT_DAYS": _defaults(app, **changes),
        "RETENTION_SAFETY_MINIMUM_DAYS": minimum,
    }

    with pytest.raises(RetentionConfigError, match=message):
        check_config(config)


def test_a_process_refuses_to_start_with_a_safety_default_below_the_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("RETENTION_SAFETY_LINKED_DAYS", "1")
    config = base_config(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'p.db'}")

    with pytest.raises(RetentionConfigError, match="below the regulatory minimum"):
        create_app(config)

    # A deployment whose rule is shorter lowers the floor explicitly.
    monkeypatch.setenv("RETENTION_SAFETY_MINIMUM_DAYS", "1")
    monkeypatch.setenv("RETENTION_CONVERSATIONS_DAYS", "1")
    monkeypatch.setenv("RETENTION_QUESTIONS_DAYS", "1")
    assert create_app(config).config["RETENTION_DEFAULT_DAYS"]["safety_linked"] == 1


# --- the purge ----------------------------------------------------------------------------------
def test_a_stored_period_below_the_floor_does_not_shorten_the_safety_period(app: Flask, admin):
    with at(T0):
        question_id = closed_question().id
        question = db.session.get_one(Question, question_id)
        case_id = case_on_question(question, closed_at=T0).id
    # A row stored before the floor existed (the page would refuse it now).
    db.session.add(RetentionPeriod(kind=RecordKind.SAFETY_LINKED, days=1, updated_by_id=admin.id))
    db.session.commit()

    with at(T0 + FLOOR * DAY - DAY):
        kept = purge.purge()
    assert kept.counts["safety_linked"] == 0
    assert count(Question, Question.id == question_id) == 1
    assert count(PvCase, PvCase.id == case_id) == 1

    with at(T0 + FLOOR * DAY + DAY):
        gone = purge.purge()
    assert gone.counts["safety_linked"] == 1
    assert count(PvCase, PvCase.id == case_id) == 0


def _careless(sweep: purge.Sweep) -> purge.Sweep:
    """A question sweep whose clause forgot the safety links (every closed question)."""
    return dataclasses.replace(sweep, due=lambda cutoff: Question.status == QuestionStatus.CLOSED)


@pytest.mark.parametrize("closed_at", [None, T0], ids=["open", "closed-recently"])
def test_the_purge_never_deletes_a_pv_case_before_it_is_closed_and_past_the_safety_period(
    app: Flask, monkeypatch: pytest.MonkeyPatch, closed_at: dt.datetime | None
):
    with at(T0):
        question = closed_question()
        case = case_on_question(question, closed_at=closed_at)
    monkeypatch.setattr(
        purge,
        "SWEEPS",
        tuple(_careless(s) if s.kind is RecordKind.QUESTIONS else s for s in purge.SWEEPS),
    )

    with at(T0 + 6 * 365 * DAY), pytest.raises(purge.UnsafePurge, match="PV case"):
        purge.purge()

    assert count(PvCase, PvCase.id == case.id) == 1
    assert count(Question, Question.id == question.id) == 1
    [run] = db.session.scalars(select(RetentionRun)).all()
    assert run.state is RunState.FAILED
