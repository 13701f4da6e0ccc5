"""Reading the audit trail (compliance and administrators): the filtered list, the chain check
and the CSV export of a filtered view.

Filters come from a query string (:func:`parse_filters`): the actor (part of their e-mail or
name), the action (exact, or a prefix ending in ``.``), the target (type, id), one record, and a
date range in the viewer's time zone. A bad filter is :class:`~portal.errors.InvalidInput` naming
every bad field, never a server error. How a record reads is :mod:`portal.services.audit_sentences`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
from collections.abc import Iterator, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, or_, select

from portal import audit, i18n, inputs, policy
from portal.csv_cells import drain, safe_cell
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import AuditRecord, User, utcnow
from portal.pagination import Page, paginate
from portal.services import audit_sentences
from portal.unit_of_work import transactional

PAGE_SIZE = 50
# Counted up to here: past it the page says "more than 10,000 records" (a year is 586,000).
COUNT_CAP = 10_000
# A CSV holds every matching record or is refused (narrow the filters): never silently cut.
EXPORT_CAP = 100_000
EXPORT_BATCH = 1_000
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)

_ACTION = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]*)*")
_TARGET_TYPE = re.compile(r"[a-z0-9_]{1,64}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
FIELDS = ("actor", "action", "target_type", "target_id", "since", "until", "record")


@dataclasses.dataclass(frozen=True)
class AuditFilters:
    """What the audit trail is narrowed to. Empty text and ``None`` mean "any"."""

    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    record: int | None = None
    zone: str = "UTC"  # the viewer's zone, in which ``since`` and ``until`` are days

    def args(self) -> dict[str, str]:
        """The filters as the query string carries them (only those set): page links, the CSV
        link, and the audit record of an export."""
        values = {
            "actor": self.actor,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "record": str(self.record) if self.record else "",
        }
        return {key: value for key, value in values.items() if value}

    def clauses(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.record is not None:
            where.append(AuditRecord.id == self.record)
        if self.action:
            if self.action.endswith("."):
                where.append(AuditRecord.action.startswith(self.action, autoescape=True))
            else:
                where.append(AuditRecord.action == self.action)
        if self.actor:
            needle = self.actor.lower()
            named = select(User.id).where(func.lower(User.name).contains(needle, autoescape=True))
            where.append(
                or_(
                    func.lower(AuditRecord.actor_label).contains(needle, autoescape=True),
                    AuditRecord.actor_id.in_(named),
                )
            )
        if self.target_type:
            where.append(AuditRecord.target_type == self.target_type)
        if self.target_id:
            where.append(AuditRecord.target_id == self.target_id)
        zone = ZoneInfo(self.zone)
        if self.since is not None:
            where.append(AuditRecord.at >= _start_of(self.since, zone))
        if self.until is not None:
            where.append(AuditRecord.at < _start_of(self.until + dt.timedelta(days=1), zone))
        return where


def _start_of(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The first moment of ``day`` in ``zone``, in UTC (where midnight is skipped by a clock
    change, the first hour that exists)."""
    for hour in range(3):
        try:
            return i18n.local_to_utc(dt.datetime.combine(day, dt.time(hour)), zone)
        except i18n.NonexistentLocalTime:
            continue
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)  # pragma: no cover


def _day(raw: str, field: str, errors: dict[str, str]) -> dt.date | None:
    if not raw:
        return None
    day: dt.date | None = None
    if _DAY.fullmatch(raw):
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            day = None
    if day is None:
        errors[field] = f"“{raw}” is not a date: write it as YYYY-MM-DD, e.g. 2026-03-31."
    elif not EARLIEST <= day <= LATEST:
        errors[field] = "Choose a day between 2000 and 2100."
        day = None
    return day


def parse_filters(args: Mapping[str, str], *, zone: ZoneInfo) -> AuditFilters:
    """The filters of a query string (keys :data:`FIELDS`; others are ignored). ``since`` and
    ``until`` are days in ``zone`` (the viewer's), both included.

    Raises :class:`InvalidInput` naming every bad field: an action or target type that is not a
    name, text too long or unstorable, a malformed or impossible date, ``since`` after
    ``until``, a record number that is not one."""
    raw = {key: (args.get(key) or "").strip() for key in FIELDS}
    errors: dict[str, str] = {}
    limits = {"actor": 254, "action": 64, "target_type": 64, "target_id": 64}
    for key, limit in limits.items():
        if len(raw[key]) > limit or not inputs.is_text(raw[key]):
            errors[key] = f"At most {limit} characters of plain text."
    if "action" not in errors and raw["action"] and not _ACTION.fullmatch(raw["action"]):
        errors["action"] = "Choose an action from the list."
    target_type = raw["target_type"]
    if "target_type" not in errors and target_type and not _TARGET_TYPE.fullmatch(target_type):
        errors["target_type"] = "A target type is a name such as “questions” or “users”."
    since = _day(raw["since"], "since", errors)
    until = _day(raw["until"], "until", errors)
    if since is not None and until is not None and since > until:
        errors["since"] = "The first day must not be after the last."
    record: int | None = None
    if raw["record"]:
        number = int(raw["record"]) if raw["record"].isascii() and raw["record"].isdigit() else 0
        if not inputs.is_id(number):
            errors["record"] = "A record number is a whole number from 1."
        else:
            record = number
    if errors:
        field = next(iter(errors))
        raise InvalidInput(errors[field], field=field, errors=errors)
    return AuditFilters(
        actor=raw["actor"],
        action=raw["action"],
        target_type=raw["target_type"],
        target_id=raw["target_id"],
        since=since,
        until=until,
        record=record,
        zone=zone.key,
    )


