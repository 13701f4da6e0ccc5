"""The PV case export: cases received in a date range, with E2B(R3)-style fields, as CSV or JSON.

Rows come from one function (:func:`export_cases`) so both formats say the same thing. Dates are
days of receipt (day zero, UTC), both ends included. The export is a record of what left the
portal: it is audited with its range, format and count.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import enum
import io
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select

from portal import audit, policy
from portal.csv_cells import drain, safe_cell
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import User, utcnow
from portal.safety import workspace
from portal.safety.models import SERIOUSNESS_LABELS, PvCase, Seriousness
from portal.safety.services import CaseSource
from portal.unit_of_work import transactional

# A regulator's export must be complete or refused, never silently cut: above this, narrow the
# range (a year of a busy portal's cases fits).
EXPORT_MAX = 5_000


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    JSON = "json"


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(value: str | None, name: str) -> dt.date:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"Give “{name}” as a date, YYYY-MM-DD.", field=name)
    if not _DATE.fullmatch(text):
        raise InvalidInput(f"“{name}” must be a date written YYYY-MM-DD.", field=name)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"“{name}” is not a real date: {text}.", field=name) from None


def parse_range(since: str | None, until: str | None) -> tuple[dt.date, dt.date]:
    """The export's range from the query's ``since`` and ``until`` (``InvalidInput`` when either
    is missing or not a ``YYYY-MM-DD`` date, or when ``since`` comes after ``until``)."""
    start, end = _day(since, "since"), _day(until, "until")
    if start > end:
        raise InvalidInput("“since” must not be after “until”.", field="since")
    return start, end


def _at_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat() if moment is not None else None


def _source_reference(case: PvCase, link: workspace.SourceLink) -> str:
    ref = case.source_ref or ""
    if link.kind is CaseSource.FOLLOW_UP and case.entry_id is not None:
        return f"{ref} follow-up {case.entry_id}".strip()
    return ref


def case_row(case: PvCase, facts: workspace.CaseFacts) -> dict[str, Any]:
    """One case as exported (JSON-safe; nested where E2B groups fields)."""
    reporter = facts.reporter
    product = facts.product
    criteria = [c for c in case.seriousness or [] if c in set(Seriousness)]
    return {
        "case_id": case.reference,
        "receipt_date": case.created_at.date().isoformat(),  # E2B C.1.4, day zero
        "received_at": _iso(case.created_at),
        "reporter": {
            "name": reporter.name if reporter else case.reporter,
            "profession": (reporter.profession or reporter.role) if reporter else "",
            "specialty": reporter.specialty if reporter else "",
            "country": reporter.country if reporter else "",
            "email": reporter.email if reporter else "",
        },
        "patient": {
            "initials": case.patient_initials or None,
            "age": case.patient_age or None,
            "sex": case.patient_sex or None,
            "description": case.patient or None,
        },
        "suspect_product": {
            "name": product.name if product else "",
            "basis": product.basis.value if product else "",
            "pv_entry": case.suspect_product,
        },
        "event": {"text_as_said": case.source_text, "pv_description": case.event},
        "seriousness": {
            "criteria": criteria,
            "criteria_labels": [SERIOUSNESS_LABELS[Seriousness(c)] for c in criteria],
            "serious": case.serious,
        },
        "product_complaint": case.product_complaint,
        "status": case.status.value,
        "origin": case.origin.value,
        "source": {
            "type": facts.source.kind.value,
            "reference": _source_reference(case, facts.source),
        },
        "due_at": _iso(case.due_at),
        "acknowledged_at": _iso(case.acknowledged_at),
        "acknowledged_late": (
            case.acknowledged_at > case.due_at if case.acknowledged_at is not None else None
        ),
    }


@dataclasses.dataclass(frozen=True)
class CaseExport:
    since: dt.date
    until: dt.date
    format: ExportFormat
    exported_at: dt.datetime
    rows: list[dict[str, Any]]

    @property
    def filename(self) -> str:
        return f"pv-cases-{self.since.isoformat()}-to-{self.until.isoformat()}.{self.format}"

    def as_json(self) -> dict[str, Any]:
        return {
            "exported_at": _iso(self.exported_at),
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "count": len(self.rows),
            "cases": self.rows,
        }

    def csv_lines(self) -> Iterator[str]:
        """The CSV, a line at a time (for a streamed response)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        yield drain(buffer)
        for row in self.rows:
            writer.writerow([safe_cell(value) for value in _flat(row)])
            yield drain(buffer)


CSV_COLUMNS = (
    "case_id", "receipt_date", "received_at",
    "reporter_name", "reporter_profession", "reporter_specialty", "reporter_country",
    "reporter_email",
    "patient_initials", "patient_age", "patient_sex", "patient_description",
    "suspect_product", "suspect_product_basis", "suspect_product_pv_entry",
    "event_text_as_said", "event_pv_description",
    "seriousness_criteria", "serious", "product_complaint",
    "status", "origin", "source", "source_reference",
    "due_at", "acknowledged_at", "acknowledged_late",
)  # fmt: skip


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _flat(row: dict[str, Any]) -> list[Any]:
    reporter, patient = row["reporter"], row["patient"]
    product, event, seriousness = row["suspect_product"], row["event"], row["seriousness"]
    return [
        row["case_id"], row["receipt_date"], row["received_at"],
        reporter["name"], reporter["profession"], reporter["specialty"], reporter["country"],
        reporter["email"],
        patient["initials"], patient["age"], patient["sex"], patient["description"],
        product["name"], product["basis"], product["pv_entry"],
        event["text_as_said"], event["pv_description"],
        ";".join(seriousness["criteria"]), _yes_no(seriousness["serious"]),
        _yes_no(row["product_complaint"]),
        row["status"], row["origin"], row["source"]["type"], row["source"]["reference"],
        row["due_at"], row["acknowledged_at"], _yes_no(row["acknowledged_late"]),
    ]  # fmt: skip


@transactional
def export_cases(
    actor: User, *, since: str | None, until: str | None, fmt: ExportFormat
) -> CaseExport:
    """Every case whose day zero falls between ``since`` and ``until`` (``YYYY-MM-DD``, both
    included, UTC), oldest first. PV and compliance only (``NotFound`` for anyone else); a bad or
    reversed range is ``InvalidInput``; more than :data:`EXPORT_MAX` cases is ``InvalidInput``
    too (narrow the range), never a partial file.

    Audit: ``pv_case.export`` with the range, the format and how many cases left the portal."""
    policy.require_visible(policy.can_export_pv_cases(actor), "The PV case export")
    start, end = parse_range(since, until)
    window = (
        PvCase.created_at >= _at_midnight(start),
        PvCase.created_at < _at_midnight(end + dt.timedelta(days=1)),
    )
    count = int(db.session.scalar(select(func.count()).select_from(PvCase).where(*window)) or 0)
    if count > EXPORT_MAX:
        raise InvalidInput(
            f"{count:,} cases were received in that range; export at most {EXPORT_MAX:,} at a "
            "time (narrow the dates)."
        )
    cases = list(
        db.session.scalars(select(PvCase).where(*window).order_by(PvCase.created_at, PvCase.id))
    )
    facts = workspace.describe(cases)
    rows = [case_row(case, facts[case.id]) for case in cases]
    audit.record(
        actor, "pv_case.export", ("pv_cases", None), since=start.isoformat(),
        until=end.isoformat(), format=fmt.value, count=len(rows),
    )  # fmt: skip
    return CaseExport(since=start, until=end, format=fmt, exported_at=utcnow(), rows=rows)
