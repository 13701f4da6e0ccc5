"""The supervisory export: every record compliance must be able to hand a regulator, for a date
range (and optionally one HCP, staff member, team or product), as one ZIP that proves itself.

The ZIP holds, written one after the other with bounded memory (rows are read in keyset batches
of :data:`BATCH_SIZE`, serialised by :mod:`portal.records.serialize`, streamed into the archive
and forgotten; ZIP64, so size is no limit):

- ``pv_cases.jsonl``: PV cases opened in the range and what they link to;
- ``consents.jsonl``: chat consent periods open at any time in the range;
- ``messages.jsonl``: chat messages sent in the range, or sent before it and edited or deleted
  in it, in time order (each with its conversation and ``seq``), with the originals of their
  edits and deletions;
- ``questions.jsonl``: questions received in the range, or before it with a reply, note, event
  or attestation in it, with their replies, follow-ups, internal notes, routing decision,
  history and safety attestations;
- ``attestations.jsonl``: every safety attestation made in the range (questions, chats up to a
  ``seq``, call notes) with what it is about and the PV case it opened;
- ``call_notes.jsonl``: call notes of the range (HCP, author, side, kind, products, text) with
  the question filed from them, their PV cases and attestations;
- ``summary.csv``: one row per conversation, question and call note with counts (every text
  cell escaped against spreadsheet formulas: :func:`portal.csv_cells.safe_cell`);
- ``manifest.json``: the filters, when and by whom it was made, each file's name, rows, bytes
  and SHA-256, and the audit chain's head (``audit.chain_head()``) when the export began. The
  ZIP's own SHA-256 is kept on the run and in the ``export.completed`` audit record, so the
  archive can later be proven complete and unaltered.

Which records each filter selects is :mod:`portal.records.filters`; all of them apply together.
The run commits its progress between batches, so what it reads is not one snapshot: records
written while it runs may or may not be in it (the manifest's chain head says where it began).
``flask export supervisory`` runs :func:`export_to_file` in-process; the page queues
:func:`request_export`, which the worker runs (:func:`run_job`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import os
import secrets
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, cast

from sqlalchemy import (
    Engine,
    Table,
    and_,
    delete,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import selectinload

from chat.models import ConsentPeriod, Conversation, Message, MessageRevision
from portal import audit, jobs, policy
from portal.accounts.models import CallNote
from portal.csv_cells import safe_cell
from portal.errors import NotFound
from portal.extensions import db
from portal.models import User, utcnow
from portal.pagination import Page, paginate
from portal.questions.models import Question, QuestionEntry, QuestionEvent, reference_of
from portal.records import serialize
from portal.records.filters import (
    ExportFilters,
    attestation_clauses,
    call_note_clauses,
    call_note_matches,
    changed_message_clauses,
    consent_clauses,
    estimate_rows,
    message_clauses,
    pv_clauses,
    question_clauses,
)
from portal.records.models import CHUNK_SIZE, ExportChunk, ExportRun, ExportStatus
from portal.safety.models import PvCase, SafetyAttestation
from portal.unit_of_work import transactional

log = logging.getLogger(__name__)

JOB_KIND = "records.export"
BATCH_SIZE = 1000  # rows read per query
PROGRESS_EVERY = 5000  # rows between two progress updates of a run
PAGE_SIZE = 20
# A running export whose worker has not committed progress for this long is taken to be
# abandoned (its worker died) and another worker may claim it. Progress commits come every
# PROGRESS_EVERY rows: seconds apart, well within it.
STALE_AFTER = dt.timedelta(minutes=10)
FILES = (
    "pv_cases.jsonl",
    "consents.jsonl",
    "messages.jsonl",
    "questions.jsonl",
    "attestations.jsonl",
    "call_notes.jsonl",
    "summary.csv",
)
SUMMARY_COLUMNS = (
    "record",
    "id",
    "reference",
    "hcp_id",
    "hcp_name",
    "staff_id",
    "staff_name",
    "team",
    "product_id",
    "first_at",
    "last_at",
    "messages",
    "edited",
    "deleted",
    "consent_periods",
    "withdrawals",
    "follow_ups",
    "replies",
    "notes",
    "events",
    "attestations",
    "pv_cases",
)


# --- the engine ----------------------------------------------------------------------------------
@dataclasses.dataclass
class ExportResult:
    """What an export wrote: the ZIP's SHA-256 and size, records per file, the chain head."""

    sha256: str
    bytes: int
    rows: dict[str, int]
    chain_head: dict[str, Any]
    manifest: dict[str, Any]


