"""The PV case export: E2B-style fields for a seeded case in CSV and JSON, the date range by day
zero, refusals, and the audit record of what left the portal."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from portal.errors import InvalidInput, NotFound
from portal.models import Profession, Role
from portal.safety import export, services
from portal.safety.export import ExportFormat
from portal.safety.models import PvCase
from tests.factories import make_hcp, make_product, make_user
from tests.portal.safety.factories import audit_of, open_case, pv_officer

DAY_ZERO = dt.datetime(2026, 3, 2, 9, 14, tzinfo=dt.UTC)
TEXT = "=HYPERLINK(1) My patient was hospitalised after Cardiovex."


@pytest.fixture
def seeded(app) -> PvCase:
    """A complete, acknowledged case from a German pharmacist's question."""
    pv = pv_officer()
    hcp = make_hcp(
        name="Dr. Lena Vogel", email="lena.vogel@praxis.test", country="DE",
        profession=Profession.PHARMACIST, specialty="Hospital pharmacy",
    )  # fmt: skip
    product = make_product(name="Cardiovex", code="CVX")
    case = open_case(
        reporter=hcp, text=TEXT, received_at=DAY_ZERO, product_id=product.id,
        source_ref="Q-000042", due_at=DAY_ZERO + dt.timedelta(days=1),
    )  # fmt: skip
    services.update_pv_case(
        pv,
        case.id,
        services.PvCaseInput(
            reporter=case.reporter, event="Hospitalised with angioedema",
            seriousness=["hospitalisation", "life_threatening"],
            patient_initials="K.M.", patient_age="67 years", patient_sex="female",
        ),
    )  # fmt: skip
    services.acknowledge_pv_case(pv, case.id)
    return case


def run(actor=None, since="2026-03-01", until="2026-03-31", fmt=ExportFormat.JSON):
    return export.export_cases(actor or pv_officer(), since=since, until=until, fmt=fmt)


def test_the_json_export_carries_the_e2b_fields_of_the_case(seeded):
    result = run()

    document = result.as_json()
    assert (document["since"], document["until"], document["count"]) == (
        "2026-03-01",
        "2026-03-31",
        1,
    )
    [row] = document["cases"]
    assert row["case_id"] == seeded.reference == f"PV-{seeded.id:06d}"
    assert row["receipt_date"] == "2026-03-02"
    assert row["received_at"] == "2026-03-02T09:14:00+00:00"
    assert row["reporter"] == {
        "name": "Dr. Lena Vogel", "profession": "Pharmacist", "specialty": "Hospital pharmacy",
        "country": "DE", "email": "lena.vogel@praxis.test",
    }  # fmt: skip
    assert row["patient"] == {"initials": "K.M.", "age": "67 years", "sex": "female",
                              "description": None}  # fmt: skip
    assert row["suspect_product"] == {"name": "Cardiovex", "basis": "case", "pv_entry": ""}
    assert row["event"] == {"text_as_said": TEXT, "pv_description": "Hospitalised with angioedema"}
    assert row["seriousness"]["criteria"] == ["life_threatening", "hospitalisation"]
    assert row["seriousness"]["serious"] is True
    assert row["status"] == "acknowledged" and row["origin"] == "detected"
    assert row["source"] == {"type": "question", "reference": "Q-000042"}
    assert row["due_at"] == "2026-03-03T09:14:00+00:00"
    assert row["acknowledged_at"] == seeded.acknowledged_at.isoformat()
    assert row["acknowledged_late"] is True  # acknowledged now, long after its clock
    assert result.filename == "pv-cases-2026-03-01-to-2026-03-31.json"


