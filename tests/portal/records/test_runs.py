"""Exports run by the worker: queued by a compliance officer, run exactly once, progress
committed as it goes, the file kept in the database (any process serves it), audited, and old
files deleted after EXPORT_KEEP_DAYS."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from typing import Any

import pytest
import time_machine
from flask import Flask
from sqlalchemy import create_engine, func, select

from portal import create_app, jobs
from portal.errors import PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Job, JobState, Role, utcnow
from portal.records import export
from portal.records.models import ExportChunk, ExportRun, ExportStatus
from portal.retention import purge
from tests.factories import make_user
from tests.portal.records.conftest import History, jsonl, read_zip


def filters() -> export.ExportFilters:
    today = utcnow().date()
    return export.ExportFilters(since=today - dt.timedelta(days=1), until=today)


def actions(action: str) -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
        )
    )


def stored_file(run_id: int) -> bytes:
    return b"".join(export.file_parts(run_id))


def test_a_compliance_officer_queues_an_export_and_the_worker_runs_it(app: Flask, history: History):
    run = export.request_export(history.compliance, filters())
    assert run.status is ExportStatus.QUEUED
    assert [r.details["filters"]["since"] for r in actions("export.requested")] == [
        filters().since.isoformat()
    ]

    jobs.Worker(app).run_once()

    db.session.expire_all()
    run = db.session.get(ExportRun, run.id)
    assert run is not None and run.status is ExportStatus.DONE
    data = stored_file(run.id)
    assert hashlib.sha256(data).hexdigest() == run.file_sha256
    assert len(data) == run.file_bytes
    assert run.counts["messages"] == 4
    assert run.rows_done == sum(run.counts.values())
    assert run.started_at is not None and run.finished_at is not None
    files = read_zip(data)
    assert len(jsonl(files["messages.jsonl"])) == 4
    completed = actions("export.completed")
    assert len(completed) == 1
    assert completed[0].details["sha256"] == run.file_sha256
    assert completed[0].details["rows"]["messages"] == 4
    assert completed[0].actor_id == history.compliance.id
    assert completed[0].target_id == str(run.id)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MSL, Role.PHARMACOVIGILANCE, Role.HCP])
def test_only_compliance_may_run_an_export(app: Flask, role: Role):
    someone = make_user(role)

    with pytest.raises(PermissionDenied):
        export.request_export(someone, filters())

    assert db.session.scalar(select(func.count()).select_from(ExportRun)) == 0
    assert actions("export.requested") == []


def test_the_export_job_runs_exactly_once_however_many_workers_look(app: Flask, history: History):
    run = export.request_export(history.compliance, filters())

    for n in range(3):
        jobs.Worker(app, role=f"w{n}").run_once()
    # Even a second job for the same run (queued twice by mistake) leaves a finished run alone.
    jobs.enqueue(export.JOB_KIND, {"run_id": run.id})
    db.session.commit()
    jobs.Worker(app, role="late").run_once()

    assert len(actions("export.completed")) == 1
    parts = db.session.scalars(select(ExportChunk.part).where(ExportChunk.run_id == run.id)).all()
    assert sorted(parts) == list(range(len(parts)))
    states = db.session.scalars(select(Job.state).where(Job.kind == export.JOB_KIND)).all()
    assert set(states) == {JobState.DONE}


def test_progress_is_committed_while_the_export_runs(
    app: Flask, history: History, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(export, "BATCH_SIZE", 1)
    monkeypatch.setattr(export, "PROGRESS_EVERY", 2)
    export.request_export(history.compliance, filters())
    seen: list[tuple[str, int, int | None]] = []
    original = export._report_progress
    # Another connection sees what the progress updates committed, as the page would.
    other = create_engine(str(db.engine.url.render_as_string(hide_password=False)))
    schema = app.config.get("_TEST_PG_SCHEMA")

    def spy(run_id: int, rows: int, **kwargs: Any) -> None:
        original(run_id, rows, **kwargs)
        with other.connect() as connection:
            if schema:
                connection.exec_driver_sql(f'SET search_path TO "{schema}"')
            row = connection.execute(
                select(ExportRun.status, ExportRun.rows_done, ExportRun.rows_estimate).where(
                    ExportRun.id == run_id
                )
            ).one()
        seen.append((str(row.status), row.rows_done, row.rows_estimate))

    monkeypatch.setattr(export, "_report_progress", spy)
    jobs.Worker(app).run_once()
    other.dispose()

    done = [rows for _status, rows, _estimate in seen]
    assert len(seen) >= 3
    # The first commit is the estimate (no rows yet), then every two rows.
    assert done == sorted(done) and done[0] == 0 and done[1] >= 2
    assert {status for status, _rows, _estimate in seen} == {"running"}
    estimate = seen[0][2]
    assert estimate is not None and estimate >= done[-1]


def test_a_failed_export_is_marked_failed_and_audited(
    app: Flask, history: History, monkeypatch: pytest.MonkeyPatch
):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "write_export", broken)
    run = export.request_export(history.compliance, filters())

    jobs.Worker(app).run_once()

    db.session.expire_all()
    failed = db.session.get(ExportRun, run.id)
    assert failed is not None and failed.status is ExportStatus.FAILED
    assert "disk full" in (failed.error or "")
    assert len(actions("export.failed")) == 1
    assert db.session.scalar(select(func.count()).select_from(ExportChunk)) == 0


def test_another_process_serves_the_download_from_the_database(
    app: Flask, app_config: dict[str, Any], history: History, tmp_path: Any
):
    run = export.request_export(history.compliance, filters())
    jobs.Worker(app).run_once()
    db.session.expire_all()
    expected = db.session.get(ExportRun, run.id)
    assert expected is not None

    # A second server (its own instance folder: nothing on the first one's disk) serves it.
    other = create_app({**app_config, "INSTANCE_PATH": str(tmp_path / "other-server")})
    result: dict[str, Any] = {}

    def serve() -> None:
        from tests.portal import helpers

        with other.app_context():
            client = helpers.browser(other, history.compliance)
            response = client.get(f"/records/exports/{run.id}/download")
            result["status"] = response.status_code
            result["data"] = response.get_data()
            result["type"] = response.headers["Content-Type"]

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join(timeout=60)

    assert result["status"] == 200
    assert result["type"] == "application/zip"
    assert hashlib.sha256(result["data"]).hexdigest() == expected.file_sha256
    assert len(actions("export.downloaded")) == 1


def test_old_files_are_deleted_after_the_keep_days_and_the_run_stays(app: Flask, history: History):
    run = export.request_export(history.compliance, filters())
    jobs.Worker(app).run_once()
    keep = app.config["EXPORT_KEEP_DAYS"]

    # Retention's purge owns the deletion (the export_files kind, EXPORT_KEEP_DAYS by default).
    with time_machine.travel(utcnow() + dt.timedelta(days=keep - 1)):
        assert purge.purge().counts["export_files"] == 0
    with time_machine.travel(utcnow() + dt.timedelta(days=keep, hours=1)):
        assert purge.purge().counts["export_files"] == 1

    db.session.expire_all()
    kept = db.session.get(ExportRun, run.id)
    assert kept is not None and kept.file_deleted_at is not None and not kept.downloadable
    assert kept.file_sha256  # the record of what was exported stays
    assert db.session.scalar(select(func.count()).select_from(ExportChunk)) == 0
    assert actions("retention.purged")[-1].details["removed"]["export_files"] == 1


def test_the_export_job_is_one_off(app: Flask):
    assert app.extensions["jobs"][export.JOB_KIND].every is None


def _unit() -> Any:
    from portal.unit_of_work import unit_of_work

    return unit_of_work()