class _Member:
    """A file of the ZIP being written: counts its bytes and rows and hashes what it holds."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.name = name
        self.rows = 0
        self.bytes = 0
        self.digest = hashlib.sha256()
        self._stream = archive.open(name, "w", force_zip64=True)

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.bytes += len(data)
        self._stream.write(data)

    def line(self, record: dict[str, Any]) -> None:
        self.lines([record])

    def lines(self, records: Sequence[dict[str, Any]]) -> None:
        """JSON Lines, keys sorted (the same record always gives the same bytes)."""
        if records:
            self.write("".join(_ENCODER.encode(r) + "\n" for r in records).encode())
            self.rows += len(records)

    def close(self) -> dict[str, Any]:
        self._stream.close()
        return {
            "name": self.name,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.digest.hexdigest(),
        }


class _People:
    """``{"id", "role", "name"}`` of the people the records name, read a batch at a time and
    kept (bounded by the number of people, not of records)."""

    def __init__(self) -> None:
        self.refs: dict[int, serialize.PersonRef] = {}

    def load(self, ids: set[int | None]) -> dict[int, serialize.PersonRef]:
        missing = {i for i in ids if i is not None and i not in self.refs}
        if missing:
            rows = db.session.execute(
                select(User.id, User.role, User.name).where(User.id.in_(missing))
            )
            for user_id, role, name in rows:
                self.refs[user_id] = {"id": user_id, "role": str(role), "name": name}
        return self.refs

    def ref(self, user_id: int | None) -> serialize.PersonRef | None:
        if user_id is None:
            return None
        return self.refs.get(user_id) or {"id": user_id}


@dataclasses.dataclass
class _Counts:
    """One summary row's counters."""

    hcp_id: int | None = None
    staff_id: int | None = None
    first_at: str | None = None
    last_at: str | None = None
    messages: int = 0
    edited: int = 0
    deleted: int = 0
    consent_periods: int = 0
    withdrawals: int = 0
    pv_cases: int = 0
    attestations: int = 0

    def seen(self, at: str | None) -> None:
        if at is None:
            return
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if self.last_at is None or at > self.last_at:
            self.last_at = at


Progress = Callable[[int], None]
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def _batches(
    statement: Any, keys: Sequence[Any], *, options: Sequence[Any] = (), rows: bool = False
) -> Iterator[list[Any]]:
    """The rows of ``statement`` in batches of :data:`BATCH_SIZE`, ordered by ``keys`` and read
    after the last row of the batch before (keyset pagination: no offset, no open cursor, so a
    caller may commit between batches)."""
    last: tuple[Any, ...] | None = None
    while True:
        query = statement.order_by(*keys).limit(BATCH_SIZE)
        if options:
            query = query.options(*options)
        if last is not None:
            # The leading key's own bound as well: the index range starts there (SQLite would
            # otherwise walk from the range's start again for every batch).
            query = query.where(keys[0] >= last[0])
            if len(keys) > 1:
                query = query.where(tuple_(*keys) > tuple_(*last))
            else:
                query = query.where(keys[0] > last[0])
        # ``rows``: plain rows of the table (no ORM objects: several times faster for the
        # hundreds of thousands of messages); else model instances.
        batch = list(db.session.execute(query) if rows else db.session.scalars(query))
        if not batch:
            return
        yield batch
        tail = batch[-1]
        last = tuple(getattr(tail, key.key) for key in keys)
        if len(batch) < BATCH_SIZE:
            return


