"""PV case services: who may list, open and work cases, the list's filters and pages, completing
the report (seriousness, patient), and where notifications point."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.errors import InvalidInput, NotFound, PermissionDenied
from portal.models import Role, User, utcnow
from portal.safety import services
from portal.safety.models import CaseOrigin, PvCase, PvCaseStatus, Seriousness
from portal.safety.services import CaseFilter, CaseSource, PvCaseInput
from tests.factories import make_hcp, make_user
from tests.portal.safety.factories import audit_of, notifications_of, open_case, pv_officer

NOBODY_ELSE = [
    Role.HCP,
    Role.REP,
    Role.MARKET_ACCESS,
    Role.MSL,
    Role.MEDICAL_INFORMATION,
    Role.QUALITY,
    Role.CONTENT_MANAGER,
    Role.ADMIN,
]


def persona(role: Role) -> User:
    return make_hcp() if role is Role.HCP else make_user(role)


# --- who -------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", [Role.PHARMACOVIGILANCE, Role.COMPLIANCE])
def test_pv_and_compliance_list_and_open_cases(app, role):
    case = open_case()
    reader = persona(role)

    assert [c.id for c in services.case_page(reader, CaseFilter()).cases] == [case.id]
    assert services.get_pv_case(reader, case.id) is case
    assert services.count_open_cases(reader) == 1


@pytest.mark.parametrize("role", NOBODY_ELSE)
def test_nobody_else_finds_the_list_or_a_case(app, role):
    case = open_case()
    outsider = persona(role)

    with pytest.raises(NotFound):
        services.case_page(outsider, CaseFilter())
    with pytest.raises(NotFound):
        services.get_pv_case(outsider, case.id)
    assert services.count_open_cases(outsider) == 0


def test_compliance_reads_but_cannot_work_a_case(app):
    case = open_case()
    compliance = make_user(Role.COMPLIANCE)

    with pytest.raises(PermissionDenied):
        services.acknowledge_pv_case(compliance, case.id)
    with pytest.raises(PermissionDenied):
        services.update_pv_case(compliance, case.id, PvCaseInput(event="Rash"))
    assert case.status is PvCaseStatus.OPEN and case.event == ""


def test_a_new_case_notifies_pv_with_a_link_to_the_workspace(app):
    pv = pv_officer()
    case = open_case()

    [note] = notifications_of(pv)
    assert note.url == f"/safety/cases/{case.id}"
    assert case.reference in note.title and "rash" not in note.title


# --- the list --------------------------------------------------------------------------------
def test_the_list_filters_by_status_source_origin_and_overdue(app):
    pv = pv_officer()
    now = utcnow()
    question = open_case(received_at=now - dt.timedelta(days=10))  # long overdue
    chat = open_case(source=CaseSource.CHAT, received_at=now)
    reported = open_case(origin=CaseOrigin.STAFF_REPORT, reported_by=make_user(Role.MSL))
    acknowledged = open_case(source=CaseSource.FOLLOW_UP)
    services.acknowledge_pv_case(pv, acknowledged.id)

    def ids(**filters: object) -> set[int]:
        page = services.case_page(pv, CaseFilter.of(**filters), now=now)  # type: ignore[arg-type]
        return {c.id for c in page.cases}

    assert ids() == {question.id, chat.id, reported.id}
    assert ids(status="acknowledged") == {acknowledged.id}
    assert ids(status="all") == {question.id, chat.id, reported.id, acknowledged.id}
    assert ids(status="all", source="chat") == {chat.id}
    assert ids(status="all", source="follow_up") == {acknowledged.id}
    assert ids(status="all", origin="staff_report") == {reported.id}
    assert ids(status="all", overdue=True) == {question.id}
    assert ids(status="nonsense", source="nonsense") == ids()  # stale values fall back


def test_open_cases_come_soonest_due_first(app):
    pv = pv_officer()
    now = utcnow()
    later = open_case(received_at=now)
    sooner = open_case(received_at=now - dt.timedelta(days=3))

    assert [c.id for c in services.case_page(pv, CaseFilter()).cases] == [sooner.id, later.id]
    assert [c.id for c in services.case_page(pv, CaseFilter.of(status="all")).cases] == [
        later.id,
        sooner.id,
    ]  # the other tabs: most recently received first


def test_the_list_is_paginated_not_capped(app):
    pv = pv_officer()
    reporter = make_hcp()
    opened = [open_case(reporter=reporter) for _ in range(7)]

    first = services.case_page(pv, CaseFilter(), per_page=3)
    last = services.case_page(pv, CaseFilter(), page=3, per_page=3)
    beyond = services.case_page(pv, CaseFilter(), page=99, per_page=3)

    assert (first.total, first.pages, len(first.cases)) == (7, 3, 3)
    assert first.has_next and not first.has_previous
    assert len(last.cases) == 1 and last.has_previous and not last.has_next
    assert beyond.page == 3 and [c.id for c in beyond.cases] == [c.id for c in last.cases]
    seen = {
        c.id
        for p in (1, 2, 3)
        for c in services.case_page(pv, CaseFilter(), page=p, per_page=3).cases
    }
    assert seen == {c.id for c in opened}


# --- completing the report -------------------------------------------------------------------
def test_seriousness_criteria_make_a_case_serious_and_the_update_is_audited(app):
    pv = pv_officer()
    case = open_case()

    services.update_pv_case(
        pv,
        case.id,
        PvCaseInput(
            seriousness=["hospitalisation", "death"],
            patient_initials="J.D.", patient_age="72 years", patient_sex="male",
            event="Rash, then hospitalised", reporter=case.reporter,
        ),
    )  # fmt: skip

    assert case.seriousness == [Seriousness.DEATH.value, Seriousness.HOSPITALISATION.value]
    assert case.serious is True
    assert (case.patient_initials, case.patient_age, case.patient_sex) == (
        "J.D.",
        "72 years",
        "male",
    )
    [record] = audit_of("pv_case.update")
    assert record.actor_id == pv.id and record.target_id == str(case.id)
    assert set(record.details["fields"]) == {
        "event", "patient_initials", "patient_age", "patient_sex", "seriousness", "serious",
    }  # fmt: skip


def test_no_criterion_ticked_means_not_serious_and_an_unchanged_save_names_no_field(app):
    pv = pv_officer()
    case = open_case()
    assert case.serious is None  # not assessed until PV saves

    services.update_pv_case(pv, case.id, PvCaseInput(reporter=case.reporter))
    services.update_pv_case(pv, case.id, PvCaseInput(reporter=case.reporter))

    assert case.serious is False and case.seriousness == []
    first, second = audit_of("pv_case.update")
    assert first.details["fields"] == ["serious"]
    assert second.details["fields"] == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (PvCaseInput(seriousness=["death", "bored"]), "seriousness"),
        (PvCaseInput(patient_sex="other"), "patient_sex"),
        (PvCaseInput(patient_initials="X" * 17), "patient_initials"),
        (PvCaseInput(patient_age="9" * 33), "patient_age"),
        (PvCaseInput(event="x" * 4_001), "event"),
    ],
)
def test_bad_fields_are_refused_and_nothing_changes(app, data, field):
    pv = pv_officer()
    case = open_case()

    with pytest.raises(InvalidInput) as refused:
        services.update_pv_case(pv, case.id, data)

    assert field in refused.value.errors
    assert case.serious is None and case.seriousness == [] and case.event == ""
    assert audit_of("pv_case.update") == []


def test_a_closed_case_cannot_be_changed(app):
    pv = pv_officer()
    case = open_case()
    services.acknowledge_pv_case(pv, case.id)
    services.update_pv_case(
        pv, case.id, PvCaseInput(patient="Adult", reporter="Dr", suspect_product="X", event="Rash")
    )
    services.close_pv_case(pv, case.id)

    with pytest.raises(PermissionDenied):
        services.update_pv_case(pv, case.id, PvCaseInput(event="Changed"))
    assert isinstance(case, PvCase) and case.event == "Rash"