def test_the_csv_export_says_the_same_in_flat_columns(seeded):
    result = run(fmt=ExportFormat.CSV)

    text = "".join(result.csv_lines())
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert list(row) == list(export.CSV_COLUMNS)
    assert row["case_id"] == seeded.reference
    assert row["receipt_date"] == "2026-03-02"
    assert (row["reporter_name"], row["reporter_profession"], row["reporter_country"]) == (
        "Dr. Lena Vogel",
        "Pharmacist",
        "DE",
    )
    assert row["reporter_email"] == "lena.vogel@praxis.test"
    assert (row["patient_initials"], row["patient_age"], row["patient_sex"]) == (
        "K.M.",
        "67 years",
        "female",
    )
    assert row["suspect_product"] == "Cardiovex"
    assert row["seriousness_criteria"] == "life_threatening;hospitalisation"
    assert (row["serious"], row["status"], row["source"]) == ("yes", "acknowledged", "question")
    # What the HCP wrote never runs as a spreadsheet formula; the JSON keeps it exactly.
    assert row["event_text_as_said"] == "'" + TEXT
    assert result.filename.endswith(".csv")


def test_a_case_without_patient_details_exports_them_empty(app):
    open_case(received_at=DAY_ZERO)

    [row] = run().rows
    assert row["patient"] == {"initials": None, "age": None, "sex": None, "description": None}
    assert row["seriousness"] == {"criteria": [], "criteria_labels": [], "serious": None}
    assert row["acknowledged_at"] is None and row["acknowledged_late"] is None


def test_the_range_is_by_day_zero_both_ends_included(app):
    reporter = make_hcp()
    before = open_case(
        reporter=reporter, received_at=dt.datetime(2026, 2, 28, 23, 59, tzinfo=dt.UTC)
    )
    first = open_case(reporter=reporter, received_at=dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC))
    last = open_case(reporter=reporter, received_at=dt.datetime(2026, 3, 15, 23, 59, tzinfo=dt.UTC))
    after = open_case(reporter=reporter, received_at=dt.datetime(2026, 3, 16, 0, 0, tzinfo=dt.UTC))

    rows = run(since="2026-03-01", until="2026-03-15").rows

    assert [r["case_id"] for r in rows] == [first.reference, last.reference]
    assert before.reference not in str(rows) and after.reference not in str(rows)
    assert [r["case_id"] for r in run(since="2026-03-16", until="2026-03-16").rows] == [
        after.reference
    ]


def test_the_export_is_audited_with_its_range_format_and_count(seeded):
    compliance = make_user(Role.COMPLIANCE)
    run(compliance, fmt=ExportFormat.CSV)

    [record] = audit_of("pv_case.export")
    assert record.actor_id == compliance.id
    assert record.details == {
        "since": "2026-03-01", "until": "2026-03-31", "format": "csv", "count": 1,
    }  # fmt: skip


@pytest.mark.parametrize(
    "role", [Role.MEDICAL_INFORMATION, Role.REP, Role.MSL, Role.QUALITY, Role.ADMIN, Role.HCP]
)
def test_only_pv_and_compliance_export(seeded, role):
    outsider = make_hcp() if role is Role.HCP else make_user(role)

    with pytest.raises(NotFound):
        run(outsider)
    assert audit_of("pv_case.export") == []


@pytest.mark.parametrize(
    ("since", "until", "says"),
    [
        (None, "2026-03-31", "since"),
        ("2026-03-01", "", "until"),
        ("03/01/2026", "2026-03-31", "YYYY-MM-DD"),
        ("20260301", "2026-03-31", "YYYY-MM-DD"),
        ("2026-02-30", "2026-03-31", "not a real date"),
        ("2026-04-01", "2026-03-01", "must not be after"),
    ],
)
def test_a_bad_range_is_refused_with_a_clear_message(app, since, until, says):
    with pytest.raises(InvalidInput) as refused:
        run(since=since, until=until)
    assert says in refused.value.message
    assert audit_of("pv_case.export") == []


def test_too_many_cases_are_refused_never_cut(app, monkeypatch):
    reporter = make_hcp()
    open_case(reporter=reporter, received_at=DAY_ZERO)
    open_case(reporter=reporter, received_at=DAY_ZERO)
    monkeypatch.setattr(export, "EXPORT_MAX", 1)

    with pytest.raises(InvalidInput) as refused:
        run()
    assert "narrow the dates" in refused.value.message
    assert audit_of("pv_case.export") == []