def list_records(
    actor: User, filters: AuditFilters | None = None, *, page: int = 1
) -> Page[AuditRecord]:
    """Newest audit records first, filtered. Compliance auditors and administrators only
    (:class:`~portal.errors.PermissionDenied` for anyone else). Counted up to
    :data:`COUNT_CAP` (the page says "more than" past it): a year of records stays fast."""
    policy.require(policy.can_view_audit_trail(actor))
    query = select(AuditRecord).where(*(filters or AuditFilters()).clauses())
    return paginate(
        query.order_by(AuditRecord.id.desc()), page=page, page_size=PAGE_SIZE, count_cap=COUNT_CAP
    )


def verify_chain(actor: User) -> audit.VerifyResult:
    """Check the whole chain (see :func:`portal.audit.verify`). Compliance and administrators
    (:class:`~portal.errors.PermissionDenied` for anyone else). Reads only: no audit record."""
    policy.require(policy.can_view_audit_trail(actor))
    return audit.verify()


# --- the CSV export -------------------------------------------------------------------------------
CSV_COLUMNS = (
    "id", "at", "actor", "action", "sentence", "target_type", "target_id", "details", "hash",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class AuditExport:
    """A CSV of the records matching ``filters`` up to record ``through`` (the newest when the
    export was asked for), oldest first; :meth:`lines` reads them in batches as it streams."""

    viewer_id: int
    filters: AuditFilters
    through: int
    rows: int
    exported_at: dt.datetime

    @property
    def filename(self) -> str:
        return f"audit-trail-{self.exported_at:%Y%m%d-%H%M%S}.csv"

    def lines(self) -> Iterator[str]:
        """The CSV a line or a batch at a time (for a streamed response; needs the request's
        context for the sentences' language). Memory stays bounded by the batch size."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        yield drain(buffer)
        # The response streams after the view has returned and the request's session has been
        # closed: the viewer is loaded again in the session this generator reads with.
        viewer = db.session.get_one(User, self.viewer_id)
        clauses = self.filters.clauses()
        last = 0
        while True:
            batch = db.session.scalars(
                select(AuditRecord)
                .where(*clauses, AuditRecord.id > last, AuditRecord.id <= self.through)
                .order_by(AuditRecord.id)
                .limit(EXPORT_BATCH)
            ).all()
            if not batch:
                return
            for row in audit_sentences.readable(viewer, batch):
                record = row.record
                writer.writerow(
                    [
                        record.id,
                        record.at.astimezone(dt.UTC).isoformat(),
                        safe_cell(row.actor.text),
                        record.action,
                        safe_cell(row.sentence.text()),
                        record.target_type,
                        safe_cell(record.target_id),
                        safe_cell(audit_sentences.details_json(record)),
                        record.hash,
                    ]
                )
            yield drain(buffer)
            last = batch[-1].id
            for record in batch:
                db.session.expunge(record)


@transactional
def export_records(actor: User, filters: AuditFilters) -> AuditExport:
    """The records matching ``filters`` as a CSV (columns :data:`CSV_COLUMNS`; ``at`` in UTC,
    ISO 8601; ``details`` as JSON with the personal part while it is held). Compliance and
    administrators (:class:`~portal.errors.PermissionDenied` otherwise); more than
    :data:`EXPORT_CAP` matching records is :class:`InvalidInput` (narrow the filters), never a
    partial file.

    Audit: ``audit.exported`` with the filters, the number of rows and the last record covered
    (the export itself is not in its own file)."""
    policy.require(policy.can_view_audit_trail(actor))
    through = int(db.session.scalar(select(func.max(AuditRecord.id))) or 0)
    matching = select(AuditRecord.id).where(*filters.clauses(), AuditRecord.id <= through)
    rows = int(
        db.session.scalar(
            select(func.count()).select_from(matching.limit(EXPORT_CAP + 1).subquery())
        )
        or 0
    )
    if rows > EXPORT_CAP:
        raise InvalidInput(
            f"More than {EXPORT_CAP:,} records match; export at most {EXPORT_CAP:,} at a time "
            "(narrow the dates or the other filters)."
        )
    # The actor search is free text, often a person's address: it goes in the record's
    # erasable personal part (audit.PERSONAL_KEYS), the other filters in its details.
    searched = filters.args()
    person = {"actor_search": searched.pop("actor")} if "actor" in searched else {}
    audit.record(
        actor, "audit.exported", ("audit_records", None), rows=rows, through=through,
        zone=filters.zone, filters=searched, **person,
    )  # fmt: skip
    return AuditExport(
        viewer_id=actor.id, filters=filters, through=through, rows=rows, exported_at=utcnow()
    )
