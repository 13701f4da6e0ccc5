"""Background work runs once however many workers run: jobs and mail are claimed with leases,
retried with backoff, periodic jobs run once per period, and `flask worker` drives it all."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import func, select

from portal import jobs
from portal.extensions import db
from portal.models import Job, JobState, OutboxMail, utcnow
from portal.services import mail
from tests.conftest import ROOT, _free_port

pytestmark = pytest.mark.app_config(MAIL_USE_TLS=False)

# Tests naming this backend run on PostgreSQL only (they skip without TEST_DATABASE_URL).
ON_POSTGRESQL = pytest.mark.parametrize("backend", ["postgresql"])


class Inbox:
    """An SMTP server's handler that counts what it is sent, by recipient."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for address in envelope.rcpt_tos:
            self.received[address] += 1
        return "250 Message accepted for delivery"


@pytest.fixture
def inbox(app: Flask) -> Iterator[Inbox]:
    """A real SMTP server on loopback that the app sends to."""
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    try:
        yield handler
    finally:
        controller.stop()


class Recorder:
    """A job handler that remembers the payloads it ran (from any thread)."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, payload: dict[str, Any]) -> None:
        self.payloads.append(payload)
        if self.fail is not None:
            raise self.fail


def queue_mail(count: int) -> None:
    for n in range(count):
        mail.enqueue(f"dr.{n}@clinic.org", "Your answer is ready", "Sign in to read it.")
    db.session.commit()


def job_row(job_id: int) -> Job:
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert job is not None
    return job


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads started together; each has its own app context,
    so its own session and database connection. Returns the results in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not [t for t in threads if t.is_alive()], "a worker thread did not finish"
    assert not errors, errors
    return results


# --- many workers, each thing once ---------------------------------------------------------------
@ON_POSTGRESQL
def test_four_workers_send_each_of_200_mails_exactly_once(app, inbox):
    queue_mail(200)

    in_threads(4, lambda i: jobs.Worker(app, role=f"w{i}").run_once())

    assert sum(inbox.received.values()) == 200
    assert set(inbox.received.values()) == {1}
    rows = db.session.scalars(select(OutboxMail)).all()
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
    assert len({r.claimed_by for r in rows}) > 1  # the workers really did share the outbox


@ON_POSTGRESQL
def test_four_workers_run_each_of_200_jobs_exactly_once(app):
    recorder = Recorder()
    jobs.register(app, "test.count", recorder)
    for n in range(200):
        jobs.enqueue("test.count", {"n": n})
    db.session.commit()

    in_threads(4, lambda i: jobs.Worker(app, role=f"w{i}").run_once())

    assert sorted(p["n"] for p in recorder.payloads) == list(range(200))
    states = db.session.scalars(select(Job.state).where(Job.kind == "test.count")).all()
    assert set(states) == {JobState.DONE}


@ON_POSTGRESQL
def test_a_periodic_job_scheduled_by_three_workers_runs_once_per_period(app):
    recorder = Recorder()
    jobs.register(app, "test.tick", recorder, every=dt.timedelta(hours=1))

    in_threads(3, lambda i: jobs.Worker(app, role=f"w{i}").run_once())

    assert len(recorder.payloads) == 1
    [row] = db.session.scalars(select(Job).where(Job.kind == "test.tick")).all()
    assert row.unique_key == "periodic:test.tick"
    assert row.state is JobState.PENDING  # waiting for its next period
    # The overdue sweep is such a job too: one row, run once.
    [sweep] = db.session.scalars(select(Job).where(Job.kind == "questions.sweep_overdue")).all()
    assert sweep.finished_at is not None

    with time_machine.travel(utcnow() + dt.timedelta(hours=1, seconds=1)):
        in_threads(3, lambda i: jobs.Worker(app, role=f"w{i}").run_once())
    assert len(recorder.payloads) == 2


# --- leases and retries --------------------------------------------------------------------------
def test_a_job_whose_worker_died_is_taken_again_when_its_lease_runs_out(app):
    recorder = Recorder()
    jobs.register(app, "test.export", recorder, lease=dt.timedelta(minutes=2))
    job_id = jobs.enqueue("test.export", {"export": 7})
    db.session.commit()
    start = utcnow()

    with time_machine.travel(start, tick=False):
        claim = jobs.claim_next("dead-worker")  # ... and never runs it
        assert claim is not None and claim.id == job_id
        assert jobs.run_due("live-worker") == (0, 0)
    with time_machine.travel(start + dt.timedelta(minutes=2, seconds=1), tick=False):
        assert jobs.run_due("live-worker") == (1, 0)

    assert recorder.payloads == [{"export": 7}]
    done = job_row(job_id)
    assert (done.state, done.attempts, done.claimed_by) == (JobState.DONE, 2, "live-worker")


def test_mail_claimed_by_a_worker_that_died_is_sent_when_the_claim_runs_out(app):
    queue_mail(1)
    [queued] = db.session.scalars(select(OutboxMail)).all()
    start = utcnow()
    queued.claimed_by, queued.claimed_until = "dead-worker", start + mail.CLAIM_LEASE
    db.session.commit()

    with time_machine.travel(start, tick=False):
        assert mail.send_pending(worker="live-worker") == (0, 0)
    with time_machine.travel(start + mail.CLAIM_LEASE + dt.timedelta(seconds=1), tick=False):
        assert mail.send_pending(worker="live-worker") == (1, 0)
    db.session.expire_all()
    assert queued.sent_at is not None and queued.claimed_by == "live-worker"


def test_a_failing_job_is_retried_with_backoff_then_kept_failed_with_its_error(app):
    recorder = Recorder(fail=RuntimeError("the webhook answered 503"))
    jobs.register(app, "test.webhook", recorder, max_attempts=3)
    job_id = jobs.enqueue("test.webhook", {"event": 1})
    db.session.commit()
    start = utcnow()

    with time_machine.travel(start, tick=False):
        assert jobs.run_due("w") == (0, 1)
    retry = job_row(job_id)
    assert (retry.state, retry.attempts) == (JobState.PENDING, 1)
    assert retry.run_at == start + dt.timedelta(seconds=30)
    assert retry.last_error == "RuntimeError: the webhook answered 503"

    with time_machine.travel(start + dt.timedelta(seconds=29), tick=False):
        assert jobs.run_due("w") == (0, 0)  # not due yet
    second = start + dt.timedelta(seconds=30)
    with time_machine.travel(second, tick=False):
        assert jobs.run_due("w") == (0, 1)
    assert job_row(job_id).run_at == second + dt.timedelta(minutes=1)  # the wait doubles
    with time_machine.travel(second + dt.timedelta(minutes=1), tick=False):
        assert jobs.run_due("w") == (0, 1)
    with time_machine.travel(start + dt.timedelta(days=1), tick=False):
        assert jobs.run_due("w") == (0, 0)

    failed = job_row(job_id)
    assert (failed.state, failed.attempts) == (JobState.FAILED, 3)
    assert failed.finished_at is not None
    assert failed.last_error == "RuntimeError: the webhook answered 503"
    assert len(recorder.payloads) == 3


def test_a_failed_job_leaves_none_of_its_work_behind(app):
    def half_done(payload: dict[str, Any]) -> None:
        mail.enqueue("dr.cole@clinic.org", "Your export is ready", "Sign in to fetch it.")
        raise RuntimeError("the export broke halfway")

    jobs.register(app, "test.export", half_done)
    jobs.enqueue("test.export")
    db.session.commit()

    assert jobs.run_due("w") == (0, 1)
    assert db.session.scalar(select(func.count()).select_from(OutboxMail)) == 0


def test_backoff_doubles_up_to_an_hour():
    assert [jobs.backoff(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [
        30, 60, 120, 3600, 3600,
    ]  # fmt: skip


# --- enqueueing ----------------------------------------------------------------------------------
def test_a_job_exists_only_if_the_transaction_that_queued_it_commits(app):
    jobs.register(app, "test.export", Recorder())

    jobs.enqueue("test.export", {"export": 1})
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0

    job_id = jobs.enqueue("test.export", {"export": 2})
    db.session.commit()
    assert job_row(job_id).payload == {"export": 2}


def test_a_unique_key_is_queued_once(app):
    jobs.register(app, "test.webhook", Recorder())
    first = jobs.enqueue("test.webhook", unique_key="webhook:event-9")
    db.session.commit()

    assert first is not None
    assert jobs.enqueue("test.webhook", unique_key="webhook:event-9") is None
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Job)) == 1


def test_an_unknown_kind_is_refused(app):
    with pytest.raises(ValueError, match="unknown job kind"):
        jobs.enqueue("test.nobody-runs-this")


# --- the worker ----------------------------------------------------------------------------------
def test_flask_worker_once_runs_due_jobs_and_sends_the_outbox(app, inbox):
    recorder = Recorder()
    jobs.register(app, "test.export", recorder)
    jobs.enqueue("test.export", {"export": 3})
    queue_mail(2)

    result = app.test_cli_runner().invoke(args=["worker", "--once"])

    assert result.exit_code == 0, result.output
    # The export, the overdue sweep, the pruning of old jobs, the dashboards' refresh and the
    # retention purge.
    assert "Jobs: 5 done, 0 failed. Mail: 2 sent, 0 failed." in result.output
    assert recorder.payloads == [{"export": 3}]
    assert sum(inbox.received.values()) == 2


def test_a_stop_request_lets_the_job_in_hand_finish_and_takes_no_other(app):
    worker = jobs.Worker(app)

    def asks_to_stop(payload: dict[str, Any]) -> None:
        worker.stop.set()  # as SIGTERM does, in the middle of a job

    jobs.register(app, "test.stop", asks_to_stop)
    first, second = jobs.enqueue("test.stop"), jobs.enqueue("test.stop")
    db.session.commit()

    worker.run_forever()  # returns: stop is set

    assert first is not None and second is not None
    assert job_row(first).state is JobState.DONE
    assert job_row(second).state is JobState.PENDING


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.app_config(OUTBOX_INTERVAL_SECONDS=1)
def test_on_the_embedded_default_the_web_process_sends_mail_itself(app, inbox):
    assert jobs.runs_in_process(app)
    worker = jobs.Worker(app, role="web")  # what portal.server.serve starts
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    try:
        time.sleep(0.2)  # the worker is idle now: the mail arrives while it polls
        queue_mail(1)
        deadline = time.monotonic() + 5
        while not inbox.received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop.set()
        thread.join(timeout=10)
    assert inbox.received == Counter({"dr.0@clinic.org": 1})


@pytest.mark.parametrize(
    ("settings", "in_process"),
    [
        ({}, True),
        ({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db.internal/portal"}, False),
        ({"REDIS_URL": "redis://cache.internal:6379/0"}, False),
        (
            {
                "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db.internal/portal",
                "WORKER_IN_PROCESS": True,
            },
            True,
        ),
        ({"WORKER_IN_PROCESS": False}, False),
    ],
)
def test_web_processes_run_jobs_only_on_the_embedded_default_unless_told(settings, in_process):
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI="sqlite:///instance/portal.db",
        REDIS_URL=None,
        WORKER_IN_PROCESS=None,
    )
    app.config.update(settings)
    assert jobs.runs_in_process(app) is in_process


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("true", True), ("0", False)])
def test_worker_in_process_is_read_from_the_environment(monkeypatch, tmp_path, value, expected):
    from portal.config import load_config

    if value is None:
        monkeypatch.delenv("WORKER_IN_PROCESS", raising=False)
    else:
        monkeypatch.setenv("WORKER_IN_PROCESS", value)
    assert load_config(tmp_path)["WORKER_IN_PROCESS"] is expected


def test_flask_worker_stops_cleanly_on_sigterm(sqlite_template: Path, tmp_path: Path):
    database = tmp_path / "portal.db"
    shutil.copyfile(sqlite_template, database)
    env = {
        **os.environ,
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": "worker-test-secret",
        "PUBLIC_URL": "http://portal.test",
        "OUTBOX_INTERVAL_SECONDS": "60",
    }
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = ""
        deadline = time.monotonic() + 30
        while "started" not in started and time.monotonic() < deadline:
            started = process.stdout.readline()
            assert started or process.poll() is None, "the worker exited early"
        process.send_signal(signal.SIGTERM)
        # Idle, waiting a minute for its next round: it must not wait that minute out.
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "stopped" in process.stdout.read()