def write_export(
    f: ExportFilters,
    out: IO[bytes],
    *,
    generated_by: dict[str, Any],
    progress: Progress | None = None,
) -> ExportResult:
    """Write the ZIP for ``f`` to ``out`` (a seekable binary file) and describe it.

    Reads only; never commits (``progress(rows_done)`` may, between batches). Memory stays
    bounded whatever the number of records: see the module's docstring.
    """
    head_seq, head_hash = audit.chain_head()
    chain_head = {"seq": head_seq, "hash": head_hash}
    with (
        tempfile.TemporaryFile() as later_rows,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive,
    ):
        writer = _Writer(f, archive, later_rows, progress)
        try:
            # PV cases first: their links feed the summary's counts of the other kinds.
            files = [
                writer.pv_cases(),
                writer.consents(),
                writer.messages(),
                writer.questions(),
                writer.attestations(),
                writer.call_notes(),
                writer.summary(),
            ]
        except BaseException:
            writer.abandon()
            raise
        manifest = {
            "format": "hcp-portal supervisory export",
            "version": 1,
            "filters": f.to_json(),
            "range_utc": {"from": serialize.iso(f.bounds()[0]), "to": serialize.iso(f.bounds()[1])},
            "generated_at": serialize.iso(utcnow()),
            "generated_by": generated_by,
            "audit_chain_head": chain_head,
            "files": files,
        }
        with archive.open("manifest.json", "w") as stream:
            stream.write(json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
    writer.report(final=True)

    out.flush()
    out.seek(0)
    digest = hashlib.sha256()
    size = 0
    while block := out.read(CHUNK_SIZE):
        digest.update(block)
        size += len(block)
    rows = {entry["name"].split(".")[0]: entry["rows"] for entry in files}
    return ExportResult(
        sha256=digest.hexdigest(), bytes=size, rows=rows, chain_head=chain_head, manifest=manifest
    )


class _Writer:
    """One export's files, written one after the other into ``archive``. Holds what the summary
    needs (counters per conversation, PV cases per question, the people named), never the
    records themselves; the questions' summary rows wait in a temporary file."""

    def __init__(
        self,
        f: ExportFilters,
        archive: zipfile.ZipFile,
        later_rows: IO[bytes],
        progress: Progress | None,
    ) -> None:
        self.f = f
        self.archive = archive
        self.people = _People()
        self.conversations: dict[int, _Counts] = {}
        self.question_pv: dict[int, int] = {}
        self.later_rows = later_rows
        self.later_summary = csv.writer(
            io.TextIOWrapper(later_rows, "utf-8", newline="", write_through=True)
        )
        self.later_count = 0
        self.members: list[_Member] = []
        self.progress = progress
        self.done = 0
        self.reported = 0

    def member(self, name: str) -> _Member:
        """A new file of the archive (kept to be closed if the export stops half-way)."""
        self.members.append(_Member(self.archive, name))
        return self.members[-1]

    def abandon(self) -> None:
        """Close what is still open after an error, so the archive can close and the error
        that stopped the export is the one raised."""
        for member in self.members:
            with contextlib.suppress(Exception):
                member.close()

    def tick(self, rows: int) -> None:
        self.done += rows
        if self.done - self.reported >= PROGRESS_EVERY:
            self.report()

    def report(self, *, final: bool = False) -> None:
        if self.progress is not None and (not final or self.done != self.reported):
            self.reported = self.done
            self.progress(self.done)

    def conversation(self, conversation_id: int) -> _Counts:
        return self.conversations.setdefault(conversation_id, _Counts())

    def pv_cases(self) -> dict[str, Any]:
        member = self.member("pv_cases.jsonl")
        cases = select(PvCase).where(*pv_clauses(self.f))
        for batch in _batches(cases, [PvCase.id], options=[selectinload(PvCase.follow_ups)]):
            ids: set[int | None] = set()
            for case in batch:
                ids |= {case.reporter_id, case.reported_by_id, case.acknowledged_by_id}
                ids |= {u for fu in case.follow_ups for u in (fu.author_id, fu.hcp_id)}
            refs = self.people.load(ids)
            member.lines([serialize.serialize_pv_case(case, people=refs) for case in batch])
            for case in batch:
                if case.conversation_id is not None:
                    self.conversation(case.conversation_id).pv_cases += 1
                if case.question_id is not None:
                    self.question_pv[case.question_id] = (
                        self.question_pv.get(case.question_id, 0) + 1
                    )
            self.tick(len(batch))
        return member.close()

    def consents(self) -> dict[str, Any]:
        member = self.member("consents.jsonl")
        periods = select(ConsentPeriod).where(*consent_clauses(self.f))
        for batch in _batches(periods, [ConsentPeriod.id]):
            refs = self.people.load({p.hcp_id for p in batch} | {p.staff_id for p in batch})
            records = []
            for period in batch:
                records.append(
                    serialize.serialize_consent_period(
                        period, hcp=refs.get(period.hcp_id), staff=refs.get(period.staff_id)
                    )
                )
                counts = self.conversation(period.conversation_id)
                counts.hcp_id, counts.staff_id = period.hcp_id, period.staff_id
                counts.consent_periods += 1
                counts.withdrawals += period.withdrawn_at is not None
                counts.seen(serialize.iso(period.granted_at))
            member.lines(records)
            self.tick(len(batch))
        return member.close()

    def messages(self) -> dict[str, Any]:
        member = self.member("messages.jsonl")
        # Those sent before the range but edited or deleted in it first, then those sent in
        # it: both in time order, so the whole file is.
        for clauses in (changed_message_clauses(self.f), message_clauses(self.f)):
            self._messages(member, select(*Message.__table__.c).where(*clauses))
        return member.close()

    def _messages(self, member: _Member, messages: Any) -> None:
        revision_columns = MessageRevision.__table__.c
        # In time order: the date range's index gives that order, so each batch is a short
        # walk along it (conversation and seq are in every record).
        order = [Message.sent_at, Message.conversation_id, Message.id]
        for batch in _batches(messages, order, rows=True):
            revisions: dict[int, list[Any]] = {}
            for revision in db.session.execute(
                select(*revision_columns)
                .where(MessageRevision.message_id.in_([m.id for m in batch]))
                .order_by(MessageRevision.id)
            ):
                revisions.setdefault(revision.message_id, []).append(revision)
            refs = self.people.load({m.sender_id for m in batch})
            records = []
            for message in batch:
                record = serialize.serialize_message(
                    message,
                    revisions=revisions.get(message.id, ()),
                    sender=refs.get(message.sender_id) or {"id": message.sender_id},
                )
                records.append(record)
                counts = self.conversation(message.conversation_id)
                counts.messages += 1
                counts.edited += message.edited_at is not None
                counts.deleted += message.deleted_at is not None
                counts.seen(record["sent_at"])
            member.lines(records)
            self.tick(len(batch))

    def questions(self) -> dict[str, Any]:
        member = self.member("questions.jsonl")
        questions = select(Question).where(*question_clauses(self.f))
        for batch in _batches(questions, [Question.id]):
            ids = [q.id for q in batch]
            entries = _by_question(
                select(QuestionEntry)
                .where(QuestionEntry.question_id.in_(ids))
                .options(selectinload(QuestionEntry.attachments))
            )
            events = _by_question(select(QuestionEvent).where(QuestionEvent.question_id.in_(ids)))
            attestations = _by_question(
                select(SafetyAttestation).where(SafetyAttestation.question_id.in_(ids))
            )
            people = {q.hcp_id for q in batch} | {q.assignee_id for q in batch}
            people |= {e.author_id for rows in entries.values() for e in rows}
            people |= {e.actor_id for rows in events.values() for e in rows}
            people |= {a.actor_id for rows in attestations.values() for a in rows}
            refs = self.people.load(people)
            records = []
            for question in batch:
                thread = entries.get(question.id, [])
                history = events.get(question.id, [])
                said = attestations.get(question.id, [])
                records.append(
                    serialize.serialize_question(
                        question, entries=thread, events=history, attestations=said, people=refs
                    )
                )
                self._question_row(question, thread, history, said)
            member.lines(records)
            self.tick(len(batch))
        return member.close()

    def _question_row(
        self, question: Question, thread: list[Any], history: list[Any], said: list[Any]
    ) -> None:
        kinds = [str(e.kind) for e in thread]
        moments = [serialize.iso(question.created_at)]
        moments += [serialize.iso(e.created_at) for e in thread]
        moments += [serialize.iso(e.at) for e in history]
        known = [m for m in moments if m is not None]
        hcp = self.people.ref(question.hcp_id) or {}
        assignee = self.people.ref(question.assignee_id) or {}
        row = {
            "record": "question",
            "id": question.id,
            "reference": reference_of(question.id),
            "hcp_id": question.hcp_id,
            "hcp_name": hcp.get("name", ""),
            "staff_id": question.assignee_id or "",
            "staff_name": assignee.get("name", ""),
            "team": str(question.owner_team),
            "product_id": question.product_id or "",
            "first_at": min(known) if known else "",
            "last_at": max(known) if known else "",
            "follow_ups": kinds.count("follow_up"),
            "replies": kinds.count("reply"),
            "notes": kinds.count("note"),
            "events": len(history),
            "attestations": len(said),
            "pv_cases": self.question_pv.get(question.id, 0),
        }
        self.later_summary.writerow([safe_cell(row.get(column)) for column in SUMMARY_COLUMNS])
        self.later_count += 1

    def attestations(self) -> dict[str, Any]:
        """Every safety attestation made in the range whose subject is in scope (questions,
        conversations, call notes), with what it is about and the PV case it opened."""
        member = self.member("attestations.jsonl")
        statement = select(SafetyAttestation).where(*attestation_clauses(self.f))
        for batch in _batches(statement, [SafetyAttestation.id]):
            kept = self._call_note_product(batch)
            refs = self.people.load({a.actor_id for a in kept})
            member.lines(
                [serialize.serialize_attestation(a, actor=refs.get(a.actor_id)) for a in kept]
            )
            for attestation in kept:
                if attestation.conversation_id is not None:
                    counts = self.conversation(attestation.conversation_id)
                    counts.attestations += 1
                    counts.seen(serialize.iso(attestation.at))
            self.tick(len(kept))
        return member.close()

    def _call_note_product(self, batch: list[SafetyAttestation]) -> list[SafetyAttestation]:
        """``batch`` without the call notes' attestations about other products."""
        if self.f.product_id is None:
            return batch
        notes = {a.call_note_id for a in batch if a.call_note_id is not None}
        products: dict[int, Any] = {}
        if notes:
            for note_id, product_ids in db.session.execute(
                select(CallNote.id, CallNote.product_ids).where(CallNote.id.in_(notes))
            ):
                products[note_id] = product_ids
        return [
            a
            for a in batch
            if a.call_note_id is None or call_note_matches(self.f, products.get(a.call_note_id))
        ]

    def call_notes(self) -> dict[str, Any]:
        """Call notes of the range in scope, with the PV cases opened from them and the
        attestations made on them; a summary row each."""
        member = self.member("call_notes.jsonl")
        statement = select(CallNote).where(*call_note_clauses(self.f))
        for batch in _batches(statement, [CallNote.id]):
            notes = [n for n in batch if call_note_matches(self.f, n.product_ids)]
            if not notes:
                continue
            ids = [n.id for n in notes]
            cases: dict[int, list[PvCase]] = {}
            for case in db.session.scalars(select(PvCase).where(PvCase.call_note_id.in_(ids))):
                cases.setdefault(case.call_note_id or 0, []).append(case)
            said: dict[int, list[SafetyAttestation]] = {}
            for attestation in db.session.scalars(
                select(SafetyAttestation).where(SafetyAttestation.call_note_id.in_(ids))
            ):
                said.setdefault(attestation.call_note_id or 0, []).append(attestation)
            refs = self.people.load({n.hcp_id for n in notes} | {n.author_id for n in notes})
            records = []
            for note in notes:
                records.append(
                    serialize.serialize_call_note(
                        note,
                        people=refs,
                        pv_cases=cases.get(note.id, []),
                        attestations=said.get(note.id, []),
                    )
                )
                self._call_note_row(note, records[-1])
            member.lines(records)
            self.tick(len(notes))
        return member.close()

    def _call_note_row(self, note: CallNote, record: dict[str, Any]) -> None:
        moments = [m for m in (record["occurred_at"], record["created_at"]) if m is not None]
        row = {
            "record": "call_note",
            "id": note.id,
            "reference": f"CN-{note.id:06d}",
            "hcp_id": note.hcp_id,
            "hcp_name": (self.people.ref(note.hcp_id) or {}).get("name", ""),
            "staff_id": note.author_id,
            "staff_name": (self.people.ref(note.author_id) or {}).get("name", ""),
            "product_id": " ".join(str(p) for p in note.product_ids or []),
            "first_at": min(moments, default=""),
            "last_at": max(moments, default=""),
            "attestations": len(record["links"]["attestation_ids"]),
            "pv_cases": len(record["links"]["pv_cases"]),
        }
        self.later_summary.writerow([safe_cell(row.get(column)) for column in SUMMARY_COLUMNS])
        self.later_count += 1

    def summary(self) -> dict[str, Any]:
        """A row per conversation (from the counters), then a row per question (kept aside)."""
        member = self.member("summary.csv")
        member.write(_csv_line(SUMMARY_COLUMNS))
        _conversation_rows(member, self.conversations, self.people)
        self.later_rows.seek(0)
        while block := self.later_rows.read(CHUNK_SIZE):
            member.write(block)
        member.rows += self.later_count
        return member.close()


def _by_question(statement: Any) -> dict[int, list[Any]]:
    """The rows of ``statement`` (entries, events, attestations of a batch of questions), by
    question id, in id order."""
    found: dict[int, list[Any]] = {}
    for row in db.session.scalars(statement):
        found.setdefault(row.question_id, []).append(row)
    for rows in found.values():
        rows.sort(key=lambda row: row.id)
    return found


def _csv_line(values: Sequence[Any]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerow([safe_cell(value) for value in values])
    return text.getvalue().encode()


def _conversation_rows(member: _Member, counts: dict[int, _Counts], people: _People) -> None:
    """The summary's conversation rows, in id order (the pair is read for the conversations
    only messages or PV cases named)."""
    unknown = [cid for cid, c in counts.items() if c.hcp_id is None]
    for start in range(0, len(unknown), BATCH_SIZE):
        chunk = unknown[start : start + BATCH_SIZE]
        for cid, hcp_id, staff_id in db.session.execute(
            select(Conversation.id, Conversation.hcp_id, Conversation.staff_id).where(
                Conversation.id.in_(chunk)
            )
        ):
            counts[cid].hcp_id, counts[cid].staff_id = hcp_id, staff_id
    people.load({c.hcp_id for c in counts.values()} | {c.staff_id for c in counts.values()})
    for cid in sorted(counts):
        c = counts[cid]
        row = {
            "record": "conversation",
            "id": cid,
            "reference": f"C-{cid:06d}",
            "hcp_id": c.hcp_id or "",
            "hcp_name": (people.ref(c.hcp_id) or {}).get("name", ""),
            "staff_id": c.staff_id or "",
            "staff_name": (people.ref(c.staff_id) or {}).get("name", ""),
            "first_at": c.first_at or "",
            "last_at": c.last_at or "",
            "messages": c.messages,
            "edited": c.edited,
            "deleted": c.deleted,
            "consent_periods": c.consent_periods,
            "withdrawals": c.withdrawals,
            "attestations": c.attestations,
            "pv_cases": c.pv_cases,
        }
        member.write(_csv_line([row.get(column, "") for column in SUMMARY_COLUMNS]))
        member.rows += 1


def _generated_by(actor: User | None, via: str) -> dict[str, Any]:
    if actor is None:
        return {"via": via}
    return {"via": via, "id": actor.id, "name": actor.name, "role": str(actor.role)}


def file_name(f: ExportFilters, run_id: int | None = None) -> str:
    prefix = f"supervisory-export-EXP-{run_id:06d}" if run_id else "supervisory-export"
    return f"{prefix}-{f.since.isoformat()}_{f.until.isoformat()}.zip"


# --- services ------------------------------------------------------------------------------------
def export_to_file(f: ExportFilters, path: str, *, actor: User | None = None) -> ExportResult:
    """Run the export in this process into ``path`` (``flask export supervisory``) and record
    ``export.completed`` (via "cli", the SHA-256, bytes and rows); one unit of work. The file
    is written next to ``path`` and moved into place once complete."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, partial = tempfile.mkstemp(prefix=".export-", suffix=".zip", dir=folder)
    try:
        with os.fdopen(handle, "w+b") as out:
            result = write_export(f, out, generated_by=_generated_by(actor, "cli"))
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    _record_cli_export(actor, f, result, os.path.basename(path))
    return result


@transactional
def _record_cli_export(
    actor: User | None, f: ExportFilters, result: ExportResult, name: str
) -> None:
    audit.record(
        actor,
        "export.completed",
        None,
        via="cli",
        filters=f.to_json(),
        file=name,
        sha256=result.sha256,
        bytes=result.bytes,
        rows=result.rows,
        chain_head=result.chain_head,
    )


@transactional
def request_export(actor: User, f: ExportFilters) -> ExportRun:
    """Queue a supervisory export for the worker (compliance only: PermissionDenied otherwise);
    records ``export.requested`` with the filters and queues a ``records.export`` job."""
    policy.require(policy.can_run_supervisory_export(actor))
    run = ExportRun(requested_by_id=actor.id, filters=f.to_json(), status=ExportStatus.QUEUED)
    db.session.add(run)
    db.session.flush()
    audit.record(actor, "export.requested", run, filters=f.to_json())
    jobs.enqueue(JOB_KIND, {"run_id": run.id})
    return run


def run_job(payload: dict[str, Any]) -> None:
    """The worker's ``records.export`` handler."""
    run_export(int(payload["run_id"]))


def run_export(run_id: int) -> None:
    """Run a queued export (the worker), exactly once however many workers try.

    The run is claimed with one compare-and-set (:func:`claim_run`): only the worker whose
    ``UPDATE`` changed the row goes on; a run done, failed, or running with a fresh heartbeat
    is left alone (another worker has it). The claimer writes the ZIP to a temporary file,
    committing progress and its heartbeat every :data:`PROGRESS_EVERY` rows in short
    transactions of its own, then stores the file in parts and marks the run done with its size
    and SHA-256 and ``export.completed`` in one transaction. Each of those writes holds only
    while the run still carries this worker's token: a worker whose run was taken over (its
    heartbeat went stale) stops and writes nothing. A failure marks the run failed with
    ``export.failed`` (again only while the token holds).

    Commits: called from the job runner, whose unit of work only records the job's end.
    """
    token = claim_run(run_id)
    if token is None:
        return
    run = db.session.get(ExportRun, run_id)
    assert run is not None
    f = ExportFilters.from_json(run.filters)
    generated_by = _generated_by(run.requested_by, "worker") | {"run": run.reference}
    try:
        estimate = estimate_rows(f)
        _report_progress(run_id, 0, token=token, estimate=estimate)
        with tempfile.TemporaryFile() as out:
            result = write_export(
                f,
                out,
                generated_by=generated_by,
                progress=lambda rows: _report_progress(run_id, rows, token=token),
            )
            out.seek(0)
            _finish(run_id, token, f, result, out)
    except ClaimLost:
        db.session.rollback()
        log.warning("export %s: another worker took the run over; this one stops", run_id)
    except Exception as exc:
        log.exception("export %s failed", run_id)
        db.session.rollback()
        _fail(run_id, token, f"{type(exc).__name__}: {exc}"[:2000])


class ClaimLost(Exception):
    """The run no longer carries this worker's claim token (another worker took it over)."""


def claim_run(run_id: int, *, stale_after: dt.timedelta | None = None) -> str | None:
    """Claim ``run_id`` for this worker and commit: a queued run, or a running one whose
    heartbeat is older than ``stale_after`` (default :data:`STALE_AFTER`: its worker died),
    becomes running with a new token. Returns the token, or ``None`` when another worker holds
    the run or it is finished (then nothing changed). One ``UPDATE ... WHERE``: of two workers
    racing, exactly one sees its row count be 1."""
    now = utcnow()
    stale = now - (stale_after if stale_after is not None else STALE_AFTER)
    token = secrets.token_hex(16)
    claimed = db.session.execute(
        update(ExportRun)
        .where(
            ExportRun.id == run_id,
            or_(
                ExportRun.status == ExportStatus.QUEUED,
                and_(
                    ExportRun.status == ExportStatus.RUNNING,
                    or_(ExportRun.heartbeat_at.is_(None), ExportRun.heartbeat_at < stale),
                ),
            ),
        )
        .values(
            status=ExportStatus.RUNNING,
            claim=token,
            heartbeat_at=now,
            started_at=now,
            rows_done=0,
        )
        .execution_options(synchronize_session=False)
    )
    if _rowcount(claimed) != 1:
        db.session.rollback()
        return None
    # A run taken over starts again from nothing (its worker stored no part: parts are stored
    # and the run marked done in one transaction, which needs the token this claim replaced).
    db.session.execute(delete(ExportChunk).where(ExportChunk.run_id == run_id))
    db.session.commit()
    db.session.expire_all()
    return token


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _report_progress(run_id: int, rows: int, *, token: str, estimate: int | None = None) -> None:
    """Commit the rows written so far and this worker's heartbeat (its own short transaction:
    the page shows it at once). :class:`ClaimLost` when the run is no longer this worker's."""
    values: dict[str, Any] = {"rows_done": rows, "heartbeat_at": utcnow()}
    if estimate is not None:
        values["rows_estimate"] = estimate
    changed = db.session.execute(
        update(ExportRun)
        .where(ExportRun.id == run_id, ExportRun.claim == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(changed) != 1:
        db.session.rollback()
        raise ClaimLost(run_id)
    db.session.commit()


def _store(run_id: int, source: IO[bytes]) -> None:
    """Keep the file in the database, a part at a time (not committed: done commits it)."""
    part = 0
    while block := source.read(CHUNK_SIZE):
        db.session.execute(insert(ExportChunk), [{"run_id": run_id, "part": part, "data": block}])
        part += 1


def _finish(
    run_id: int, token: str, f: ExportFilters, result: ExportResult, source: IO[bytes]
) -> None:
    """Mark the run done, store its file and record ``export.completed``, one transaction, if
    the run is still this worker's (the ``UPDATE`` comes first: on PostgreSQL its row lock
    makes a competing claim wait for this commit, and then find the run done)."""
    done = db.session.execute(
        update(ExportRun)
        .where(
            ExportRun.id == run_id,
            ExportRun.claim == token,
            ExportRun.status == ExportStatus.RUNNING,
        )
        .values(
            status=ExportStatus.DONE,
            finished_at=utcnow(),
            heartbeat_at=utcnow(),
            rows_done=sum(result.rows.values()),
            counts=result.rows,
            file_name=file_name(f, run_id),
            file_bytes=result.bytes,
            file_sha256=result.sha256,
            error=None,
        )
        .execution_options(synchronize_session=False)
    )
    if _rowcount(done) != 1:
        raise ClaimLost(run_id)
    _store(run_id, source)
    db.session.expire_all()
    run = db.session.get(ExportRun, run_id)
    assert run is not None
    audit.record(
        run.requested_by,
        "export.completed",
        run,
        via="worker",
        sha256=result.sha256,
        bytes=result.bytes,
        rows=result.rows,
        chain_head=result.chain_head,
    )
    db.session.commit()


def _fail(run_id: int, token: str, error: str) -> None:
    """Mark the run failed with ``export.failed``, if it is still this worker's."""
    failed = db.session.execute(
        update(ExportRun)
        .where(
            ExportRun.id == run_id,
            ExportRun.claim == token,
            ExportRun.status == ExportStatus.RUNNING,
        )
        .values(status=ExportStatus.FAILED, finished_at=utcnow(), error=error)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(failed) != 1:
        db.session.rollback()
        return
    db.session.execute(delete(ExportChunk).where(ExportChunk.run_id == run_id))
    db.session.expire_all()
    run = db.session.get(ExportRun, run_id)
    assert run is not None
    audit.record(run.requested_by, "export.failed", run, error=error[:300])
    db.session.commit()


# --- reading runs and files ----------------------------------------------------------------------
def list_runs(actor: User, *, page: int = 1) -> Page[ExportRun]:
    """Every export, newest first (compliance: NotFound for anyone else)."""
    policy.require_visible(policy.can_run_supervisory_export(actor), "Supervisory exports")
    query = select(ExportRun).options(selectinload(ExportRun.requested_by))
    return paginate(
        query.order_by(ExportRun.requested_at.desc(), ExportRun.id.desc()),
        page=page,
        page_size=PAGE_SIZE,
    )


def get_run(actor: User, run_id: int) -> ExportRun:
    """One export (NotFound when it does not exist or ``actor`` may not see exports)."""
    policy.require_visible(policy.can_run_supervisory_export(actor), "That export")
    run = db.session.get(ExportRun, run_id)
    if run is None:
        raise NotFound("That export was not found.")
    return run


@transactional
def record_download(actor: User, run_id: int) -> ExportRun:
    """Check ``actor`` may download the export's file (compliance; NotFound when it does not
    exist, is not finished or was deleted) and record ``export.downloaded``."""
    run = get_run(actor, run_id)
    if not run.downloadable:
        raise NotFound("That export's file is not available.")
    audit.record(actor, "export.downloaded", run, sha256=run.file_sha256, bytes=run.file_bytes)
    return run


def file_parts(run_id: int) -> Iterator[bytes]:
    """The stored file, a part at a time (one query per part: any process serves it, and a
    download holds one part in memory). Each part is read on a connection of its own, not the
    request's session, so the stream needs no app context once the view has returned: a server
    that stops reading (the client went away) just closes it, whenever that happens."""
    return _parts(db.engine, run_id)


def _parts(engine: Engine, run_id: int) -> Iterator[bytes]:
    chunks = cast(Table, ExportChunk.__table__)
    part = 0
    while True:
        with engine.connect() as connection:
            data = connection.execute(
                select(chunks.c.data).where(chunks.c.run_id == run_id, chunks.c.part == part)
            ).scalar()
        if data is None:
            return
        yield bytes(data)
        part += 1
