"""Periods and legal holds at the service layer: who may change them, validation, audit, and
``is_held`` (what erasure asks)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from portal import policy
from portal.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Role
from portal.retention import holds, periods
from portal.retention.models import HoldScope, LegalHold, RecordKind, RetentionPeriod
from tests.factories import make_hcp, make_user
from tests.portal.retention.conftest import count, hold


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))


# --- policy --------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", list(Role))
def test_who_may_see_set_periods_and_manage_holds(app: Flask, role: Role):
    person = make_user(role)

    assert policy.can_view_retention(person) is (role in (Role.ADMIN, Role.COMPLIANCE))
    assert policy.can_edit_retention_periods(person) is (role is Role.ADMIN)
    assert policy.can_manage_legal_holds(person) is (role is Role.COMPLIANCE)


def test_a_suspended_administrator_or_auditor_may_do_nothing(app: Flask):
    admin = make_user(Role.ADMIN, suspended=True)
    auditor = make_user(Role.COMPLIANCE, suspended=True)

    assert not policy.can_view_retention(admin)
    assert not policy.can_edit_retention_periods(admin)
    assert not policy.can_manage_legal_holds(auditor)


# --- periods -------------------------------------------------------------------------------------
def test_periods_default_to_the_configuration(app: Flask):
    app.config["RETENTION_DEFAULT_DAYS"] = {**app.config["RETENTION_DEFAULT_DAYS"], "jobs": 12}

    assert periods.current_periods()[RecordKind.JOBS] == 12
    assert count(RetentionPeriod) == 0


def test_an_administrator_changes_a_period_and_it_is_audited(app: Flask, admin):
    before = periods.current_periods()[RecordKind.NOTIFICATIONS]

    changed = periods.set_periods(admin, {RecordKind.NOTIFICATIONS: 30})

    assert changed == {RecordKind.NOTIFICATIONS: 30}
    assert periods.current_periods()[RecordKind.NOTIFICATIONS] == 30
    row = db.session.get(RetentionPeriod, RecordKind.NOTIFICATIONS)
    assert row is not None
    assert row.updated_by_id == admin.id
    [record] = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "retention.period_changed")
    ).all()
    assert record.details == {
        "kind": "notifications",
        "days": {"before": before, "after": 30},
    }


def test_saving_the_same_values_changes_and_audits_nothing(app: Flask, admin):
    assert periods.set_periods(admin, periods.current_periods()) == {}
    assert "retention.period_changed" not in actions()


@pytest.mark.parametrize("bad", [0, -5, periods.MAX_DAYS + 1])
def test_a_period_must_be_a_positive_number_of_days(app: Flask, admin, bad: int):
    with pytest.raises(InvalidInput) as refused:
        periods.set_periods(admin, {RecordKind.SESSIONS: bad})

    assert "sessions" in (refused.value.errors or {})
    assert count(RetentionPeriod) == 0


@pytest.mark.parametrize("ordinary", [RecordKind.CONVERSATIONS, RecordKind.QUESTIONS])
def test_the_safety_period_is_never_shorter_than_the_ordinary_one(
    app: Flask, admin, ordinary: RecordKind
):
    safety = periods.current_periods()[RecordKind.SAFETY_LINKED]

    with pytest.raises(InvalidInput) as refused:
        periods.set_periods(admin, {ordinary: safety + 1})
    assert "safety_linked" in (refused.value.errors or {})
    with pytest.raises(InvalidInput):
        periods.set_periods(admin, {RecordKind.SAFETY_LINKED: 10, ordinary: 20})

    # Equal is allowed.
    periods.set_periods(admin, {ordinary: safety})
    assert periods.current_periods()[ordinary] == safety


@pytest.mark.parametrize("role", [Role.COMPLIANCE, Role.MSL, Role.HCP])
def test_only_administrators_change_periods(app: Flask, role: Role):
    with pytest.raises(PermissionDenied):
        periods.set_periods(make_user(role), {RecordKind.JOBS: 10})
    assert count(RetentionPeriod) == 0


def test_only_administrators_and_compliance_list_periods(app: Flask, admin, compliance):
    assert len(periods.list_periods(admin)) == len(RecordKind)
    assert len(periods.list_periods(compliance)) == len(RecordKind)
    with pytest.raises(NotFound):
        periods.list_periods(make_user(Role.MSL))


# --- holds ---------------------------------------------------------------------------------------
def test_a_hold_on_a_person_makes_them_held_and_is_audited(app: Flask, compliance):
    hcp, other = make_hcp(), make_hcp()

    placed = hold(compliance, hcp, reason="Subpoena 44-B")

    assert holds.is_held(hcp.id)
    assert not holds.is_held(other.id)
    assert (placed.scope, placed.user_id, placed.placed_by_id) == (
        HoldScope.PERSON, hcp.id, compliance.id,
    )  # fmt: skip
    [record] = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "legal_hold.placed")
    ).all()
    assert (record.target_type, record.target_id) == ("users", str(hcp.id))
    assert record.details["reason"] == "Subpoena 44-B"


def test_a_staff_member_can_be_held_too(app: Flask, compliance):
    rep = make_user(Role.REP)
    hold(compliance, rep)
    assert holds.is_held(rep.id)


def test_a_hold_on_everything_holds_everyone(app: Flask, compliance):
    hcp = make_hcp()
    hold(compliance)
    assert holds.is_held(hcp.id)
    assert holds.everything_held()


def test_a_released_hold_holds_no_more_and_the_release_is_audited(app: Flask, compliance):
    hcp = make_hcp()
    placed = hold(compliance, hcp)

    released = holds.release_hold(compliance, placed.id, reason="Case dismissed")

    assert not holds.is_held(hcp.id)
    assert released.released_by_id == compliance.id
    assert released.release_reason == "Case dismissed"
    assert actions()[-1] == "legal_hold.released"
    with pytest.raises(Conflict):
        holds.release_hold(compliance, placed.id, reason="again")


def test_two_holds_on_one_person_release_separately(app: Flask, compliance):
    hcp = make_hcp()
    first = hold(compliance, hcp)
    with pytest.raises(Conflict):
        hold(compliance, hcp)
    holds.release_hold(compliance, first.id, reason="done")
    hold(compliance, hcp, reason="A new matter")
    assert holds.is_held(hcp.id)


@pytest.mark.parametrize(
    ("email", "reason", "field"),
    [("", "A matter", "email"), ("nobody@example.org", "A matter", "email"), (None, " ", "reason")],
)
def test_a_hold_needs_a_known_person_and_a_reason(
    app: Flask, compliance, email: str | None, reason: str, field: str
):
    hcp = make_hcp()
    with pytest.raises(InvalidInput) as refused:
        holds.place_hold(
            compliance,
            scope=HoldScope.PERSON,
            reason=reason,
            email=hcp.email if email is None else email,
        )
    assert field in (refused.value.errors or {})
    assert count(LegalHold) == 0


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PHARMACOVIGILANCE, Role.HCP])
def test_only_compliance_places_and_releases_holds(app: Flask, compliance, role: Role):
    hcp = make_hcp()
    someone = make_user(role)
    with pytest.raises(PermissionDenied):
        holds.place_hold(someone, scope=HoldScope.PERSON, reason="x", email=hcp.email)
    placed = hold(compliance, hcp)
    refusal = PermissionDenied if role is Role.ADMIN else NotFound
    with pytest.raises(refusal):
        holds.release_hold(someone, placed.id, reason="x")
    assert holds.is_held(hcp.id)


def test_releasing_a_hold_that_does_not_exist_is_not_found(app: Flask, compliance):
    with pytest.raises(NotFound):
        holds.release_hold(compliance, 2**31 - 1, reason="x")
