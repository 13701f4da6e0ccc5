"""What review found in the supervisory export: spreadsheet formulas in the summary, records
changed in the range but made before it, attestations and call notes, a run claimed exactly
once, and the command's unwritable ``--out``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from chat.models import Message
from portal import jobs
from portal.accounts.models import CallNote, InteractionKind
from portal.csv_cells import safe_cell
from portal.extensions import db
from portal.models import AuditRecord, User, utcnow
from portal.models.reference import Side
from portal.questions.models import Question, QuestionEntry, QuestionEvent
from portal.records import export
from portal.records.models import ExportChunk, ExportRun, ExportStatus
from portal.safety.models import AttestationSubject, PvCase, SafetyAttestation
from tests.factories import make_product
from tests.portal.records.conftest import History, jsonl, read_zip


def run(f: export.ExportFilters) -> tuple[export.ExportResult, dict[str, bytes]]:
    out = io.BytesIO()
    result = export.write_export(f, out, generated_by={"via": "test"})
    return result, read_zip(out.getvalue())


def today_filters(**overrides: Any) -> export.ExportFilters:
    today = utcnow().date()
    return export.ExportFilters(
        since=today - dt.timedelta(days=1), until=today + dt.timedelta(days=1), **overrides
    )


def summary_rows(files: dict[str, bytes]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files["summary.csv"].decode())))


def actions(action: str) -> list[AuditRecord]:
    return list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


# --- 1. formulas -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("  =HYPERLINK(1)", "'  =HYPERLINK(1)"),
        ("\n@x", "'\n@x"),
        ("Dr. Ada", "Dr. Ada"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (-3, "-3"),
        (12, "12"),
    ],
)
def test_a_cell_a_spreadsheet_would_run_gets_a_quote(value: Any, cell: str):
    assert safe_cell(value) == cell


def test_the_summary_never_holds_a_formula(history: History):
    db.session.execute(update(User).where(User.id == history.hcp.id).values(name="=1+1"))
    db.session.execute(update(User).where(User.id == history.msl.id).values(name="  @SUM(A1:A9)"))
    db.session.commit()

    _result, files = run(today_filters())

    chat = next(
        r
        for r in summary_rows(files)
        if r["record"] == "conversation" and r["id"] == str(history.chat.id)
    )
    assert chat["hcp_name"] == "'=1+1"
    assert chat["staff_name"] == "'  @SUM(A1:A9)"
    question = next(
        r
        for r in summary_rows(files)
        if r["record"] == "question" and r["id"] == str(history.question.id)
    )
    assert question["hcp_name"] == "'=1+1"
    # The JSON keeps what was stored.
    questions = {q["id"]: q for q in jsonl(files["questions.jsonl"])}
    assert questions[history.question.id]["hcp"]["name"] == "=1+1"


# --- 2. changed in the range, made before it -------------------------------------------------
def test_messages_and_questions_made_before_the_range_but_changed_in_it_are_exported(
    history: History,
):
    long_ago = utcnow() - dt.timedelta(days=10)
    chat_messages = {
        m.seq: m.id
        for m in db.session.scalars(
            select(Message).where(Message.conversation_id == history.chat.id)
        )
    }
    # All three sent long ago; the first was deleted and the second edited today (revisions
    # at now), the third untouched.
    db.session.execute(
        update(Message).where(Message.id.in_(chat_messages.values())).values(sent_at=long_ago)
    )
    # The question received long ago, answered today; the other question all long ago.
    db.session.execute(
        update(Question).where(Question.id == history.question.id).values(created_at=long_ago)
    )
    other = history.other_question.id
    db.session.execute(update(Question).where(Question.id == other).values(created_at=long_ago))
    db.session.execute(
        update(QuestionEvent).where(QuestionEvent.question_id == other).values(at=long_ago)
    )
    db.session.execute(
        update(QuestionEntry).where(QuestionEntry.question_id == other).values(created_at=long_ago)
    )
    db.session.commit()

    result, files = run(today_filters())

    ids = {m["id"] for m in jsonl(files["messages.jsonl"])}
    assert history.deleted_id in ids and history.edited_id in ids
    assert chat_messages[3] not in ids
    edited = next(m for m in jsonl(files["messages.jsonl"]) if m["id"] == history.edited_id)
    assert edited["revisions"][0]["previous_body"] == "Happy to help, what dose?"
    times = [m["sent_at"] for m in jsonl(files["messages.jsonl"])]
    assert times == sorted(times)
    questions = {q["id"] for q in jsonl(files["questions.jsonl"])}
    assert history.question.id in questions
    assert other not in questions
    assert result.rows["messages"] == len(ids)
    # Nothing in the range at all: nothing exported.
    earlier = utcnow().date() - dt.timedelta(days=30)
    _result, files = run(export.ExportFilters(since=earlier, until=earlier))
    assert jsonl(files["messages.jsonl"]) == [] and jsonl(files["questions.jsonl"]) == []


# --- 3. attestations and call notes ----------------------------------------------------------
def _call_note_and_attestations(history: History) -> tuple[CallNote, SafetyAttestation]:
    note = CallNote(
        hcp_id=history.hcp.id,
        author_id=history.msl.id,
        side=Side.MEDICAL,
        kind=InteractionKind.VISIT,
        occurred_at=utcnow() - dt.timedelta(hours=1),
        product_ids=[history.product.id],
        topics="Dosing",
        summary="=cmd|' /C calc'!A0 asked about renal dosing.",
    )
    db.session.add(note)
    db.session.flush()
    chat = SafetyAttestation(
        subject=AttestationSubject.CONVERSATION,
        conversation_id=history.chat.id,
        through_seq=3,
        actor_id=history.msl.id,
        adverse_event=False,
        product_complaint=False,
    )
    on_note = SafetyAttestation(
        subject=AttestationSubject.CALL_NOTE,
        call_note_id=note.id,
        actor_id=history.msl.id,
        adverse_event=True,
        product_complaint=False,
        case_id=history.case.id,
    )
    db.session.add_all([chat, on_note])
    db.session.execute(
        update(PvCase).where(PvCase.id == history.case.id).values(call_note_id=note.id)
    )
    db.session.commit()
    return note, chat


def test_chat_and_call_note_attestations_and_call_notes_are_exported(history: History):
    note, chat = _call_note_and_attestations(history)

    result, files = run(today_filters())

    attestations = {a["id"]: a for a in jsonl(files["attestations.jsonl"])}
    subjects = sorted(a["subject"] for a in attestations.values())
    assert subjects == ["call_note", "conversation", "question"]
    said = attestations[chat.id]
    assert (said["conversation_id"], said["through_seq"]) == (history.chat.id, 3)
    assert said["actor"]["name"] == "Sam MSL"
    on_note = next(a for a in attestations.values() if a["subject"] == "call_note")
    assert (on_note["call_note_id"], on_note["case_id"]) == (note.id, history.case.id)
    notes = jsonl(files["call_notes.jsonl"])
    assert [n["id"] for n in notes] == [note.id]
    assert notes[0]["hcp"]["name"] == "Dr. Ada Export"
    assert notes[0]["author"]["name"] == "Sam MSL"
    assert (notes[0]["side"], notes[0]["kind"]) == ("medical", "visit")
    assert notes[0]["product_ids"] == [history.product.id]
    assert notes[0]["summary"].startswith("=cmd")
    assert notes[0]["links"]["pv_cases"] == [
        {"id": history.case.id, "reference": f"PV-{history.case.id:06d}"}
    ]
    assert result.rows["attestations"] == 3 and result.rows["call_notes"] == 1
    manifest = json.loads(files["manifest.json"])
    names = {f["name"] for f in manifest["files"]}
    assert {"attestations.jsonl", "call_notes.jsonl"} <= names
    rows = summary_rows(files)
    chat_row = next(
        r for r in rows if r["record"] == "conversation" and r["id"] == str(history.chat.id)
    )
    assert chat_row["attestations"] == "1"
    note_row = next(r for r in rows if r["record"] == "call_note")
    assert (note_row["attestations"], note_row["pv_cases"]) == ("1", "1")
    assert note_row["reference"] == f"CN-{note.id:06d}"


def test_attestations_and_call_notes_follow_the_filters(history: History):
    _call_note_and_attestations(history)

    for f, expected_subjects, expected_notes in [
        (today_filters(hcp_id=history.hcp.id), {"question", "conversation", "call_note"}, 1),
        (today_filters(hcp_id=history.other_hcp.id), set(), 0),
        (today_filters(staff_id=history.msl.id), None, 1),
        (today_filters(staff_id=history.rep.id), set(), 0),
        (
            today_filters(product_id=history.product.id),
            {"question", "conversation", "call_note"},
            1,
        ),
        (today_filters(product_id=make_product().id), set(), 0),
    ]:
        _result, files = run(f)
        subjects = {a["subject"] for a in jsonl(files["attestations.jsonl"])}
        if expected_subjects is None:  # the staff member's chat and call note, at least
            assert {"conversation", "call_note"} <= subjects, f
        else:
            assert subjects == expected_subjects, f
        assert len(jsonl(files["call_notes.jsonl"])) == expected_notes, f


# --- 4. a run claimed exactly once -----------------------------------------------------------
def _queued(history: History) -> int:
    today = utcnow().date()
    run = export.request_export(
        history.compliance, export.ExportFilters(since=today - dt.timedelta(days=1), until=today)
    )
    return run.id


def _run(run_id: int) -> ExportRun:
    db.session.expire_all()
    run = db.session.get(ExportRun, run_id)
    assert run is not None
    return run


def test_of_two_claims_one_wins(app: Flask, history: History):
    run_id = _queued(history)

    first = export.claim_run(run_id)
    second = export.claim_run(run_id)

    assert first is not None and second is None
    assert _run(run_id).claim == first and _run(run_id).status is ExportStatus.RUNNING


def test_a_run_another_worker_holds_is_left_alone(app: Flask, history: History):
    run_id = _queued(history)
    db.session.execute(
        update(ExportRun)
        .where(ExportRun.id == run_id)
        .values(status=ExportStatus.RUNNING, claim="other-worker", heartbeat_at=utcnow())
    )
    db.session.add(ExportChunk(run_id=run_id, part=0, data=b"theirs"))
    db.session.commit()

    export.run_export(run_id)

    run = _run(run_id)
    assert (run.status, run.claim) == (ExportStatus.RUNNING, "other-worker")
    assert db.session.scalars(
        select(ExportChunk.data).where(ExportChunk.run_id == run_id)
    ).all() == [b"theirs"]
    assert actions("export.completed") == [] and actions("export.failed") == []


def test_a_stale_run_is_taken_over_and_finished_once(app: Flask, history: History):
    run_id = _queued(history)
    db.session.execute(
        update(ExportRun)
        .where(ExportRun.id == run_id)
        .values(
            status=ExportStatus.RUNNING,
            claim="dead-worker",
            heartbeat_at=utcnow() - export.STALE_AFTER - dt.timedelta(minutes=1),
        )
    )
    db.session.commit()

    jobs.Worker(app).run_once()
    export.run_export(run_id)  # again: the run is done, nothing happens

    run = _run(run_id)
    assert run.status is ExportStatus.DONE and run.claim not in (None, "dead-worker")
    assert len(actions("export.completed")) == 1
    data = b"".join(export.file_parts(run_id))
    assert len(data) == run.file_bytes


def test_a_worker_whose_run_was_taken_over_stops_and_writes_nothing(
    app: Flask, history: History, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(export, "BATCH_SIZE", 1)
    monkeypatch.setattr(export, "PROGRESS_EVERY", 2)
    run_id = _queued(history)
    original = export._report_progress

    def taken_over(run_id: int, rows: int, **kwargs: Any) -> None:
        if rows:  # after the first batches, another worker claims the run
            db.session.execute(
                update(ExportRun)
                .where(ExportRun.id == run_id)
                .values(claim="thief", heartbeat_at=utcnow())
            )
            db.session.commit()
        original(run_id, rows, **kwargs)

    monkeypatch.setattr(export, "_report_progress", taken_over)

    export.run_export(run_id)

    run = _run(run_id)
    assert (run.status, run.claim) == (ExportStatus.RUNNING, "thief")
    assert db.session.scalar(select(func.count()).select_from(ExportChunk)) == 0
    assert actions("export.completed") == [] and actions("export.failed") == []


# --- 5. an --out that cannot be written ------------------------------------------------------
def test_an_out_in_a_missing_folder_exits_2_and_writes_nothing(
    app: Flask, history: History, tmp_path: Path
):
    folder = tmp_path / "exports"
    folder.mkdir()
    today = utcnow().date().isoformat()
    for out in ("/no/such/dir/x.zip", str(folder / "missing" / "x.zip"), str(folder)):
        result = app.test_cli_runner().invoke(
            args=["export", "supervisory", "--since", today, "--until", today, "--out", out]
        )
        assert result.exit_code == 2, result.output
        printed = json.loads(result.output.strip().splitlines()[-1])
        assert "error" in printed and "out" in printed["errors"]
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert list(folder.iterdir()) == []
    assert actions("export.completed") == []
